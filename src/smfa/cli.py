"""The `smfa` command line: world, train, eval, unlearn, verify, stream, compare, show, demo.

Every command takes `--config FILE` (YAML) and repeated `--set section.key=value` overrides.
Bad input ends as one readable line on stderr and exit code 2, never a traceback.
`train`, `unlearn` and `eval` also run under `accelerate launch` (docs/scale-out.md); then only
the main process prints and writes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from smfa.config import RunConfig, check_values, load_config
from smfa.errors import SmfaError
from smfa.terminal import console as terminal_console

app = typer.Typer(
    help="Make a multimodal LLM forget chosen people, and measure it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
world_app = typer.Typer(help="Generate or inspect an embedded world.", no_args_is_help=True)
app.add_typer(world_app, name="world")
console = terminal_console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML config file.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override, e.g. --set train.lr=3e-4.")
]


def _config(
    config: Path | None, overrides: list[str] | None, judge: str | None = None
) -> RunConfig:
    """The command's configuration: defaults, the YAML file, `--set`, checked once."""
    from smfa.checks import check_run

    loaded = load_config(config, overrides or [])
    if judge is not None:
        loaded.eval.judge = judge
    return check_run(loaded)


@world_app.command("build")
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

    cfg = _config(config, set_)
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


@app.command()
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
    cfg = _config(config, set_)
    ratio = forget_ratio if forget_ratio is not None else cfg.forget_ratio
    loaded = load_world(world)
    loaded.forget_people(ratio)  # validates the ratio before any training
    with main_process_first():
        ensure_base(loaded, cfg)
    path = train_reference(loaded, role, ratio, cfg.model, cfg.train, Path(cfg.workdir))
    if is_main():
        typer.echo(str(path))


@app.command("eval")
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

    cfg = _config(config, set_, judge=judge)
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


# Signing and trusting erasure records (unlearn, stream, verify).
SignKeyOpt = Annotated[
    Path | None,
    typer.Option("--sign-key", help="Sign the erasure record with this private key (smfa keygen)."),
]
TrustOpt = Annotated[
    list[Path] | None,
    typer.Option("--trust", help="A public key whose signatures are trusted (repeatable)."),
]
RequireSignatureOpt = Annotated[
    bool,
    typer.Option("--require-signature", help="Accept only records signed by a key --trust names."),
]


@app.command("unlearn")
def unlearn_cmd(
    world: Annotated[Path, typer.Option(help="World directory.")],
    model: Annotated[
        Path, typer.Option(help="The model to unlearn, or an earlier unlearn output (chains).")
    ],
    out: Annotated[Path, typer.Option(help="Directory for the unlearned model and artifacts.")],
    method: Annotated[str, typer.Option(help="smfa, idk, ga, gd, kl, npo, ...")] = "smfa",
    ratio: Annotated[int | None, typer.Option(help="Forget the world's N% forget set.")] = None,
    forget: Annotated[
        list[str] | None, typer.Option(help="A person to forget: name or id (repeatable).")
    ] = None,
    forget_file: Annotated[
        Path | None, typer.Option(help="Questions to forget (questions.jsonl format).")
    ] = None,
    sign_key: SignKeyOpt = None,
    trust: TrustOpt = None,
    require_signature: RequireSignatureOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Unlearn a forget request with one method; writes the merged model, adapters, delta and
    the erasure record (erasure.json). MODEL may be a previous unlearn output: it chains (its
    record is checked first: seal, signature, with --trust/--require-signature, and world)."""
    from smfa.data.format import load_world
    from smfa.distributed import is_main
    from smfa.erasure.show import record_line
    from smfa.erasure.signing import Trust, load_private_key
    from smfa.erasure.stream import unlearn_recorded
    from smfa.unlearn import resolve_request

    cfg = _config(config, set_)
    signer = load_private_key(sign_key) if sign_key is not None else None
    trusted = Trust.of(trust or [], require_signature)
    loaded = load_world(world)
    if ratio is None and not forget and forget_file is None:
        ratio = cfg.forget_ratio
    request = resolve_request(loaded, ratio, forget or None, forget_file)
    if is_main():
        console.print(
            f"[bold]{method}[/bold]: forgetting {len(request.people)} people "
            f"({len(request.questions)} questions), retain budget {cfg.unlearn.retain_budget}"
        )
    meta, record = unlearn_recorded(
        loaded, model, method, cfg, request, out, is_main(), signer=signer, trust=trusted
    )
    if is_main():  # under `accelerate launch` the other processes have nothing to report
        console.print(
            f"unlearned model: {out / meta['variants'][meta['default']]['model']} "
            f"({meta['timings']['total']:.0f}s); run record: {out / 'run.json'}"
        )
        signed = f" (signed, key {record['signature']['fingerprint'][:16]})" if signer else ""
        console.print(f"erasure record: {out / 'erasure.json'}{signed}; {record_line(record)}")


@app.command()
def verify(
    record: Annotated[Path, typer.Argument(help="An erasure.json (or the folder holding it).")],
    model: Annotated[
        Path | None, typer.Option(help="The model to check (default: the record's own).")
    ] = None,
    world: Annotated[
        Path | None, typer.Option(help="The world (default: the record's own path).")
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(help="Your policy: YAML with erasure, eval, model settings (default: ours)."),
    ] = None,
    tolerance: Annotated[
        float | None, typer.Option(help="Largest difference to a recorded figure (0-1).")
    ] = None,
    trust: TrustOpt = None,
    require_signature: RequireSignatureOpt = False,
    hashes_only: Annotated[
        bool, typer.Option("--hashes-only", help="Recompute the hashes only; run no model.")
    ] = False,
    set_: SetOpt = None,
) -> None:
    """Recompute an erasure record's hashes, check its signature, measure its model under your
    policy (never the record's); exit 1 on a mismatch, a leak or an unaccepted signature."""
    from smfa.launch import require_single

    require_single("verify")
    from rich.markup import escape

    from smfa.erasure.policy import describe, load_policy
    from smfa.erasure.show import print_checks, verdict_line
    from smfa.erasure.signing import Trust
    from smfa.erasure.verify import failures
    from smfa.erasure.verify import verify as run_verify
    from smfa.terminal import progress_bar

    if tolerance is not None and not 0 <= tolerance <= 1:
        raise SmfaError(f"--tolerance must be between 0 and 1, got {tolerance}")
    extra = [f"erasure.tolerance={tolerance}"] if tolerance is not None else []
    rules = load_policy(policy, [*(set_ or []), *extra])
    trusted = Trust.of(trust or [], require_signature)
    terminal_console().print(escape(describe(rules)), soft_wrap=True, highlight=False)
    with progress_bar(loss=False) as bar:
        task = bar.add_task("verify", total=None)

        def tick(label: str, done: int, total: int) -> None:
            bar.update(task, description=f"verify · {label}", completed=done, total=total)

        checks = run_verify(record, rules, model, world, trusted, tick, hashes_only)
    print_checks(checks, terminal_console())
    line = escape(verdict_line(checks, rules.sha256()))
    if failures(checks):
        console.print(f"[bold red]{line}[/bold red]", soft_wrap=True, highlight=False)
        raise typer.Exit(1)
    console.print(line, soft_wrap=True, highlight=False)


@app.command()
def keygen(
    prefix: Annotated[
        Path, typer.Argument(help="Writes PREFIX.key (private, mode 0600) and PREFIX.pub.")
    ],
) -> None:
    """Make an ed25519 key pair for signing erasure records (unlearn/stream --sign-key PREFIX.key;
    verifiers name PREFIX.pub with --trust)."""
    from smfa.erasure.signing import fingerprint, generate_key_pair, load_public_key

    private, public = generate_key_pair(prefix)
    console.print(f"private key: {private} (keep it secret; smfa unlearn --sign-key {private})")
    console.print(
        f"public key: {public} (for verifiers: smfa verify --trust {public}); fingerprint "
        f"{fingerprint(load_public_key(public))}",
        soft_wrap=True,
    )


@app.command()
def stream(
    world: Annotated[Path, typer.Option(help="World directory.")],
    model: Annotated[Path, typer.Option(help="The model the first request unlearns.")],
    out: Annotated[Path, typer.Option(help="Directory for request-1, request-2, ...")],
    request: Annotated[
        list[str], typer.Option(help="People of one request, names or ids, comma-separated.")
    ],
    method: Annotated[str, typer.Option(help="smfa, idk, ga, gd, kl, npo, ...")] = "smfa",
    sign_key: SignKeyOpt = None,
    trust: TrustOpt = None,
    require_signature: RequireSignatureOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Run forget requests in sequence, each chained on the previous one's unlearned model.
    --trust/--require-signature apply to the record MODEL may come with; --sign-key signs
    every record of the stream."""
    from smfa.launch import require_single

    require_single("stream")
    from smfa.data.format import load_world
    from smfa.erasure.show import record_line
    from smfa.erasure.signing import Trust, load_private_key
    from smfa.erasure.stream import run_stream
    from smfa.unlearn import resolve_request

    cfg = _config(config, set_)
    signer = load_private_key(sign_key) if sign_key is not None else None
    trusted = Trust.of(trust or [], require_signature)
    loaded = load_world(world)
    requests = []
    for item in request:
        people = [part.strip() for part in item.split(",") if part.strip()]
        if not people:
            raise SmfaError(f"--request '{item}' names nobody")
        requests.append(resolve_request(loaded, people=people))

    def done(i: int, step: Path, record: dict[str, Any]) -> None:
        console.print(f"request {i} ({', '.join(requests[i - 1].people)}): {step}/erasure.json")
        console.print(f"  {record_line(record)}")

    run_stream(
        loaded, model, method, cfg, requests, out, on_record=done, signer=signer, trust=trusted
    )


@app.command()
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

    cfg = _config(config, set_)
    data = run_compare(cfg, world, vanilla, oracle, out)
    paths = write_report(data, out)
    console.print(f"report: {paths['html']} · {paths['markdown']}")


@app.command("import")
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


@app.command("export-lora")
def export_lora_cmd(
    run: Annotated[Path, typer.Option(help="An `smfa unlearn` output directory.")],
    rank: Annotated[int, typer.Option(help="LoRA rank of the exported adapter.")] = 16,
    out: Annotated[
        Path | None, typer.Option(help="Adapter directory (default RUN/lora-rR).")
    ] = None,
    world: Annotated[
        Path | None, typer.Option(help="Also evaluate adapter vs exact merge on this world.")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Export an unlearned model's weight change as a PEFT LoRA adapter (truncated SVD)."""
    from smfa.launch import require_single

    require_single("export-lora")
    from smfa.export import check_rank, export_lora, run_source

    check_rank(rank)
    cfg = _config(config, set_)
    vanilla, unlearned = run_source(run)
    target = out or run / f"lora-r{rank}"
    stats = export_lora(vanilla, unlearned, rank, target)
    console.print(
        f"adapter: {target} (rank {rank}, {stats['matrices']} matrices, "
        f"{stats['adapter_parameters']:,} parameters for {stats['dense_parameters']:,} dense; "
        f"keeps {100 * stats['kept_energy']:.1f}% of the delta's energy)"
    )
    if world is not None:
        from smfa.export import EXPORT_META, compare_export
        from smfa.io import atomic_write_json

        rows = compare_export(vanilla, unlearned, target, world, cfg)
        for key, exact, approx in rows:
            console.print(f"  {key:<22} exact {exact}  adapter {approx}")
        stats["against_exact_merge"] = {key: {"exact": e, "adapter": a} for key, e, a in rows}
        atomic_write_json(target / EXPORT_META, stats)


@app.command()
def report(results: Annotated[Path, typer.Argument(help="A results.json file.")]) -> None:
    """(Re)write report.md and report.html beside a results.json."""
    from smfa.eval.results import read_results
    from smfa.report.write import write_report

    paths = write_report(read_results(results), results.parent)
    console.print(f"report: {paths['html']} · {paths['markdown']}")


@app.command()
def show(results: Annotated[Path, typer.Argument(help="A results.json file.")]) -> None:
    """Print the headline table of a results.json."""
    from smfa.eval.results import read_results
    from smfa.report.summary import check_measured
    from smfa.report.table import print_table

    data = read_results(results)
    check_measured(data, str(results))
    print_table(data, terminal_console())


@app.command()
def demo(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """World, vanilla and oracle (cached), evaluation of both, and the table."""
    from smfa.launch import require_single

    require_single("demo")
    from smfa.demo import run_demo

    run_demo(_config(config, set_))


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so staging directories and temporary files are removed."""
    raise SystemExit(128 + signum)


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminated)
    try:
        app()
    except SmfaError as exc:
        console.print(f"[bold red]error:[/bold red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except OSError as exc:  # the environment, not a bug: read-only or full disk, a file as --out
        where = f"{exc.filename}: " if exc.filename else ""
        console.print(
            f"[bold red]error:[/bold red] {where}{exc.strerror or exc}",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/bold red]")
        sys.exit(130)


if __name__ == "__main__":
    main()
