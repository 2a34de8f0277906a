"""How records and verdicts are printed: one summary line per record, the verdict table."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from smfa.erasure.verify import LEAK, MISMATCH, OK, Check
from smfa.terminal import Grid, show


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def record_line(record: dict[str, Any]) -> str:
    """forgotten people, plain leaks, worst attack, retain memory and the verdict."""
    people = ", ".join(record["forgotten"])
    if record["figures"] is None:
        return f"forgotten so far: {people}; not measured (erasure.measure=false)"
    figures = record["figures"]
    worst = record["worst_attack"]
    attack = f"{_pct(worst['leak'])} ({worst['attack']})" if worst else "no attacks run"
    verdict = record["verdict"]
    if record["leaks"]:
        verdict += ": " + "; ".join(
            f"{leak['what']} {_pct(leak['value'])} > {_pct(leak['threshold'])}"
            for leak in record["leaks"][:3]
        )
        if len(record["leaks"]) > 3:
            verdict += f"; {len(record['leaks']) - 3} more"
    return (
        f"forgotten so far: {people}; leak image {_pct(figures.get('forget_leak_image'))}, "
        f"text {_pct(figures.get('forget_leak_text'))}, worst attack {attack}; "
        f"retain memory {_pct(figures.get('retain_memory'))}, understanding (retain) "
        f"{_pct(figures.get('understanding_retain'))}; verdict: {verdict}"
    )


def print_checks(checks: list[Check], console: Console) -> None:
    table = Grid("erasure record verification", ["check", "recorded", "found", "verdict"])
    styles = {OK: "green", MISMATCH: "bold red", LEAK: "bold red"}
    for check in checks:
        style = styles.get(check.status, "yellow")
        table.add_row(check.what, check.recorded, check.found, f"[{style}]{check.status}[/{style}]")
    show(table, console)
