"""The comparison report as one self-contained HTML page (report.html).

It lays out the same sections as report.md (`smfa.report.sections.sections`): tables, the
before/after examples, and the plots embedded as base64 `data:image/png` URIs. The CSS is
inline and nothing is fetched from anywhere, so the file can be mailed or opened offline.
Every piece of text from the results goes through `html.escape`.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from smfa.report.sections import Section, sections, title

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #ddd; padding-bottom: .3rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .88rem; }
th, td { border: 1px solid #d0d0d0; padding: .3rem .55rem; vertical-align: top; }
th { background: #f3f3f3; text-align: left; }
tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; white-space: nowrap; }
td.ok { color: #1a7f37; font-weight: bold; text-align: center; }
td.fail { color: #c62828; font-weight: bold; text-align: center; }
figure { margin: 1rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #555; }
.wide { overflow-x: auto; }
"""


def png_uri(png: bytes) -> str:
    """A `data:` URI holding the PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _cell(text: str, tag: str = "td", numeric: bool = False) -> str:
    marks = {"✓": ' class="ok"', "✗": ' class="fail"'}  # a verdict, alone or after its value
    extra = marks.get(text[-1:], ' class="num"' if numeric else "") if tag == "td" else ""
    return f"<{tag}{extra}>{html.escape(text)}</{tag}>"


def _table(section: Section) -> str:
    right = section.numeric_from or len(section.header)
    head = "".join(_cell(h, "th") for h in section.header)
    body = "\n".join(
        "<tr>" + "".join(_cell(c, numeric=i >= right) for i, c in enumerate(row)) + "</tr>"
        for row in section.rows
    )
    return (
        f'<div class="wide"><table>\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def _figure(png: bytes, caption: str) -> str:
    alt = html.escape(caption, quote=True)
    return (
        f'<figure><img src="{png_uri(png)}" alt="{alt}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def render_section(section: Section, pngs: dict[str, bytes]) -> str:
    parts = [f"<h2>{html.escape(section.title)}</h2>"]
    parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
    if section.header:
        parts.append(_table(section))
    parts += [f"<p>{html.escape(p)}</p>" for p in section.footnotes]
    parts += [_figure(pngs[name], caption) for name, caption in section.plots if name in pngs]
    return "\n".join(parts)


def render_html(data: dict[str, Any], pngs: dict[str, bytes]) -> str:
    """report.html: every section of the report, with `pngs` (plot name -> PNG) inline."""
    heading = html.escape(title(data))
    body = "\n\n".join(render_section(s, pngs) for s in sections(data, pngs))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{heading}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{heading}</h1>\n{body}\n</body>\n</html>\n"
    )
