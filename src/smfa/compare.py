"""`smfa compare`: several unlearning methods on one world, one vanilla model, one budget.

Each method runs in a worker process (`smfa.compare_jobs`; cached under workdir/unlearned),
then is evaluated. A method with several variants (its `methods.NAME.sweep`; SMFA sweeps k by
default) has each variant scored on the validation phrasings and scenes first, and one is
marked selected: forgetting first (the variants whose validation leak is at most
`compare.max_leak`, or the least leaking ones when none is), then the best validation score
among them. The reported slice (held-out phrasings, held-out portraits and scenes) never
chooses anything. The method's own job makes that choice (vanilla's validation rows are
cached, so every job shares them) and returns it. The selected variant is then evaluated on the
reported slice and attacked; the others keep their validation rows, which results.json holds
beside the reported ones (each method's sweep curve is drawn from them).
`compare.report_variants=all` reports and attacks every variant.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from smfa.compare_jobs import EvalJob, MethodJob, reported_slice
from smfa.config import RunConfig, to_dict
from smfa.data.format import World, load_world
from smfa.errors import SmfaError
from smfa.eval.results import (
    RESULTS_SCHEMA,
    check_results_dir,
    mark_results_dir,
    write_results,
)
from smfa.io import atomic_write_json, out_lock
from smfa.methods.base import get_method, make_params
from smfa.models.io import model_source
from smfa.protocol.questions import VALIDATION, Slice, check_slice, slice_questions
from smfa.unlearn import ForgetRequest, resolve_request
from smfa.vocab import MEMORY_KINDS
from smfa.workers import run_jobs


def examples(
    world: World,
    request: ForgetRequest,
    generations: dict[str, dict[str, str]],
    part: Slice,
    limit: int = 4,
) -> list[dict[str, Any]]:
    """A few forget questions with each model's answer, for the report's before/after table."""
    people = set(request.people)
    chosen = [
        q
        for q in slice_questions(world, part)
        if q.subject in people
        and q.kind in MEMORY_KINDS
        and q.phrasing == part.phrasing
        and q.view in (None, part.image_view)
    ]
    picked, seen = [], set()
    for q in chosen:
        if (q.subject, q.kind) in seen:
            continue
        seen.add((q.subject, q.kind))
        picked.append(q)
        if len(picked) >= limit:
            break
    return [
        {
            "person": world.people[q.subject].name if q.subject else "",
            "question": q.question,
            "image": q.image,
            "answer": q.answer,
            "predictions": {m: g.get(q.id, "") for m, g in generations.items()},
        }
        for q in picked
    ]


def run_compare(
    config: RunConfig,
    world_dir: Path,
    vanilla: Path,
    oracle: Path | None,
    out_dir: Path,
    request: ForgetRequest | None = None,
    trainers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run every method of `config.compare.methods`, evaluate, select, write results.json.

    `trainers` (role -> job, the demo's `ReferenceJob`s) train `vanilla` / `oracle` into those
    paths in the same worker pool: each job that needs one waits for its trainer only, so the
    methods start as soon as vanilla is trained, while the oracle may still train.
    """
    with out_lock(Path(out_dir)):
        return _run_compare(config, world_dir, vanilla, oracle, out_dir, request, trainers or {})


def _run_compare(
    config: RunConfig,
    world_dir: Path,
    vanilla: Path,
    oracle: Path | None,
    out_dir: Path,
    request: ForgetRequest | None = None,
    trainers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    started = time.time()
    trainers = trainers or {}
    out_dir = Path(out_dir)
    world = load_world(Path(world_dir), verify_hashes=False)
    request = request or resolve_request(world, ratio=config.forget_ratio)
    part = reported_slice(config)
    check_slice(world, part, request.people)  # before any work: it would measure nothing
    if any(_sweeps(config, method) for method in config.compare.methods):
        check_slice(world, VALIDATION, request.people)  # its variants are chosen there
    _check_out(out_dir, world, config, {"vanilla": vanilla, "oracle": oracle}, trainers)
    mark_results_dir(out_dir, world.world_hash, config.forget_ratio)  # a rerun resumes here
    jobs = _jobs(config, world_dir, vanilla, oracle, out_dir, request, trainers)
    results = run_jobs(jobs, workers=config.compare.workers)
    for role, path in (("vanilla", vanilla), ("oracle", oracle)):
        if role in trainers and results[trainers[role].name]["model_dir"] != str(path):
            raise SmfaError(
                f"the {role} model was trained into {results[trainers[role].name]['model_dir']}, "
                f"not {path}"
            )
    models, rows, selection, timings = _gathered(config, results, vanilla, oracle)
    shown = [name for name, info in models.items() if info.get("selected", True)]
    generations = _read_generations(out_dir, shown)
    data = {
        "schema": RESULTS_SCHEMA,
        "world_hash": world.world_hash,
        "forget_ratio": config.forget_ratio,
        "models": models,
        "rows": rows,
        "compare": {
            "forget_ratio": config.forget_ratio,
            "request": request.label,
            "retain_budget": config.unlearn.retain_budget,
            "forget_people": [
                {"id": pid, "name": world.people[pid].name} for pid in request.people
            ],
            "slice": part.name,
            "selection": selection,
            "examples": examples(world, request, generations, part),
            "timings": timings,
            "seconds": round(time.time() - started, 1),
        },
    }
    write_results(out_dir, data)
    atomic_write_json(out_dir / "config.json", to_dict(config))
    return data


def _sweeps(config: RunConfig, method: str) -> bool:
    """Whether `method` runs several variants (a `sweep` setting), one chosen on validation."""
    params = make_params(get_method(method), config.methods.get(method))
    return bool(getattr(params, "sweep", None))


def _check_out(
    out_dir: Path,
    world: World,
    config: RunConfig,
    references: dict[str, Path | None],
    trainers: dict[str, Any],
) -> None:
    """Before any work: --out may take this comparison, and every given model is one."""
    earlier = check_results_dir(out_dir, world.world_hash, config.forget_ratio, "compare")
    if earlier is not None and "compare" not in earlier:  # compare rewrites results.json whole
        raise SmfaError(
            f"{out_dir / 'results.json'} holds `smfa eval` results that compare would "
            "replace; choose another --out"
        )
    for role, path in references.items():
        if path is not None and role not in trainers:
            model_source(path)  # a model that is not one fails before any work


def _jobs(
    config: RunConfig,
    world_dir: Path,
    vanilla: Path,
    oracle: Path | None,
    out_dir: Path,
    request: ForgetRequest,
    trainers: dict[str, Any],
) -> list[Any]:
    """The reference models' training (the demo's) first, then the long jobs, the two short
    reference evaluations last, so that no worker sits idle at the end while another finishes
    a long method (the methods train; these only score). A job that needs a model being
    trained in the same pool waits for that training only."""
    waits = {role: (job.name,) for role, job in trainers.items()}
    on_vanilla, on_oracle = waits.get("vanilla", ()), waits.get("oracle", ())
    where = (str(world_dir), str(out_dir), request)
    jobs: list[Any] = list(trainers.values())
    jobs += [
        MethodJob(m, config, str(world_dir), str(vanilla), str(out_dir), request, on_vanilla)
        for m in config.compare.methods
    ]
    jobs.append(EvalJob("vanilla", str(vanilla), config, *where, after=on_vanilla))
    if oracle is not None:
        jobs.append(EvalJob("oracle", str(oracle), config, *where, after=on_oracle))
    return jobs


def _gathered(
    config: RunConfig, results: dict[str, Any], vanilla: Path, oracle: Path | None
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], dict[str, float]]:
    """(models, rows, selection, timings) of results.json from the jobs' results."""
    methods = {m: results[m] for m in config.compare.methods}
    selection = {m: r["selection"] for m, r in methods.items() if r["selection"] is not None}
    models: dict[str, dict[str, Any]] = {"vanilla": {"role": "vanilla", "path": str(vanilla)}}
    rows = list(results["vanilla"]["rows"])
    if oracle is not None:
        models["oracle"] = {"role": "oracle", "path": str(oracle)}
        rows += results["oracle"]["rows"]
    # vanilla on the validation slice, beside its variants' rows there
    rows += next((r["vanilla_validation_rows"] for r in methods.values() if r["selection"]), [])
    timings: dict[str, float] = {}
    for method, result in methods.items():
        chosen = selection.get(method, {}).get("variant")
        timings[method] = round(result["run"]["timings"]["total"], 2)
        for label, variant in result["variants"].items():
            models[variant["name"]] = {
                "role": "method",
                "method": method,
                "params": variant["params"],
                "variant": label if len(result["variants"]) > 1 else "",
                "selected": chosen is None or label == chosen,
                "reported": variant["reported"],
                "path": variant["dir"],
                "seconds": result["run"]["timings"]["total"],
                "timings": result["run"]["timings"],
                "stats": result["run"]["stats"],
            }
            rows += variant["rows"] + variant.get("validation_rows", [])
    return models, rows, selection, timings


def _read_generations(out_dir: Path, names: list[str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for name in names:
        path = out_dir / f"generations-{name}.jsonl"
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            found[name] = {r["id"]: r["prediction"] for r in map(json.loads, lines) if r}
    return found
