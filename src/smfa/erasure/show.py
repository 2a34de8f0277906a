"""How records and verdicts are printed: one summary line per record, the verdict table and
its one-line summary."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from smfa.erasure.verify import FAILED, LEAK, MISMATCH, OK, UNCHECKED, UNSIGNED, UNTRUSTED, Check
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
    for check in checks:
        style = "green" if check.status == OK else "bold red" if check.failed else "yellow"
        cells = (escape(check.what), escape(check.recorded), escape(check.found))
        table.add_row(*cells, f"[{style}]{check.status}[/{style}]")
    show(table, console)


def verdict_line(checks: list[Check], policy_sha256: str) -> str:
    """`verification failed: ...` naming the first failed checks and why, or `verified: ...`
    saying how many checks passed and how many were not checked."""
    order = (LEAK, UNSIGNED, UNTRUSTED, MISMATCH)  # what a reader most needs to see first
    failed = sorted((c for c in checks if c.status in FAILED), key=lambda c: order.index(c.status))
    under = f"policy sha256 {policy_sha256[:16]}"
    if failed:
        named = "; ".join(
            f"{c.what}: {c.status}" + (f" ({c.why})" if c.why else "") for c in failed[:4]
        )
        more = f"; {len(failed) - 4} more" if len(failed) > 4 else ""
        return (
            f"verification failed: {len(failed)} of {len(checks)} checks ({named}{more}); "
            f"under {under}"
        )
    passed = sum(c.status == OK for c in checks)
    unchecked = sum(c.status == UNCHECKED for c in checks)
    other = len(checks) - passed - unchecked
    if passed == len(checks):
        return f"verified: all {len(checks)} checks passed under {under}"
    notes = f", {unchecked} not checked" if unchecked else ""
    notes += f", {other} shown for information (differs, not claimed)" if other else ""
    return f"verified: {passed} of {len(checks)} checks passed{notes}; under {under}"
