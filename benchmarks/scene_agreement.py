"""How many scene answers unlearning changed: a finer signal than scene accuracy.

Reads the generations files `smfa eval` writes (generations-NAME.jsonl) and prints, for each
model after the first, the share of its general-scene answers that are word for word the
vanilla's (the first file's), with the scene accuracy of both. On the 155 validation scene
questions one wrong answer moves accuracy by 0.6 points and seed noise hides a shift of a few
points; a changed answer is counted whether it was right before or not.

    .venv/bin/python benchmarks/scene_agreement.py runs/eval-vanilla/generations-vanilla.jsonl \
        runs/eval-vera/generations-vera.jsonl [...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def scene_answers(path: Path) -> dict[tuple[str, str, str], tuple[str, float]]:
    """(question id, phrasing, view) -> (prediction, accuracy) of every general-scene row."""
    rows: dict[tuple[str, str, str], tuple[str, float]] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                row = json.loads(line)
                if row["kind"] == "general_scene":
                    key = (row["id"], row["phrasing"], row["view"])
                    rows[key] = (row["prediction"], float(row["scores"].get("accuracy", 0.0)))
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"{path}:{number}: not a generations row ({exc})") from None
    if not rows:
        raise SystemExit(f"{path}: no general-scene answers")
    return rows


def agreement(
    base: dict[tuple[str, str, str], tuple[str, float]],
    rows: dict[tuple[str, str, str], tuple[str, float]],
) -> tuple[int, float, float, float] | None:
    """(scene questions shared, accuracy, vanilla's accuracy, share answered word for word as
    vanilla), or None when the two files share no scene question."""
    shared = [key for key in rows if key in base]
    if not shared:
        return None
    same = sum(rows[key][0] == base[key][0] for key in shared) / len(shared)
    accuracy = sum(rows[key][1] for key in shared) / len(shared)
    before = sum(base[key][1] for key in shared) / len(shared)
    return len(shared), accuracy, before, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vanilla", type=Path, help="the reference model's generations file")
    parser.add_argument("others", type=Path, nargs="+", help="generations files to compare")
    args = parser.parse_args()
    base = scene_answers(args.vanilla)
    print(f"{'model':40} {'scenes':>6} {'accuracy':>9} {'vanilla':>8} {'same':>6}")
    for path in args.others:
        found = agreement(base, scene_answers(path))
        if found is None:
            raise SystemExit(f"{path}: no scene question in common with {args.vanilla}")
        shared, accuracy, before, same = found
        print(f"{path.stem:40} {shared:6d} {accuracy:9.3f} {before:8.3f} {same:6.3f}")


if __name__ == "__main__":
    main()
