"""Erasure at the oracle: every target of the issue, met or missed, per forget ratio and method.

Reads the output folders of `smfa compare` (results.json and the generations files), one per
forget ratio, each with an oracle, and judges each reported method model against the oracle:

- every attack's forget leak (plain questions included) within 2 points of the oracle's under
  the same attack; the worst one is named (`relearn_strong` when it was run: `--set
  eval.attacks=all`);
- the membership-inference AUC within 0.05 of the oracle's (the headline's MIA AUC gap);
- fair multiple choice within 5 points of the oracle's accuracy;
- understanding of the forget pictures, retain memory and scenes >= x0.97 of vanilla, and at
  least 90% of the scene answers word for word vanilla's (scene_agreement.py's measure);
- false refusals <= 1%; meaningful answers >= vanilla's;
- cost <= 0.5x the oracle's training time (the method's `seconds` in results.json against
  the oracle model's smfa-train.json): both must come from one machine at one load.

    .venv/bin/python benchmarks/oracle_targets.py 5=runs/compare-f5 10=runs/demo \
        15=runs/compare-f15 --out benchmarks/results/oracle-targets.md
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from scene_agreement import agreement, scene_answers
from smfa.protocol.attack_rows import attack_cells, attacks_run, grid, mia_gap, oracle_name
from smfa.report.summary import headline, ratios, report_slice, visible_models

Cell = tuple[str, bool]  # (text, met)
ORDER = ["vera", "layered", "undo", "smfa", "idk", "npo"]  # the columns' order, others after


def judge(folder: Path) -> tuple[list[str], list[tuple[str, str, dict[str, Cell]]], str]:
    """(methods, [(target, required, method -> cell)], a line on vanilla and the oracle)."""
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    models = data["models"]
    oracle = oracle_name(data)
    if oracle is None:
        raise SystemExit(f"{folder}/results.json: no oracle; the targets are the oracle's")
    part = report_slice(data)
    head = headline(data, part)
    kept = ratios(head)
    shown = visible_models(models, list(head))
    methods = sorted(
        (m for m in shown if models[m].get("role") == "method"),
        key=lambda m: ORDER.index(models[m]["method"]) if models[m]["method"] in ORDER else 99,
    )
    cells = attack_cells(data, part.phrasing)
    attacks = [a for a in attacks_run(data) if a != "fair_mc" and a != "mia"]

    def leak(model: str, attack: str) -> float | None:
        found = cells.get((model, attack, "forget", "leak_rate"))
        return found[0] if found and found[1] else None

    scenes = {m: _scenes(folder / f"generations-{m}.jsonl") for m in ["vanilla", *methods]}
    trained = _seconds(Path(models[oracle]["path"]))
    rows: list[tuple[str, str, dict[str, Cell]]] = []

    def add(target: str, required: str, judged: dict[str, Cell]) -> None:
        rows.append((target, required, judged))

    # Plain leak: image and text, each within 2 points of the oracle's.
    for key, label in (("forget_leak_image", "image"), ("forget_leak_text", "text")):
        floor = head[oracle][key] or 0.0
        add(f"plain leak, {label}", f"<= {100 * floor + 2:.1f}% (oracle {100 * floor:.1f})", {
            m: (f"{100 * v:.1f}", v <= floor + 0.02 + 1e-9)
            for m in methods if (v := head[m][key]) is not None
        })  # fmt: skip
    # Every attack within 2 points of the oracle under the same attack; the worst one named.
    judged: dict[str, Cell] = {}
    for m in methods:
        excess = [
            (value - (leak(oracle, a) or 0.0), a, value)
            for a in attacks
            if (value := leak(m, a)) is not None
        ]
        if excess:
            worst = max(excess)
            judged[m] = (f"{100 * worst[2]:.1f} ({worst[1]})", worst[0] <= 0.02 + 1e-9)
    cells_run = grid(data)[0]  # the strong relearning's settings, when it ran
    note = f"relearn_strong: {len(cells_run)} cells" if cells_run else "relearn_strong not run"
    add(
        f"every attack ({note})",
        "<= oracle + 2 points, per attack",
        judged,
    )
    add("MIA AUC gap", "<= 0.05", {
        m: (f"{g:.3f}", g <= 0.05) for m in methods if (g := mia_gap(data, m, part.phrasing))
        is not None
    })  # fmt: skip
    fair = cells.get((oracle, "fair_mc", "forget", "mc_accuracy"))
    if fair:
        add("fair MC", f"within 5 points of the oracle's {100 * fair[0]:.1f}", {
            m: (f"{100 * c[0]:.1f}", abs(c[0] - fair[0]) <= 0.05 + 1e-9)
            for m in methods if (c := cells.get((m, "fair_mc", "forget", "mc_accuracy")))
        })  # fmt: skip
    for key, label in (
        ("understanding_forget", "understanding of forget pictures"),
        ("retain_memory", "retain memory"),
        ("scenes", "scenes"),
    ):
        add(label, ">= x0.97 vanilla", {
            m: (f"x{_down(r)}", r >= 0.97) for m in methods if (r := kept[m].get(key)) is not None
        })  # fmt: skip
    base = scenes["vanilla"]
    if base:
        add("scene answers as vanilla's", ">= 90%", {
            m: (f"{100 * s:.1f}", s >= 0.90)
            for m in methods if (s := _agreement(base, scenes[m])) is not None
        })  # fmt: skip
    add("false refusals", "<= 1%", {
        m: (f"{100 * v:.1f}", v <= 0.01 + 1e-9)
        for m in methods if (v := head[m]["false_refusal"]) is not None
    })  # fmt: skip
    vanilla_meaningful = head["vanilla"]["meaningfulness"] or 0.0
    add("meaningful answers", f">= vanilla's {100 * vanilla_meaningful:.1f}%", {
        m: (f"{100 * v:.1f}", v >= vanilla_meaningful - 1e-9)
        for m in methods if (v := head[m]["meaningfulness"]) is not None
    })  # fmt: skip
    add("cost", f"<= x0.5 the oracle's training ({trained:.0f} s)", {
        m: (f"x{models[m]['seconds'] / trained:.2f}", models[m]["seconds"] <= 0.5 * trained)
        for m in methods
    })  # fmt: skip
    about = (
        f"vanilla leaks {_pct(head['vanilla']['forget_leak_image'])} / "
        f"{_pct(head['vanilla']['forget_leak_text'])} (image / text); the oracle "
        f"{_pct(head[oracle]['forget_leak_image'])} / {_pct(head[oracle]['forget_leak_text'])}, "
        f"its worst attack {_worst(oracle, attacks, leak)}; slice {part.name}"
    )
    return methods, rows, about


def _down(ratio: float) -> str:
    """A ratio to 3 decimals, rounded down: x0.9698 reads x0.969, not a missed x0.970."""
    return f"{math.floor(1000 * ratio) / 1000:.3f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _worst(model: str, attacks: list[str], leak: Any) -> str:
    found = [(v, a) for a in attacks if (v := leak(model, a)) is not None]
    if not found:
        return "none"
    value, attack = max(found)
    return f"{100 * value:.1f}% ({attack})" if value > 0 else "0.0% (no attack got a value out)"


def _scenes(path: Path) -> dict[Any, tuple[str, float]] | None:
    return scene_answers(path) if path.is_file() else None


def _agreement(base: dict[Any, Any], rows: dict[Any, Any] | None) -> float | None:
    found = agreement(base, rows) if rows else None
    return found[3] if found else None


def _seconds(model: Path) -> float:
    meta = model / "smfa-train.json"
    try:
        return float(json.loads(meta.read_text(encoding="utf-8"))["seconds"])
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"{meta}: no training time ({exc})") from None


def render(ratio: str, methods: list[str], rows: list[Any], about: str) -> str:
    lines = [f"### {ratio}% forget", "", about + ".", ""]
    lines.append("| target | required | " + " | ".join(methods) + " |")
    lines.append("|---|---|" + "---:|" * len(methods))
    for target, required, judged in rows:
        cells = [
            f"{judged[m][0]} {'✓' if judged[m][1] else '✗'}" if m in judged else "-"
            for m in methods
        ]
        lines.append(f"| {target} | {required} | " + " | ".join(cells) + " |")
    met = [sum(1 for _, _, j in rows if m in j and j[m][1]) for m in methods]
    tally = (f"{m} {n} of {len(rows)}" for m, n in zip(methods, met, strict=True))
    lines += ["", "Met: " + "; ".join(tally)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="RATIO=FOLDER, one smfa compare output each")
    parser.add_argument("--out", type=Path, help="write the Markdown here (else print it)")
    args = parser.parse_args()
    parts = ["# Erasure at the oracle: each target, met or missed\n"]
    for run in args.runs:
        ratio, _, folder = run.partition("=")
        if not folder:
            raise SystemExit(f"{run}: expected RATIO=FOLDER")
        parts.append(render(ratio, *judge(Path(folder))))
    text = "\n".join(parts)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
