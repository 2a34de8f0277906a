"""From `eval.judge` to a judge, and from a judge to per-question scores of the plain probe.

Spec forms: "" (no judge, the default), "http(s)://HOST:PORT/v1@MODEL" (an OpenAI-compatible
endpoint and the model it serves), or the path of a local model directory. `add_judge_scores`
adds `judge_fact` to every memory question and `judge_meaning` to every question, as ordinary
per-question scores, so `aggregate` reports them like any other metric; an unparseable reply
under `eval.judge_unparseable=nan` leaves that question without the score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smfa.errors import JudgeError
from smfa.judge.base import Judge
from smfa.judge.hf import HfJudge
from smfa.judge.http import DEFAULT_KEY_ENV, HttpJudge
from smfa.vocab import MEMORY_KINDS

if TYPE_CHECKING:
    from smfa.config import EvalConfig

CHUNK = 32  # questions per judge call between progress ticks


def check_spec(spec: str) -> None:
    """Raise `JudgeError` unless `spec` is empty, URL@MODEL, or an existing directory.

    Cheap (no request, no loading): commands call it before any model work.
    """
    spec = spec.strip()
    if not spec:
        return
    if spec.startswith(("http://", "https://")):
        base_url, at, model = spec.rpartition("@")
        if not (at and base_url and model.strip()):
            raise JudgeError(
                f"eval.judge {spec!r}: an endpoint spec is URL@MODEL, "
                "e.g. http://127.0.0.1:8000/v1@Qwen/Qwen2.5-7B-Instruct"
            )
    elif not Path(spec).expanduser().is_dir():
        raise JudgeError(
            f"eval.judge {spec!r} is neither http(s)://HOST/v1@MODEL nor a model directory"
        )


def make_judge(
    spec: str,
    key_env: str = DEFAULT_KEY_ENV,
    timeout: float = 60.0,
    unparseable: str = "error",
    trust_remote_code: bool = False,
) -> Judge | None:
    """The judge a spec names, or None for an empty spec."""
    check_spec(spec)
    spec = spec.strip()
    if not spec:
        return None
    if spec.startswith(("http://", "https://")):
        base_url, _, model = spec.rpartition("@")
        return HttpJudge(
            base_url, model.strip(), key_env=key_env, timeout=timeout, unparseable=unparseable
        )
    path = Path(spec).expanduser()
    return HfJudge(path, unparseable=unparseable, trust_remote_code=trust_remote_code)


def judge_from_config(config: EvalConfig, trust_remote_code: bool = False) -> Judge | None:
    """The judge `config.judge` names (None when unset)."""
    return make_judge(
        config.judge,
        key_env=config.judge_key_env,
        timeout=config.judge_timeout,
        unparseable=config.judge_unparseable,
        trust_remote_code=trust_remote_code,
    )


def _in_chunks(
    score: Callable[..., list[float]],
    columns: Sequence[Sequence[str]],
    advance: Callable[[int], None],
) -> list[float]:
    out: list[float] = []
    for start in range(0, len(columns[0]), CHUNK):
        part = [column[start : start + CHUNK] for column in columns]
        out.extend(score(*part))
        advance(len(part[0]))
    return out


def add_judge_scores(
    judge: Judge, scored: Sequence[Any], tick: Callable[[str, int, int], None] | None = None
) -> None:
    """Add `judge_fact` (memory questions) and `judge_meaning` (all) to each `Scored`'s scores."""
    memory = [s for s in scored if s.question.kind in MEMORY_KINDS]
    total = len(memory) + len(scored)
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        if tick is not None:
            tick("judge", done[0], total)

    facts = _in_chunks(
        judge.score_fact,
        (
            [s.question.question for s in memory],
            [s.question.answer for s in memory],
            [s.prediction for s in memory],
        ),
        advance,
    )
    meanings = _in_chunks(
        judge.score_meaning,
        ([s.question.question for s in scored], [s.prediction for s in scored]),
        advance,
    )
    for metric, items, values in (
        ("judge_fact", memory, facts),
        ("judge_meaning", scored, meanings),
    ):
        for s, value in zip(items, values, strict=True):
            if not math.isnan(value):
                s.scores[metric] = float(value)
