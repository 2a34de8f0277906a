"""Writing a report: the plots as PNGs, report.md and report.html, atomically into one folder.

It sits above both renderers (`smfa.report.markdown`, `smfa.report.html`), which only lay out
the same sections, so imports flow one way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smfa.io import atomic_write_bytes, atomic_write_text
from smfa.report.html import render_html
from smfa.report.markdown import render_markdown
from smfa.report.plots import render_plots
from smfa.report.summary import check_measured, report_slice


def write_report(data: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write the PNGs, report.md and report.html into `out_dir`; name -> path of each file.
    Results with no forget or retain memory figure are refused (`check_measured`)."""
    out_dir = Path(out_dir)
    check_measured(data, str(out_dir / "results.json"))
    pngs = render_plots(data, report_slice(data))
    written: dict[str, Path] = {}
    for name, png in pngs.items():
        written[name] = out_dir / f"report-{name}.png"
        atomic_write_bytes(written[name], png)
    written["markdown"] = out_dir / "report.md"
    atomic_write_text(
        written["markdown"], render_markdown(data, {n: f"report-{n}.png" for n in pngs})
    )
    written["html"] = out_dir / "report.html"
    atomic_write_text(written["html"], render_html(data, pngs))
    return written
