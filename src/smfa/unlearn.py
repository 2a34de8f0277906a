"""`smfa unlearn`: a forget request in, an unlearned model and the method's artifacts out.

A forget request names people (a forget ratio of the world, names or ids) or brings its own
questions (a questions.jsonl-format file). The budget is fixed by the protocol: the whole
forget set plus `unlearn.retain_budget` few-shot retain questions, never the retain set. The
method returns dense deltas; each variant is merged as `W = W0 + delta` into a copy of the
vanilla weights and saved, and the vanilla directory is never written to. Under
`accelerate launch` every process trains its share; only the main process merges and writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smfa.config import RunConfig, UnlearnConfig
from smfa.data.batches import Collator, Encoder
from smfa.data.format import Question, World, load_questions
from smfa.distributed import is_distributed, is_main, output_dir, state
from smfa.errors import SmfaError
from smfa.io import atomic_write_json, canonical_json, check_out_dir, out_lock, sha256_text
from smfa.methods.base import Job, MethodOutput, UnlearnData, get_method, make_params
from smfa.models.adapters import base_weights, set_weights
from smfa.models.io import load_model, model_fingerprint, save_model, weights_problem
from smfa.protocol.questions import forget_questions
from smfa.reference import encode_questions
from smfa.train import mixed_precision
from smfa.world.refusals import refusal_pool

RUN_META = "run.json"
RUN_SCHEMA = 1


@dataclass(frozen=True)
class ForgetRequest:
    """Who (and which questions) to forget."""

    label: str  # "f10" for a ratio, "people-<hash>" or "file-<hash>" otherwise
    people: tuple[str, ...]  # person ids
    questions: tuple[Question, ...]  # the forget set D_f
    # People earlier requests of a chain forgot (smfa.erasure.stream): kept out of the retain
    # budget too, so that a later request never teaches their values back.
    earlier: tuple[str, ...] = ()


def resolve_request(
    world: World,
    ratio: int | None = None,
    people: list[str] | None = None,
    questions_file: Path | None = None,
) -> ForgetRequest:
    """One forget request from exactly one of: a ratio, people (names or ids), a questions file."""
    given = [x is not None and x != [] for x in (ratio, people, questions_file)]
    if sum(given) != 1:
        raise SmfaError("give exactly one of --ratio, --forget (names or ids) or --forget-file")
    if ratio is not None:
        ids = world.splits.forget[world._ratio(ratio)]
        return ForgetRequest(f"f{ratio}", tuple(ids), forget_questions(world, set(ids)))
    if people:
        by_name: dict[str, list[str]] = {}
        for person in world.people.values():
            by_name.setdefault(person.name.strip().lower(), []).append(person.id)
        ids_list: list[str] = []
        for raw in people:
            key = raw.strip()
            matches = [key] if key in world.people else by_name.get(key.lower(), [])
            if not matches:
                raise SmfaError(f"'{key}' is neither a person id nor a name in {world.root}")
            if len(matches) > 1:  # forgetting one of them at random would be silently wrong
                raise SmfaError(
                    f"'{key}' names {len(matches)} people ({', '.join(sorted(matches))}); "
                    "forget them by id instead"
                )
            ids_list.append(matches[0])
        ids = tuple(sorted(set(ids_list)))
        digest = sha256_text(",".join(ids))[:10]
        return ForgetRequest(f"people-{digest}", ids, forget_questions(world, set(ids)))
    assert questions_file is not None
    questions = load_questions(Path(questions_file), world)
    ids = tuple(sorted({q.subject for q in questions if q.subject in world.people}))
    digest = sha256_text(canonical_json([asdict(q) for q in questions]))[:10]
    return ForgetRequest(f"file-{digest}", ids, tuple(questions))


def retain_sample(world: World, request: ForgetRequest, budget: int) -> list[Question]:
    """The few-shot retain budget: the world's pool, minus anyone being or already forgotten."""
    forgotten = set(request.people) | set(request.earlier)
    by_id = {q.id: q for q in world.questions}
    pool = [by_id[i] for i in world.splits.few_shot_retain if by_id[i].subject not in forgotten]
    if budget > len(pool):
        raise SmfaError(
            f"unlearn.retain_budget is {budget} but the world offers {len(pool)} few-shot "
            "retain questions outside the forget request; lower the budget"
        )
    if budget == len(pool):
        return pool
    rng = np.random.default_rng([len(pool), budget, 3])
    return [pool[int(i)] for i in sorted(rng.choice(len(pool), size=budget, replace=False))]


def build_data(
    world: World, request: ForgetRequest, encoder: Encoder, config: UnlearnConfig
) -> UnlearnData:
    if not request.questions:
        raise SmfaError(f"forget request {request.label} holds no memory questions")
    forget = list(request.questions)
    pool = refusal_pool()
    rng = np.random.default_rng([config.seed, 17])
    refusals = [pool[int(i)] for i in rng.integers(len(pool), size=len(forget))]
    retain = retain_sample(world, request, config.retain_budget)
    answered_by_refusal = [
        replace(q, answer=refusal) for q, refusal in zip(forget, refusals, strict=True)
    ]
    return UnlearnData(
        forget=encode_questions(encoder, world, forget),
        forget_refusals=encode_questions(encoder, world, answered_by_refusal),
        retain=encode_questions(encoder, world, retain),
        collator=Collator(encoder, train=True, augment_images=config.augment, seed=config.seed),
        forget_questions=forget,
        retain_questions=retain,
    )


def run_key(
    vanilla: Path,
    world: World,
    request: ForgetRequest,
    method: str,
    params: Any,
    config: UnlearnConfig,
) -> str:
    payload = {
        "schema": RUN_SCHEMA,
        "vanilla": model_fingerprint(vanilla),
        "world": world.world_hash,
        "request": [request.label, list(request.people)],
        "method": method,
        "params": asdict(params),
        "unlearn": {k: v for k, v in asdict(config).items() if k != "threads"},
    }
    if request.earlier:  # a chained request's retain budget leaves them out (keys stay as were)
        payload["earlier"] = sorted(request.earlier)
    revision = get_method(method).revision
    if revision:  # revision 0's keys stay as they were before revisions existed
        payload["revision"] = revision
    return sha256_text(canonical_json(payload))


def variant_dir(out: Path, label: str, default: str) -> Path:
    """The default variant is `out/model`; others `out/model-k3`, ..."""
    safe = "".join(ch if ch.isalnum() or ch in ".-_" else "" for ch in label.replace("/", "-"))
    return out / ("model" if label == default else f"model-{safe}")


def _intact(out: Path, meta: dict[str, Any]) -> bool:
    """Whether every model a finished run saved is still there with its recorded weights."""
    variants = meta.get("variants")
    if not isinstance(variants, dict):
        return False
    saved = [v.get("model") for v in variants.values() if isinstance(v, dict) and v.get("model")]
    return all(
        (out / name / "config.json").is_file() and weights_problem(out / name) is None
        for name in saved
    )


def unlearn(
    world: World,
    vanilla: Path,
    method: str,
    config: RunConfig,
    request: ForgetRequest,
    out: Path,
    show_progress: bool = True,
    on_step: Callable[[str, int, int, float], None] | None = None,
    all_variants: bool = False,
    lock: bool = True,
) -> dict[str, Any]:
    """Run `method` on `vanilla` for `request`; write models and artifacts to `out`.

    Returns run.json's content. The default variant is saved as `out/model`; with
    `all_variants`, every variant is saved (`out/model-k3`, ...) for a sweep. `lock=False`
    when the caller already holds `out`'s lock (it writes more there afterwards).
    """
    with out_lock(Path(out), enabled=is_main() and lock):  # one run per output directory
        return _unlearn(
            world, vanilla, method, config, request, out, show_progress, on_step, all_variants
        )


def _unlearn(
    world: World,
    vanilla: Path,
    method: str,
    config: RunConfig,
    request: ForgetRequest,
    out: Path,
    show_progress: bool = True,
    on_step: Callable[[str, int, int, float], None] | None = None,
    all_variants: bool = False,
) -> dict[str, Any]:
    out = Path(out)
    kind = get_method(method)
    params = make_params(kind, config.methods.get(method))
    key = run_key(vanilla, world, request, method, params, config.unlearn)
    finished = _finished_run(out, vanilla, key)
    if finished is not None:
        return finished
    torch.set_num_threads(config.unlearn.threads)
    started = time.perf_counter()
    model, processor = load_model(vanilla, options=config.model)
    data = build_data(world, request, Encoder(processor), config.unlearn)
    with output_dir(out) as stage:
        job = Job(model, data, config.unlearn, params, stage, show_progress, on_step)
        output: MethodOutput = kind().run(job)
        trained = time.perf_counter() - started
        labels = list(output.variants) if all_variants else [output.default]
        # The other processes of a launched run helped train; the main process writes.
        saved = _save_variants(model, processor, output, labels if is_main() else [], stage, out)
        meta = {
            "schema": RUN_SCHEMA,
            "key": key,
            "method": method,
            "summary": kind.summary,
            "params": asdict(params),
            "unlearn": asdict(config.unlearn),
            "vanilla": str(Path(vanilla).resolve()) if Path(vanilla).exists() else str(vanilla),
            "world_hash": world.world_hash,
            "request": {
                "label": request.label,
                "people": list(request.people),
                "forget_questions": len(data.forget),
                "retain_questions": len(data.retain),
                **({"earlier": list(request.earlier)} if request.earlier else {}),
            },
            "default": output.default,
            "variants": {
                label: {"params": v.params, "model": saved.get(label)}
                for label, v in output.variants.items()
            },
            "stats": output.stats,
            "precision": mixed_precision(config.unlearn.bf16),  # as in smfa-train.json
            "timings": {
                **output.timings,
                "total": round(time.perf_counter() - started, 3),
                "train_and_build": round(trained, 3),
            },
        }
        if is_distributed():  # provenance of a launched run (a plain run.json is unchanged)
            meta["processes"] = state().num_processes
        if is_main():
            atomic_write_json(stage / RUN_META, meta)
    return meta


def _finished_run(out: Path, vanilla: Path, key: str) -> dict[str, Any] | None:
    """The run already in `out` when it is this very run and intact; None when `out` is free
    (absent, empty, or this run with a model deleted or damaged since: it is run again)."""
    if Path(vanilla).resolve() == out.resolve():
        raise SmfaError(f"{out}: refusing to write over the model being unlearned")
    if out.is_dir() and not (out / RUN_META).is_file() and any(out.iterdir()):
        raise SmfaError(f"{out} is not empty and holds no unlearning run; choose another --out")
    check_out_dir(out, RUN_META, "unlearn")
    if not (out / RUN_META).is_file():
        return None
    try:
        meta = json.loads((out / RUN_META).read_text(encoding="utf-8"))
    except ValueError:
        raise SmfaError(f"{out / RUN_META} is not valid JSON; choose another --out") from None
    if not isinstance(meta, dict) or meta.get("key") != key:
        raise SmfaError(f"{out} holds another unlearning run; choose another --out")
    return meta if _intact(out, meta) else None


def _save_variants(
    model: Any, processor: Any, output: MethodOutput, labels: list[str], stage: Path, out: Path
) -> dict[str, str]:
    """Each variant of `labels` merged into the model (W0 + delta) and saved; the model is left
    as it was. Returns label -> the saved folder's name."""
    w0: dict[str, torch.Tensor] = {}
    saved = {}
    for label in labels:
        deltas = output.variants[label].deltas()
        w0.update(base_weights(model, [n for n in deltas if n not in w0]))
        merge_started = time.perf_counter()
        set_weights(model, w0, deltas)
        merge_seconds = time.perf_counter() - merge_started
        target = variant_dir(stage, label, output.default)
        save_model(model, processor, target, shown=Path(out) / target.name)
        saved[label] = target.name
        if label == output.default:
            output.timings["merge"] = round(merge_seconds, 4)
    set_weights(model, w0, {})
    return saved
