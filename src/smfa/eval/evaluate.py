"""The one evaluation: a model asked once by every probe an `Ask` names, scored once, cached.

`evaluate(model_dir, world, Ask(slice, forget_people, probes), settings, workdir)` loads the
model at most once, runs each probe (the plain probe and the attacks, `smfa.eval.probe`),
scores every answer with the one scorer (`smfa.eval.scoring`) and returns typed rows
(`smfa.eval.rows.Row`, each with its `probe`) and the plain probe's answers, one record per
question. `smfa eval`, `smfa compare` and the erasure records each make this one call per model.

One cache entry per evaluation key (the model's weights, the world, the slice, the forget
people, how the model is loaded) holds each probe's rows beside the settings that probe
depends on (`Probe.settings`): a repeated evaluation re-asks nothing, an added attack asks only
itself, a changed setting re-asks only the probes it concerns. A damaged entry is asked again.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from smfa.config import EvalConfig, ModelConfig
from smfa.data.records import World
from smfa.distributed import barrier, is_distributed, is_main, state
from smfa.eval.probe import Probe, Session, Tick, get_probe
from smfa.eval.rows import Row, records
from smfa.eval.scoring import score
from smfa.io import atomic_write_json, canonical_json, sha256_text
from smfa.models.io import load_model, load_options, model_fingerprint
from smfa.protocol.questions import Slice

EVAL_SCHEMA = 3  # 3: one entry per evaluation, rows of every probe (was: plain and per attack)
PLAIN = "plain"
TASKS = "mllmu_tasks"  # asked whenever the world holds a benchmark's own tasks


@dataclass(frozen=True)
class Ask:
    """What an evaluation asks: a slice, whom it counts as forgotten, and which probes."""

    slice: Slice
    forget_people: tuple[str, ...]
    probes: tuple[str, ...] = (PLAIN,)

    @classmethod
    def of(cls, part: Slice, forget_people: Any, attacks: Any = ()) -> Ask:
        """The plain probe and `attacks`, forget people sorted (the cache key ignores order)."""
        return cls(part, tuple(sorted(forget_people)), (PLAIN, *attacks))


@dataclass
class Evaluation:
    """What one evaluation returns: rows of every probe, and the plain probe's answers."""

    rows: list[Row]
    records: list[dict[str, Any]] = field(default_factory=list)


def probe_names(ask: Ask, world: World) -> list[str]:
    """The probes an evaluation asks: the Ask's, and the benchmark's own tasks (MLLMU-Bench's
    metrics, `smfa.eval.mllmu_tasks`) beside the plain probe when the world has them and the
    slice asks likelihoods (not on the validation slice, which only chooses variants)."""
    names = list(dict.fromkeys(ask.probes))
    if world.tasks and PLAIN in names and ask.slice.likelihood and TASKS not in names:
        names.append(TASKS)
    return names


def evaluation_key(model_dir: Path, world: World, ask: Ask, options: ModelConfig) -> str:
    part = ask.slice
    payload = {
        "schema": EVAL_SCHEMA,
        "model": model_fingerprint(model_dir),
        "world": world.world_hash,
        "slice": {
            "phrasings": list(part.phrasings),
            "image_view": part.image_view,
            "scene_view": part.scene_view,
            "trained_scenes": part.trained_scenes,
            "likelihood": part.likelihood,
        },
        "forget_people": sorted(ask.forget_people),
        "loading": {k: str(v) for k, v in load_options(options).items()},
    }
    return sha256_text(canonical_json(payload))


def evaluate(
    model_dir: Path,
    world: World,
    ask: Ask,
    settings: EvalConfig,
    workdir: Path,
    *,
    name: str = "model",
    options: ModelConfig | None = None,
    tick: Tick | None = None,
) -> Evaluation:
    """Every probe of `ask` on the model in `model_dir` (rows and records named `name`)."""
    torch.set_num_threads(settings.threads)
    options = options if options is not None else ModelConfig()
    probes = [get_probe(p)() for p in probe_names(ask, world)]
    path = Path(workdir) / "evals" / f"{evaluation_key(model_dir, world, ask, options)[:16]}.json"
    entries = read_entries(path)
    session: Session | None = None
    asked = False
    for probe in probes:
        wanted = json.loads(canonical_json(probe.settings(settings)))
        entry = entries.get(probe.name)
        if entry is not None and entry["settings"] == wanted:
            continue
        if session is None:
            session = _session(model_dir, world, ask, settings, workdir, options, tick)
        entries[probe.name] = {"settings": wanted, **ask_probe(probe, session)}
        asked = True
    if asked and is_main():
        atomic_write_json(path, {**read_entries(path), **entries}, indent=None)
    barrier()  # every process sees the same cache before the next evaluation
    rows: list[Row] = [
        {**row, "model": name}  # type: ignore[typeddict-item]
        for probe in probes
        for row in entries[probe.name]["rows"]
    ]
    answered = entries.get(PLAIN, {}).get("records", []) if PLAIN in ask.probes else []
    return Evaluation(rows, [{**r, "model": name} for r in answered])


def ask_probe(probe: Probe, session: Session) -> dict[str, Any]:
    """One probe's rows (and, for the plain probe, its answers as records)."""
    label = "" if probe.name == PLAIN else f"attack {probe.name} · "
    tick = session.tick
    shown = (lambda what, done, total: tick(label + what, done, total)) if tick else None
    session = dataclasses.replace(session, tick=shown)
    scored = [score(a, session.settings.fuzzy_threshold, probe.metrics) for a in probe.ask(session)]
    probe.finish(session, scored)
    return {"rows": probe.rows(scored), "records": [] if probe.pooled else records("model", scored)}


def _session(
    model_dir: Path,
    world: World,
    ask: Ask,
    settings: EvalConfig,
    workdir: Path,
    options: ModelConfig,
    tick: Tick | None,
) -> Session:
    """The model loaded once, with a way to load fresh copies at another precision."""
    model, processor = load_model(model_dir, options=options)
    if is_distributed():  # launched: each process asks its share on its own device
        model.to(state().device)

    def load(precision: str) -> Any:
        wanted = dataclasses.replace(options, dtype=precision)
        if precision == "fp32" and options.device != "cpu" and "int8" in ask.probes:
            wanted = dataclasses.replace(wanted, device="cpu")  # int8 kernels are CPU-only
        return load_model(model_dir, options=wanted)[0]

    return Session(model, processor, world, ask, settings, Path(workdir), load, tick)


def read_entries(path: Path) -> dict[str, dict[str, Any]]:
    """A cache file's probe entries; a missing or damaged file, or entry, counts as absent."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        name: entry
        for name, entry in data.items()
        if isinstance(entry, dict)
        and isinstance(entry.get("settings"), dict)
        and isinstance(entry.get("rows"), list)
        and all(isinstance(row, dict) for row in entry["rows"])
        and isinstance(entry.get("records"), list)
    }
