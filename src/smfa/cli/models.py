"""Commands that train and measure models: train, eval, compare, report, show, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smfa.cli.common import ConfigOpt, SetOpt, config_of, console
from smfa.errors import SmfaError
from smfa.terminal import console as terminal_console


def train(
    world: Annotated[Path, typer.Option(help="World directory.")],
    role: Annotated[str, typer.Option(help="vanilla or oracle.")] = "vanilla",
    forget_ratio: Annotated[int | None, typer.Option(help="Forget ratio (oracle).")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Train (or reuse from the cache) a reference model; prints its directory."""
    from smfa.data.format import load_world
    from smfa.distributed import is_main, main_process_first
    from smfa.pipeline import ensure_base
    from smfa.reference import ROLES, train_reference

    if role not in ROLES:  # before any model work
        raise SmfaError(f"--role {role!r} is not one of {', '.join(ROLES)}")
    cfg = config_of(config, set_)
    ratio = forget_ratio if forget_ratio is not None else cfg.forget_ratio
    loaded = load_world(world)
    loaded.forget_people(ratio)  # validates the ratio before any training
    with main_process_first():
        ensure_base(loaded, cfg)
    path = train_reference(loaded, role, ratio, cfg.model, cfg.train, Path(cfg.workdir))
    if is_main():
        typer.echo(str(path))


def evaluate(
    model: Annotated[list[str], typer.Option(help="NAME=DIR (repeatable) or DIR.")],
    world: Annotated[Path, typer.Option(help="World directory.")],
    out: Annotated[Path, typer.Option(help="Directory for results.json, CSV, generations.")],
    forget_ratio: Annotated[int | None, typer.Option(help="Which forget split to report.")] = None,
    judge: Annotated[
        str | None,
        typer.Option(help="Optional judge: http://HOST:PORT/v1@MODEL or a model dir (eval.judge)."),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Evaluate models on a world; writes results.json, results.csv and prints the table."""
    from smfa.data.format import load_world
    from smfa.distributed import is_main
    from smfa.eval.evaluate import Ask, evaluate
    from smfa.eval.results import (
        check_results_dir,
        mark_results_dir,
        merge_results,
        parse_models,
        write_generations,
    )
    from smfa.io import out_lock
    from smfa.models.io import model_source
    from smfa.protocol.questions import check_slice, named_slice
    from smfa.report.table import print_table
    from smfa.terminal import progress_bar

    cfg = config_of(config, set_, judge=judge)
    ratio = forget_ratio if forget_ratio is not None else cfg.forget_ratio
    loaded = load_world(world)
    loaded.forget_people(ratio)  # validates the ratio before any model work
    ask = Ask.of(named_slice(cfg.eval.slice), loaded.splits.forget[ratio], cfg.eval.attacks)
    check_slice(loaded, ask.slice, ask.forget_people)  # an empty slice would measure nothing
    named = parse_models(model)
    check_results_dir(out, loaded.world_hash, ratio)  # before anything is written
    for path in named.values():
        model_source(path)  # a folder that holds no model fails before any evaluation
    with out_lock(out, enabled=is_main()):  # one evaluation per --out at a time
        if is_main():
            mark_results_dir(out, loaded.world_hash, ratio)  # a rerun after a kill resumes
        data = None
        for name, path in named.items():
            with progress_bar(disable=not is_main(), loss=False) as bar:
                task = bar.add_task(f"eval {name}", total=None)

                def tick(
                    label: str, done: int, total: int, name: str = name, task: int = task
                ) -> None:
                    bar.update(
                        task, description=f"eval {name} · {label}", completed=done, total=total
                    )

                result = evaluate(
                    path, loaded, ask, cfg.eval, Path(cfg.workdir),
                    name=name, options=cfg.model, tick=tick,
                )  # fmt: skip
            if is_main():
                write_generations(out, name, result.records)
                data = merge_results(
                    out, loaded.world_hash, ratio, {name: {"path": str(path)}}, result.rows
                )
    if data is not None:
        print_table(data, terminal_console())
        console.print(f"results: {out / 'results.json'}")


def compare(
    world: Annotated[Path, typer.Option(help="World directory.")],
    vanilla: Annotated[Path, typer.Option(help="The model to unlearn.")],
    out: Annotated[Path, typer.Option(help="Directory for results and the report.")],
    oracle: Annotated[Path | None, typer.Option(help="The oracle model, if any.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Run several methods side by side, evaluate them, and write the report."""
    from smfa.launch import require_single

    require_single("compare")
    from smfa.compare import run_compare
    from smfa.report.write import write_report

    cfg = config_of(config, set_)
    data = run_compare(cfg, world, vanilla, oracle, out)
    paths = write_report(data, out)
    console.print(f"report: {paths['html']} · {paths['markdown']}")


def report(results: Annotated[Path, typer.Argument(help="A results.json file.")]) -> None:
    """(Re)write report.md and report.html beside a results.json."""
    from smfa.eval.results import read_results
    from smfa.report.write import write_report

    paths = write_report(read_results(results), results.parent)
    console.print(f"report: {paths['html']} · {paths['markdown']}")


def show(results: Annotated[Path, typer.Argument(help="A results.json file.")]) -> None:
    """Print the headline table of a results.json."""
    from smfa.eval.results import read_results
    from smfa.report.summary import check_measured
    from smfa.report.table import print_table

    data = read_results(results)
    check_measured(data, str(results))
    print_table(data, terminal_console())


def demo(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """World, vanilla and oracle (cached), evaluation of both, and the table."""
    from smfa.launch import require_single

    require_single("demo")
    from smfa.demo import run_demo

    run_demo(config_of(config, set_))
