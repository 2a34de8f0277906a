"""Membership inference: hand-computed AUC, Min-K%, Min-K%++ and zlib scores; never-seen answers
of the same template; the knower told apart from the never-knew model; the headline's MIA AUC
gap read from the rows."""

from __future__ import annotations

import dataclasses
import math
import zlib
from pathlib import Path

import pytest

from smfa.attacks.mia import MembershipInference, known_values, never_seen
from smfa.data.format import World
from smfa.errors import SmfaError
from smfa.eval import membership
from smfa.protocol.figures import figures_of
from smfa.report.sections import headline_header
from tests.conftest import attack_session, person_text, probe_rows


def test_auc_counts_pairs_and_ties_by_hand() -> None:
    assert membership.auc([3, 4], [1, 2]) == 1.0  # perfect separation
    assert membership.auc([1, 2], [3, 4]) == 0.0
    assert membership.auc([5, 5, 5], [5, 5]) == 0.5  # all equal
    # Pairs (p, n): (2,1) win, (2,2) tie, (2,3) loss, (4,*) three wins -> (1 + .5 + 3) / 6.
    assert membership.auc([2, 4], [1, 2, 3]) == pytest.approx(4.5 / 6)
    assert membership.auc([0.7], [0.2, 0.7, 0.7, 0.9]) == pytest.approx((1 + 0.5 + 0.5) / 4)
    with pytest.raises(SmfaError, match="at least one positive"):
        membership.auc([], [1.0])
    with pytest.raises(SmfaError, match="NaN"):
        membership.auc([math.nan], [1.0])


def test_min_k_min_k_plus_plus_and_zlib_by_hand() -> None:
    logprobs = [-0.1, -2.0, -0.5, -4.0, -1.0, -0.2, -0.3, -3.0, -0.4, -0.6]
    assert membership.min_k(logprobs) == pytest.approx((-4.0 - 3.0) / 2)  # the lowest 20%: 2 of 10
    assert membership.min_k([-1.0, -2.0]) == -2.0  # short answers: at least one token
    # Standardized by each position's mean and deviation: z = (-1-(-2))/1, (-3-(-1))/4, (0-0)/2.
    assert membership.min_k_plus_plus([-1.0, -3.0, 0.0], [-2.0, -1.0, 0.0], [1.0, 4.0, 2.0]) == -0.5
    # A one-hot position (deviation 0) is no division by zero.
    assert membership.min_k_plus_plus([0.0], [0.0], [0.0]) == 0.0
    text = "Ana Bel's home city is Varenrest."
    assert membership.zlib_score(-1.5, text) == -1.5 / len(zlib.compress(text.encode()))
    with pytest.raises(SmfaError, match="one mean and one deviation per token"):
        membership.min_k_plus_plus([-1.0], [], [])


def test_never_seen_answers_keep_the_template_with_a_value_nobody_has(
    mini_world: World,
) -> None:
    known = known_values(mini_world)
    for q in person_text(mini_world, "heldout"):
        other = never_seen(q, known, {})
        assert other is not None and other != q.answer
        prefix = q.answer[: q.answer.find(q.value)]
        suffix = q.answer[q.answer.find(q.value) + len(q.value) :]
        value = other.removeprefix(prefix).removesuffix(suffix)
        assert other.startswith(prefix) and other.endswith(suffix)
        assert value not in known[q.attribute]  # never learned by any model
        assert never_seen(q, known, {}) == other  # seeded by the question
    # Free text: another asked person's value of the same attribute type, in the same sentence.
    q = dataclasses.replace(person_text(mini_world, "heldout")[0], answer_type="text")
    others = {q.attribute_type: [q.value, "Holmgard"]}
    assert never_seen(q, known, others) == q.answer.replace(q.value, "Holmgard")
    assert never_seen(q, known, {q.attribute_type: [q.value]}) is None


def test_the_knower_is_told_apart_the_never_knew_model_is_not(
    refuser: tuple, never_knew: tuple, mini_world: World, tmp_path: Path
) -> None:
    questions = person_text(mini_world, "heldout")

    def aucs(model: tuple) -> dict[str, float]:
        rows = probe_rows(
            MembershipInference(), attack_session(*model, mini_world, questions, [], tmp_path)
        )
        assert {r["split"] for r in rows} == {"forget"}
        pooled = [r for r in rows if r["kind"] == "all"]
        assert all(r["n"] == 2 * len(questions) and not r["higher_is_better"] for r in pooled)
        return {r["metric"]: r["value"] for r in pooled}

    knower, oracle = aucs(refuser), aucs(never_knew)
    assert sorted(knower) == [f"mia_auc_{s}" for s in sorted(membership.MIA_SCORES)]
    assert all(knower[m] >= 0.9 for m in knower)  # refusing, it still prefers the true value
    assert all(abs(oracle[m] - 0.5) <= 0.25 for m in oracle)  # never saw: about a guess
    assert all(knower[m] > oracle[m] + 0.2 for m in knower)


def _row(model: str, metric: str, value: float, split: str = "forget") -> dict:
    return {
        "model": model, "probe": "mia", "split": split, "kind": "all", "image_type": "all",
        "phrasing": "heldout", "view": "all", "metric": metric, "value": value, "n": 20,
        "higher_is_better": False,
    }  # fmt: skip


def test_the_headline_mia_gap_is_the_largest_auc_distance_to_the_oracle() -> None:
    models = {"vanilla": {"role": "vanilla"}, "oracle": {"role": "oracle"}, "m": {}}
    rows = [
        _row("oracle", "mia_auc_loss", 0.55), _row("oracle", "mia_auc_minkpp", 0.40),
        _row("vanilla", "mia_auc_loss", 0.95), _row("vanilla", "mia_auc_minkpp", 0.90),
        _row("m", "mia_auc_loss", 0.50), _row("m", "mia_auc_minkpp", 0.52),
        _row("m", "mia_auc_zlib", 0.99),  # the oracle has no zlib row: not compared
        _row("m", "mia_auc_loss", 0.99, split="retain"),  # retain rows never count
    ]  # fmt: skip
    data = {"models": models, "rows": rows}
    head = figures_of(data, ["vanilla", "oracle", "m"])
    assert head["oracle"]["mia_gap"] == 0.0
    assert head["vanilla"]["mia_gap"] == pytest.approx(0.50)  # |0.90 - 0.40| beats |0.95 - 0.55|
    assert head["m"]["mia_gap"] == pytest.approx(0.12)  # |0.52 - 0.40|
    assert figures_of({"models": {"m": {}}, "rows": rows}, ["m"])["m"]["mia_gap"] is None
    assert "MIA AUC gap ↓" in headline_header()
