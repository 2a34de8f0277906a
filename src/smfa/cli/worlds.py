"""Commands that make worlds: `smfa world build` (generated) and `smfa import` (a public
benchmark's layout, docs/data-format.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from smfa.cli.common import ConfigOpt, SetOpt, config_of, console
from smfa.config import check_values
from smfa.errors import SmfaError


def world_build(
    out: Annotated[Path, typer.Option(help="Directory to write the world into.")],
    people: Annotated[int | None, typer.Option(help="Number of people (world.people).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed, >= 0 (world.seed).")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Generate a deterministic world (people, portraits, fundus images, scenes, questions)."""
    from smfa.launch import require_single

    require_single("world build")
    from smfa.world.build import ensure_world

    cfg = config_of(config, set_)
    if people is not None:
        cfg.world.people = people
    if seed is not None:
        cfg.world.seed = seed
    check_values(cfg)  # --people and --seed within world.people's and world.seed's bounds
    started = time.time()
    world = ensure_world(out, cfg.world)
    counts = world.manifest.get("counts", {})
    console.print(f"world ready in {time.time() - started:.1f}s: {out} · {counts}")
    typer.echo(str(out))


def import_cmd(
    layout: Annotated[str, typer.Argument(help="mllmu, fiubench, tofu or clear.")],
    source: Annotated[Path, typer.Argument(help="The benchmark's local directory.")],
    out: Annotated[Path, typer.Argument(help="Where to write the world.")],
    images: Annotated[Path | None, typer.Option(help="Image directory, if elsewhere.")] = None,
    records: Annotated[Path | None, typer.Option(help="Profile/QA records file.")] = None,
    evaluation: Annotated[Path | None, typer.Option(help="MLLMU evaluation records.")] = None,
    qa: Annotated[Path | None, typer.Option(help="TOFU question-answer file.")] = None,
    captions: Annotated[Path | None, typer.Option(help="CLEAR captions (face images).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of every choice the layout leaves open.")] = 0,
    few_shot: Annotated[int, typer.Option(help="Few-shot retain questions.")] = 64,
    overwrite: Annotated[
        bool, typer.Option(help="Replace OUT if it is a world an smfa command wrote.")
    ] = False,
    skip_invalid: Annotated[
        bool, typer.Option(help="Drop invalid records and their ids from every split.")
    ] = False,
    people: Annotated[
        int | None, typer.Option(help="Keep N people (seeded; every forget list kept).")
    ] = None,
    ids: Annotated[Path | None, typer.Option(help="Keep the people this id file lists.")] = None,
    unknown_people: Annotated[
        int | None, typer.Option(help="Made-up people to refuse (default: a quarter).")
    ] = None,
) -> None:
    """Import a public benchmark layout (docs/data-format.md) into a world directory."""
    import inspect

    from smfa.launch import require_single

    require_single("import")

    from smfa.data.format import load_world
    from smfa.importers import IMPORTERS, import_world

    given = {
        "images": images,
        "records": records,
        "evaluation": evaluation,
        "qa": qa,
        "captions": captions,
        "skip_invalid": skip_invalid or None,
        "people": people,
        "ids": ids,
        "unknown_people": unknown_people,
    }
    accepted = (
        set(inspect.signature(IMPORTERS[layout]).parameters) if layout in IMPORTERS else set()
    )
    wrong = [
        f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None and k not in accepted
    ]
    if layout in IMPORTERS and wrong:
        raise SmfaError(f"layout '{layout}' takes no {', '.join(wrong)}")
    options = {k: v for k, v in given.items() if v is not None}
    world = import_world(
        layout, source, out, seed=seed, few_shot=few_shot, overwrite=overwrite, **options
    )
    loaded = load_world(world)
    params = loaded.manifest.get("params") or {}
    if params.get("skipped_records"):
        dropped = params.get("dropped_ids") or []
        console.print(
            f"skipped {params['skipped_records']} invalid source records; dropped "
            f"{len(dropped)} people from every split: {', '.join(dropped) or 'none'}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"world: {world} ({len(loaded.people)} people, {len(loaded.questions)} questions, "
        f"{len(loaded.tasks)} tasks, forget ratios {', '.join(map(str, loaded.ratios))})"
    )
