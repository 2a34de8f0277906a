"""report.md: the report's sections (`smfa.report.sections`) laid out as Markdown."""

from __future__ import annotations

from typing import Any

from smfa.report.sections import sections, title


def md_cell(text: str) -> str:
    """One table cell: `|` escaped, no line breaks, no raw HTML."""
    text = " ".join(str(text).split())
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(data: dict[str, Any], plots: dict[str, str]) -> str:
    """report.md; `plots` maps plot name -> the PNG's file name relative to the report."""
    lines = [f"# {title(data)}", ""]
    for section in sections(data, plots):
        lines += [f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        if section.header:
            right = section.numeric_from or len(section.header)
            aligns = ["---:" if i >= right else "---" for i in range(len(section.header))]
            lines.append("| " + " | ".join(md_cell(h) for h in section.header) + " |")
            lines.append("|" + "|".join(aligns) + "|")
            lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in section.rows]
            lines.append("")
        for footnote in section.footnotes:
            lines += [footnote, ""]
        for name, caption in section.plots:
            lines += [f"![{name}]({plots[name]})", "", f"*{caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"
