"""Build a world directory from a seed: the one place that writes worlds to disk.

Everything is built into a staging directory beside `out` and renamed into place at the end, so
a failed build leaves nothing behind. The same seed and parameters give byte-identical files;
each component draws from its own random stream, so changing the scene counts leaves the people
untouched. The manifest, written last, lists every file's sha256.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smfa.config import WorldConfig
from smfa.errors import SmfaError
from smfa.io import (
    atomic_write_json,
    atomic_write_jsonl,
    canonical_json,
    out_lock,
    sha256_file,
    sha256_text,
    staged_dir,
    writing,
)
from smfa.world import component_rng, fundus, names, portraits, scenes
from smfa.world.draw import Jitter, png_bytes
from smfa.world.questions import build_questions
from smfa.world.refusals import refusal_pool
from smfa.world.splits import build_splits

if TYPE_CHECKING:
    from smfa.data.format import World

FORMAT_NAME = "smfa-world"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# Left in every world an smfa command writes (`world build`, `import`): `import --overwrite`
# replaces only a folder holding it. Hidden, so it is in no manifest and no world hash.
WORLD_MARKER = ".smfa-world"

Progress = Callable[[str, int, int], None]


def write_manifest(
    root: Path,
    *,
    seed: int | None = None,
    params: dict[str, Any] | None = None,
    counts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Hash every file under `root` (hidden files aside) and write manifest.json last.

    Also the way to finish a world you wrote yourself (docs/data-format.md).
    """
    root = Path(root)
    files = {
        path.relative_to(root).as_posix(): sha256_file(path)
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and path.name != MANIFEST
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    }
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "seed": seed,
        "params": params,
        "counts": counts or {},
        "files": files,
        "world_hash": sha256_text(canonical_json(files)),
    }
    atomic_write_json(root / MANIFEST, manifest)
    return manifest


def write_marker(root: Path, writer: str) -> None:
    """Mark `root` as a world written by the smfa command `writer` (see WORLD_MARKER)."""
    atomic_write_json(Path(root) / WORLD_MARKER, {"format": FORMAT_NAME, "writer": writer})


def _existing_world(out: Path, params: WorldConfig) -> bool:
    """True when `out` already holds this world; raise when it holds anything else."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise SmfaError(f"{out} exists and is not a directory; choose another output path")
    manifest_path = out / MANIFEST
    if not manifest_path.exists():
        if any(out.iterdir()):
            raise SmfaError(
                f"{out} is not empty and holds no {MANIFEST}; refusing to overwrite "
                "it, choose an empty or new directory"
            )
        return False
    try:
        existing = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise SmfaError(
            f"{manifest_path} is unreadable ({error}); refusing to overwrite"
        ) from error
    old = existing.get("params") if isinstance(existing, dict) else None
    same_format = (
        isinstance(existing, dict)
        and existing.get("format") == FORMAT_NAME
        and existing.get("version") == FORMAT_VERSION
    )
    if same_format and old == params.as_dict():
        return True
    old = old if isinstance(old, dict) else {}
    wanted = params.as_dict()
    changed = ", ".join(
        f"{key} {old.get(key)!r} -> {wanted[key]!r}"
        for key in wanted
        if old.get(key) != wanted[key]
    )
    raise SmfaError(
        f"{out} already holds a different world (seed {old.get('seed')!r}, requested seed "
        f"{params.seed}; differs in: {changed or 'format version'}); "
        "choose another directory or remove it"
    )


def _write_png(root: Path, rel: str, image: Any) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with writing(path):
        path.write_bytes(png_bytes(image))
    return rel


def _people(stage: Path, p: WorldConfig, progress: Progress) -> list[dict[str, Any]]:
    identities = names.draw_people(p.people, component_rng(p.seed, "people"))
    looks = portraits.draw_features(p.people, component_rng(p.seed, "portraits"))
    fundus_rng = component_rng(p.seed, "fundus")
    patients = math.floor(p.fundus_share * p.people + 0.5)
    patient_index = sorted(int(i) for i in fundus_rng.permutation(p.people)[:patients])
    eyes = dict(zip(patient_index, fundus.choose_features(patients, fundus_rng), strict=True))
    records = []
    for i, ((name, attributes), look) in enumerate(zip(identities, looks, strict=True)):
        pid = f"p{i + 1:04d}"
        jitter_rng = component_rng(p.seed, "portrait.heldout", i)
        portrait = {
            "train": _write_png(
                stage,
                f"images/portraits/{pid}_train.png",
                portraits.render_portrait(look, p.image_size),
            ),
            "heldout": _write_png(
                stage,
                f"images/portraits/{pid}_heldout.png",
                portraits.render_portrait(look, p.image_size, Jitter.draw(jitter_rng), jitter_rng),
            ),
            "features": look,
        }
        eye = None
        if i in eyes:
            layout = fundus.draw_layout(eyes[i], component_rng(p.seed, "fundus.layout", i))
            jitter_rng = component_rng(p.seed, "fundus.heldout", i)
            eye = {
                "train": _write_png(
                    stage,
                    f"images/fundus/{pid}_train.png",
                    fundus.render_fundus(eyes[i], layout, p.image_size),
                ),
                "heldout": _write_png(
                    stage,
                    f"images/fundus/{pid}_heldout.png",
                    fundus.render_fundus(
                        eyes[i], layout, p.image_size, Jitter.draw(jitter_rng), jitter_rng
                    ),
                ),
                "features": eyes[i],
            }
        records.append(
            {"id": pid, "name": name, "attributes": attributes, "portrait": portrait, "fundus": eye}
        )
        progress("people", i + 1, p.people)
    return records


def _scenes(stage: Path, p: WorldConfig, progress: Progress) -> list[dict[str, Any]]:
    records = []
    plan = (
        ("train", p.train_scenes),
        ("validation", p.validation_scenes),
        ("heldout", p.heldout_scenes),
    )
    total = sum(count for _, count in plan)
    for split, count in plan:
        rng = component_rng(p.seed, f"scenes.{split}")
        for _ in range(count):
            sid = f"s{len(records) + 1:04d}"
            objects = scenes.draw_objects(rng)
            image = _write_png(
                stage, f"images/scenes/{sid}.png", scenes.render_scene(objects, p.image_size, rng)
            )
            records.append({"id": sid, "split": split, "image": image, "objects": objects})
            progress("scenes", len(records), total)
    return records


def _no_progress(stage: str, done: int, total: int) -> None:
    """The default progress callback: say nothing."""


def ensure_world(out: Path, config: WorldConfig) -> World:
    """Build the world into `out` (or reuse an identical one there), then load and validate it."""
    from smfa.data.format import load_world  # it reads this module's names: imported here
    from smfa.terminal import console

    console(stderr=True).print(
        f"[bold]world[/bold] {out} ({config.people} people, seed {config.seed})"
    )
    build_world(Path(out), config)
    return load_world(Path(out))


def build_world(out: Path, params: WorldConfig, progress: Progress | None = None) -> Path:
    """Build the world for `params` at `out` and return `out`.

    If `out` already holds this very world it is returned untouched. A different world, or a
    non-empty directory without a manifest, raises `SmfaError` and is left exactly as it was.
    """
    with out_lock(Path(out)):  # one build per output directory
        return _build_world(Path(out), params, progress)


def _build_world(out: Path, params: WorldConfig, progress: Progress | None) -> Path:
    params.check()
    if _existing_world(out, params):
        return out
    report = progress or _no_progress
    with staged_dir(out) as stage:
        people = _people(stage, params, report)
        taken = [person["name"] for person in people]
        unknown = names.draw_values(
            "name", params.unknown_people, component_rng(params.seed, "unknown"), exclude=taken
        )
        scene_records = _scenes(stage, params, report)
        report("questions", 0, 1)
        questions = build_questions(people, scene_records, unknown, refusal_pool(), params.seed)
        report("questions", 1, 1)
        splits = build_splits(
            [person["id"] for person in people],
            questions,
            params.forget_ratios,
            params.few_shot_retain,
            component_rng(params.seed, "splits"),
        )
        atomic_write_jsonl(stage / "people.jsonl", people)
        atomic_write_jsonl(stage / "scenes.jsonl", scene_records)
        atomic_write_jsonl(stage / "questions.jsonl", questions)
        atomic_write_json(stage / "splits.json", splits)
        counts = {
            "people": len(people),
            "fundus_people": sum(person["fundus"] is not None for person in people),
            "unknown_people": len(unknown),
            "scenes": dict(Counter(scene["split"] for scene in scene_records)),
            "questions": {
                "total": len(questions),
                **dict(Counter(row["kind"] for row in questions)),
            },
            "probes": sum(row["probe"] for row in questions),
        }
        write_marker(stage, "smfa world build")
        write_manifest(stage, seed=params.seed, params=params.as_dict(), counts=counts)
        report("manifest", 1, 1)
    return out
