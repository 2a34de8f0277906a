"""`make demo`: the whole story on a fresh machine, cached so a second run is quick.

Builds the default world, trains (or reuses) the vanilla and oracle models side by side, then
unlearns the forget people with SMFA and every baseline (`smfa compare`), evaluates them all,
writes results.json / results.csv / report.md / report.html, and prints a short summary: who
was forgotten, what the model answers for one of them before and after, and the headline table.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from smfa.compare import run_compare
from smfa.config import RunConfig
from smfa.pipeline import ReferenceJob, ensure_base
from smfa.protocol.figures import FIGURES
from smfa.reference import reference_dir
from smfa.report.summary import headline, ordered_models, ratios, visible_models
from smfa.report.write import write_report
from smfa.terminal import Grid, console, show
from smfa.world.build import ensure_world


def _summary_table(data: dict, out: Console) -> None:  # type: ignore[type-arg]
    head = headline(data)
    kept = ratios(head)
    names = visible_models(data["models"], ordered_models(data))
    title = "held-out phrasings and portraits (leak: lower is better)"
    table = Grid(title, ["model", *(f"{figure.label} {figure.arrow}" for figure in FIGURES)])
    for name in names:
        cells = []
        for figure in FIGURES:
            value = head[name].get(figure.key)
            ratio = kept.get(name, {}).get(figure.key)
            text = "—" if value is None else f"{100 * value:.1f}"
            if ratio is not None and name != "vanilla":
                text += f" ({100 * ratio:.0f}%)"
            cells.append(text)
        table.add_row(name, *cells)
    show(table, out)


def _before_after(data: dict, out: Console) -> None:  # type: ignore[type-arg]
    for example in data["compare"]["examples"][:2]:
        out.print(f"[bold]{example['person']}[/bold]: {example['question']}")
        out.print(f"  true answer: {example['answer']}", markup=False)
        shown = visible_models(data["models"], list(example["predictions"]))
        for model in shown:
            out.print(f"  {model:>16}: {example['predictions'][model]}", markup=False)


def run_demo(config: RunConfig) -> Path:
    out = console()
    started = time.time()
    workdir = Path(config.workdir)
    world_dir = workdir / f"world-n{config.world.people}-s{config.world.seed}"
    out_dir = workdir / "demo"
    world = ensure_world(world_dir, config.world)
    forget = world.forget_people(config.forget_ratio)
    out.print(
        f"[bold]forget request[/bold] ({config.forget_ratio}% of {len(world.people)} people): "
        + ", ".join(f"{p.name} ({p.id})" for p in forget)
    )
    ensure_base(world, config)
    # Both reference models train side by side in the comparison's worker pool; a method starts
    # as soon as vanilla is trained, the oracle's evaluation as soon as the oracle is.
    trainers = {role: ReferenceJob(role, config, str(world_dir)) for role in ("vanilla", "oracle")}
    vanilla, oracle = (
        reference_dir(workdir, world, role, config.forget_ratio, config.model, config.train)
        for role in ("vanilla", "oracle")
    )
    out.print(
        f"[bold]training[/bold] vanilla and oracle, then [bold]unlearning[/bold] with "
        f"{', '.join(config.compare.methods)} (retain budget {config.unlearn.retain_budget} "
        "questions; a method's swept variants chosen on the validation phrasings)"
    )
    data = run_compare(config, world_dir, vanilla, oracle, out_dir, trainers=trainers)
    paths = write_report(data, out_dir)
    _before_after(data, out)
    _summary_table(data, out)
    for method, chosen in data["compare"]["selection"].items():
        out.print(f"{method}: {chosen['variant']} chosen on the validation slice")
    out.print(
        "[dim]vanilla memorized everyone; the oracle never saw the forget people's private facts "
        "(its leak is what 'forgotten' looks like); percentages in brackets are kept vs vanilla."
        "[/dim]"
    )
    out.print(f"report: {paths['html']} · {paths['markdown']}")
    out.print(f"results: {out_dir / 'results.json'} · {out_dir / 'results.csv'}")
    out.print(f"done in {time.time() - started:.0f}s")
    return out_dir
