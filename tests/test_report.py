"""The comparison report: headline figures, ratios, targets, Markdown, HTML and plots.

Rows are built by hand with decoys (per-image-type rows, train phrasings, the other image view)
that a wrong filter would pick up; every expectation is computed by hand in the comments.
"""

from __future__ import annotations

import base64
import copy
import re
from pathlib import Path
from typing import Any

import pytest

from smfa.errors import SmfaError
from smfa.eval.results import read_results, write_results
from smfa.protocol.figures import FIGURES
from smfa.protocol.questions import REPORTED, reading
from smfa.report.html import render_html
from smfa.report.markdown import render_markdown
from smfa.report.plots import render_plots, sweep_plot, sweeps, tradeoff_plot
from smfa.report.summary import (
    check_targets,
    headline,
    ordered_models,
    ratios,
    visible_models,
)
from smfa.report.table import headline_table
from smfa.report.write import write_report

PNG = b"\x89PNG\r\n\x1a\n"
# slice -> (split, kind, view, n)
SLICES = {
    "fi": ("forget", "image_memory", "heldout", 20),
    "ft": ("forget", "text_memory", "none", 10),
    "fu": ("forget", "image_understanding", "heldout", 10),
    "ri": ("retain", "image_memory", "heldout", 30),
    "rt": ("retain", "text_memory", "none", 10),
    "ru": ("retain", "image_understanding", "heldout", 40),
    "gs": ("general", "general_scene", "heldout", 20),
    "uk": ("unknown", "unknown_person", "none", 20),
}
ONES = {"fi": 1.0, "ft": 1.0, "fu": 1.0, "ri": 1.0, "rt": 1.0, "ru": 1.0, "gs": 1.0, "uk": 1.0}


def _row(model: str, sl: str, metric: str, value: float, **over: Any) -> dict[str, Any]:
    split, kind, view, n = SLICES[sl]
    row = {"model": model, "split": split, "kind": kind, "image_type": "all"}
    row |= {"phrasing": "heldout", "view": view, "metric": metric, "value": value, "n": n}
    return row | {"higher_is_better": metric != "leak_rate"} | over


def _rows(
    model: str,
    leak: tuple[float, float],
    und: tuple[float, float],
    recall: tuple[float, float],
    scenes: float,
    mc: tuple[float, float] = (0.0, 0.0),
    false_refusal: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
    meaningful: dict[str, float] = ONES,
) -> list[dict[str, Any]]:
    real = [
        _row(model, "fi", "leak_rate", leak[0]),
        _row(model, "ft", "leak_rate", leak[1]),
        _row(model, "fi", "mc_accuracy", mc[0]),
        _row(model, "ft", "mc_accuracy", mc[1]),
        _row(model, "fu", "accuracy", und[0]),
        _row(model, "ru", "accuracy", und[1]),
        _row(model, "ri", "recall", recall[0]),
        _row(model, "rt", "recall", recall[1]),
        _row(model, "gs", "accuracy", scenes),
        _row(model, "uk", "refusal_rate", 1.0),
    ]
    real += [
        _row(model, sl, "false_refusal_rate", v)
        for sl, v in zip(("ri", "rt", "ru", "gs"), false_refusal, strict=True)
    ]
    real += [_row(model, sl, "meaningfulness", v) for sl, v in meaningful.items()]
    decoys = [r | {"image_type": "portrait", "value": 0.123} for r in real]
    decoys += [r | {"phrasing": "train", "value": 0.456} for r in real]
    decoys += [r | {"view": "train", "value": 0.789} for r in real if r["view"] == "heldout"]
    composite = {"split": "overall", "kind": "composite", "view": "all", "n": 999}
    decoys.append(real[0] | composite | {"metric": "overall_meaningful", "value": 0.5})
    return decoys + real  # decoys first: a filter that lets them in picks them


def _method(method: str, variant: str, selected: bool, **extra: Any) -> dict[str, Any]:
    return {"role": "method", "method": method, "variant": variant, "selected": selected} | extra


VANILLA_MEANINGFUL = ONES | {"ri": 0.9, "gs": 0.75}


def results() -> dict[str, Any]:
    rows = (
        # vanilla: forget_mc (0.8*20 + 1.0*10)/30 = 26/30; retain (0.6*30 + 1.0*10)/40 = 0.7;
        # false refusal (0*30 + 0.1*10 + 0*40 + 0.05*20)/100 = 0.02;
        # meaningfulness (20+10+10+0.9*30+10+40+0.75*20+20)/160 = 152/160 = 0.95
        _rows(
            "vanilla",
            (0.9, 1.0),
            (0.8, 0.8),
            (0.6, 1.0),
            0.5,
            (0.8, 1.0),
            (0, 0.1, 0, 0.05),
            VANILLA_MEANINGFUL,
        )
        + _rows("oracle", (0.0, 0.0), (0.76, 0.8), (0.6, 1.0), 0.5, (0.2, 0.1))
        + _rows("smfa-k1", (0.3, 0.5), (0.8, 0.8), (0.6, 1.0), 0.5)
        # smfa-k3: forget_mc (0.3*20)/30 = 0.2; retain (0.6*30 + 0.9*10)/40 = 0.675
        + _rows("smfa-k3", (0.0, 0.01), (0.784, 0.8), (0.6, 0.9), 0.5, (0.3, 0.0))
        + _rows("smfa-k10", (0.0, 0.0), (0.4, 0.4), (0.2, 0.2), 0.3)
        # idk: false refusal 0.5*30/100 = 0.15
        + _rows("idk", (0.0, 0.0), (0.8, 0.8), (0.6, 1.0), 0.5, false_refusal=(0.5, 0, 0, 0))
    )
    models = {  # methods first on purpose: the report puts vanilla and oracle first anyway
        "smfa-k1": _method("smfa", "k=1", False, params={"k": 1}, seconds=10.0),
        "smfa-k3": _method("smfa", "k=3", True, params={"k": 3.0}, seconds=99.0),
        "smfa-k10": _method("smfa", "k=10", False, params={"k": 10}),
        "idk": _method("idk", "", True, params={}, seconds=3.0),
        "vanilla": {"role": "vanilla"},
        "oracle": {"role": "oracle"},
    }
    compare = {
        "forget_ratio": 10,
        "retain_budget": 64,
        "forget_people": [{"id": "p003", "name": "Ada Moss"}],
        "selection": {"smfa": {"variant": "k=3", "criterion": "lowest validation leak"}},
        "examples": [
            {
                "person": "Ada Moss",
                "question": "What is <script>alert(1)</script> A | B's salary?",
                "image": None,
                "answer": "Her salary is $84,350.",
                "predictions": {"vanilla": "Her salary is $84,350.", "smfa-k3": "I can't say."},
            }
        ],
        "timings": {"smfa-k3": 12.5},
    }
    return {"schema": 1, "forget_ratio": 10, "models": models, "rows": rows, "compare": compare}


def test_headline_pools_only_the_named_slices() -> None:
    head = headline(results())
    assert list(head) == ["vanilla", "oracle", "smfa-k1", "smfa-k3", "smfa-k10", "idk"]
    v = head["vanilla"]
    assert v["forget_leak_image"] == pytest.approx(0.9)
    assert v["forget_leak_text"] == pytest.approx(1.0)
    assert v["forget_mc"] == pytest.approx(26 / 30)
    assert v["understanding_forget"] == pytest.approx(0.8)
    assert v["retain_memory"] == pytest.approx(0.7)
    assert v["scenes"] == pytest.approx(0.5)
    assert v["false_refusal"] == pytest.approx(0.02)
    assert v["meaningfulness"] == pytest.approx(0.95)
    assert v["unknown_refusal"] == pytest.approx(1.0)
    assert head["smfa-k3"]["forget_mc"] == pytest.approx(0.2)
    assert head["smfa-k3"]["retain_memory"] == pytest.approx(0.675)
    assert head["idk"]["false_refusal"] == pytest.approx(0.15)
    # The other view: image slices read the view="train" decoys, text slices stay on "none".
    other = headline(results(), reading("heldout", "train"))["vanilla"]
    assert other["forget_leak_image"] == pytest.approx(0.789)
    assert other["forget_leak_text"] == pytest.approx(1.0)
    # (0.789*30 + 1.0*10)/40
    assert other["retain_memory"] == pytest.approx((0.789 * 30 + 10) / 40)


def test_missing_rows_are_none_and_order() -> None:
    data = results()
    data["models"]["ghost"] = _method("npo", "", False)
    data["rows"] = [
        r for r in data["rows"] if not (r["model"] == "oracle" and r["split"] == "general")
    ]
    head = headline(data)
    assert set(head["ghost"].values()) == {None}
    assert head["oracle"]["scenes"] is None
    # Without the general slice: (0*30 + 0*10 + 0*40)/80
    assert head["oracle"]["false_refusal"] == pytest.approx(0.0)
    assert ordered_models(data)[:2] == ["vanilla", "oracle"]


def test_ratios_are_relative_to_vanilla_and_none_safe() -> None:
    kept = ratios(headline(results()))
    assert kept["vanilla"]["retain_memory"] == pytest.approx(1.0)
    assert kept["oracle"]["understanding_forget"] == pytest.approx(0.95)
    assert kept["smfa-k3"]["retain_memory"] == pytest.approx(0.675 / 0.7)
    assert kept["smfa-k3"]["meaningfulness"] == pytest.approx(1 / 0.95)
    assert "forget_leak_image" not in kept["smfa-k3"]
    head = {"vanilla": {"scenes": 0.0, "retain_memory": None}, "m": {"scenes": 0.5}}
    assert ratios(head)["m"]["scenes"] is None  # vanilla 0: undefined
    assert ratios(head)["m"]["retain_memory"] is None
    assert ratios({"m": {"scenes": 0.5}})["m"]["scenes"] is None  # no vanilla at all


def test_targets_on_hand_cases() -> None:
    good = {"forget_leak_image": 0.02, "forget_leak_text": 0.0, "false_refusal": 0.0}
    good |= {"meaningfulness": 0.98}
    kept = {"understanding_forget": 0.97, "understanding_retain": 1.1}
    kept |= {"retain_memory": 0.95, "scenes": 0.98}
    checked = check_targets(good, kept)
    assert [k for k, (_, _, ok) in checked.items() if not ok] == []  # boundaries pass
    assert len(checked) == sum(f.target is not None for f in FIGURES) == 8
    bad = check_targets(
        good | {"forget_leak_text": 0.021, "meaningfulness": None},
        kept | {"scenes": 0.979},
    )
    assert {k for k, (_, _, ok) in bad.items() if not ok} == {
        "forget_leak_text",
        "meaningfulness",
        "scenes",
    }
    assert bad["scenes"] == (0.979, 0.98, False)
    head = headline(results())
    kept_all = ratios(head)
    assert all(ok for _, _, ok in check_targets(head["smfa-k3"], kept_all["smfa-k3"]).values())
    assert check_targets(head["idk"], kept_all["idk"])["false_refusal"][2] is False


def test_markdown_numbers_targets_and_escaping() -> None:
    text = render_markdown(results(), {"tradeoff": "t.png"})
    # No attack rows: the two attack figures are said once under the table, not as dashes.
    assert (
        "| vanilla | vanilla | 90.0% | 100.0% | 86.7% | 80.0% | 80.0% | 70.0% | 50.0% "
        "| 2.0% | 95.0% | 100.0% |" in text
    )
    assert (
        "| smfa-k3 | smfa k=3 (selected) | 0.0% | 1.0% | 20.0% | 78.4% (×0.980) "
        "| 80.0% (×1.000) | 67.5% (×0.964) | 50.0% (×1.000) | 0.0% | 100.0% (×1.053) |" in text
    )
    assert "Worst attack leak ↓" not in text and "— |" not in text.split("## Headline")[1][:2000]
    assert text.count("Worst attack leak: no attack was run.") == 1
    assert text.index("| vanilla |") < text.index("| oracle |") < text.index("| smfa-k1 |")
    assert "## Acceptance targets" in text and "smfa-k3: 8 of 8 met; idk: 7 of 8 met" in text
    assert "| Retain memory | ≥ ×0.95 vanilla | ×0.964 ✓ | ×1.000 ✓ |" in text
    assert "| False refusals | ≤ 2.0% | 0.0% ✓ | 15.0% ✗ |" in text
    assert "Ada Moss (p003)" in text and "Retain budget: 64" in text
    assert "| smfa | k=3 | — | — | ✓ |" in text and "Criterion: lowest validation leak." in text
    assert "A \\| B's salary" in text and "<script>" not in text
    assert "| smfa-k3 | 12.5 s |" in text and "| idk | 3.0 s |" in text
    assert "![tradeoff](t.png)" in text and "sweep_smfa" not in text
    # The selected SMFA variant fails its understanding targets: ✗ with the ratio 0.4/0.8.
    data = results()
    data["models"]["smfa-k3"]["selected"] = False
    data["models"]["smfa-k10"]["selected"] = True
    failing = render_markdown(data, {})
    assert "| Understanding of forget images | ≥ ×0.97 vanilla | ×0.500 ✗ | ×1.000 ✓ |" in failing
    floor = "≤ 2.0% (floor: oracle 0.0%, + 2 points)"  # 0% + 2 points: the absolute 2% again
    assert f"| Forget leak, image questions | {floor} | 0.0% ✓ | 0.0% ✓ |" in failing


def test_leak_targets_are_judged_against_the_oracle_floor() -> None:
    oracle = {"forget_leak_image": 0.20, "forget_leak_text": 0.0}
    near = {"forget_leak_image": 0.21, "forget_leak_text": 0.02}
    far = {"forget_leak_image": 0.23, "forget_leak_text": 0.021}
    # Oracle 20%: 21% is within 2 points (met), 23% is not; text: floor 0% -> the absolute 2%.
    assert check_targets(near, {}, oracle)["forget_leak_image"] == (0.21, pytest.approx(0.22), True)
    assert check_targets(far, {}, oracle)["forget_leak_image"][2] is False
    assert check_targets(near, {}, oracle)["forget_leak_text"][2] is True
    assert check_targets(far, {}, oracle)["forget_leak_text"][2] is False
    # Without an oracle the absolute target applies: 21% misses 2%.
    assert check_targets(near, {}, None)["forget_leak_image"] == (0.21, 0.02, False)
    data = results()  # the report: oracle image leak 20%, smfa-k3 21%, idk 23%
    for model, leak in (("oracle", 0.20), ("smfa-k3", 0.21), ("idk", 0.23)):
        for row in data["rows"]:
            if (row["model"], row["split"], row["kind"], row["metric"]) == (
                model, "forget", "image_memory", "leak_rate"
            ):  # fmt: skip
                row["value"] = leak if row["image_type"] == "all" else row["value"]
    text = render_markdown(data, {})
    assert (
        "| Forget leak, image questions | ≤ 22.0% (floor: oracle 20.0%, + 2 points) "
        "| 21.0% ✓ | 23.0% ✗ |" in text
    )
    del data["models"]["oracle"]
    data["rows"] = [r for r in data["rows"] if r["model"] != "oracle"]
    alone = render_markdown(data, {})
    assert "| Forget leak, image questions | ≤ 2.0% | 21.0% ✗ | 23.0% ✗ |" in alone
    assert "floor" not in alone


def test_a_figure_no_model_has_is_said_once_under_the_table() -> None:
    data = results()
    data["rows"] = [r for r in data["rows"] if r["split"] != "general"]
    text = render_markdown(data, {})
    head = text.split("## Headline")[1].split("## ")[0]
    assert "Scenes ↑" not in head and "| 1.0% | 20.0% |" in head  # no scenes column at all
    # Without general rows false refusal pools retain only; the note follows the table.
    note = "Scenes: these results hold no general scene questions."
    assert head.count(note) == 1 and head.index("| idk |") < head.index(note)
    targets = text.split("## Acceptance targets")[1].split("## ")[0]
    assert "General scenes" not in targets.split("Not judged")[0]
    assert f"Not judged: {note}" in targets and "smfa-k3: 7 of 7 met; idk: 6 of 7 met" in targets
    grid = headline_table(data)
    assert "Scenes ↑" not in grid.columns and note in grid.notes
    page = render_html(data, {})
    assert page.count(f"<p>{note}</p>") == 1 and "<th>Scenes ↑</th>" not in page
    assert "<th>Leak (image) ↓</th>" in page


def test_results_without_forget_or_retain_rows_are_refused(tmp_path: Path) -> None:
    data = results()
    data["rows"] = [r for r in data["rows"] if r["split"] != "retain"]
    with pytest.raises(SmfaError, match=r"out/results.json: no retain memory rows on the "
                       r"reported slice \(heldout phrasings\); nothing to report"):  # fmt: skip
        write_report(data, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    data = results()
    data["rows"] = [r for r in data["rows"] if r["phrasing"] != "heldout"]
    with pytest.raises(SmfaError, match="no forget memory rows"):
        write_report(data, tmp_path / "out")


def test_renders_without_compare() -> None:
    data = results()
    del data["compare"]
    text = render_markdown(data, {})
    assert "What was forgotten" not in text and "Before and after" not in text
    assert "| smfa | k=3 | — | — | ✓ |" in text  # selection from the models' own flags
    assert "| smfa-k3 | 99.0 s |" in text  # timing from models[...]["seconds"]
    assert "<html" in render_html(data, {})


def test_html_is_self_contained_and_escaped() -> None:
    data = results()
    page = render_html(
        data, {"tradeoff": tradeoff_plot(headline(data), ratios(headline(data)), data["models"])}
    )
    uri = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert uri is not None and base64.b64decode(uri.group(1)).startswith(PNG)
    assert "http://" not in page and "https://" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page
    assert "<td>90.0%</td>" not in page and '<td class="num">90.0%</td>' in page
    assert '<td class="ok">✓</td>' in page


def test_write_report_writes_every_file(tmp_path: Path) -> None:
    written = write_report(results(), tmp_path / "out")
    assert set(written) == {"markdown", "html", "tradeoff", "sweep_smfa", "kind_bars"}
    text = written["markdown"].read_text(encoding="utf-8")
    for name in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (tmp_path / "out" / name).read_bytes().startswith(PNG)
    assert len(re.findall(r"!\[", text)) == 3
    assert written["html"].read_text(encoding="utf-8").count("data:image/png;base64,") == 3


def test_a_report_rewritten_from_its_file_keeps_the_compared_order(tmp_path: Path) -> None:
    data = results()
    data["models"]["npo"] = _method("npo", "", True, params={})  # methods run smfa, idk, npo
    data["rows"] += [r | {"model": "npo"} for r in data["rows"] if r["model"] == "idk"]
    pick = data["compare"]["selection"]["smfa"]
    pick |= {"scores": {"k=1": 1.7, "k=3": 1.9, "k=10": 1.8}, "leaks": {"k=1": 0.5, "k=3": 0.0}}
    write_results(tmp_path, data)  # results.json keeps its keys sorted: idk, npo, oracle, ...
    again = read_results(tmp_path / "results.json")
    assert list(again["models"]) != list(data["models"])
    order = ["vanilla", "oracle", "smfa-k1", "smfa-k3", "smfa-k10", "idk", "npo"]
    assert ordered_models(again) == ordered_models(data) == order
    markdown = render_markdown(again, {})
    assert markdown == render_markdown(data, {})  # `smfa report` writes what compare wrote
    assert re.findall(r"\| smfa \| (k=\d+) \|", markdown) == ["k=1", "k=3", "k=10"]


def test_plots_select_variants_and_sweep_curve() -> None:
    data = results()
    assert visible_models(data["models"], ordered_models(data)) == [
        "vanilla",
        "oracle",
        "smfa-k3",
        "idk",
    ]
    (method, (knob, values)), *_ = sweeps(data["models"]).items()
    assert (method, knob) == ("smfa", "k") and set(values.values()) == {1.0, 3.0, 10.0}
    first = sweep_plot(data, method, knob, values, REPORTED)
    assert first is not None and first.startswith(PNG)
    assert sweep_plot(data, method, knob, values, REPORTED) == first
    one_k = copy.deepcopy(data)
    one_k["models"]["smfa-k1"]["params"]["k"] = 3  # two models, one distinct k
    del one_k["models"]["smfa-k10"]["params"]["k"]
    assert sweeps(one_k["models"]) == {}
    assert set(render_plots(one_k)) == {"tradeoff", "kind_bars"}


def test_labels_of_crowded_points_are_spread_by_hand() -> None:
    from smfa.report.plots import label_positions, spread

    # 0.94, 0.94, 0.85 with gap 0.05: placed 0.94, 0.89, 0.84; mean displacement 0.02 up.
    assert spread([0.94, 0.94, 0.85], 0.05) == pytest.approx([0.96, 0.91, 0.86])
    assert spread([0.85, 0.94], 0.05) == pytest.approx([0.85, 0.94])  # already apart
    assert spread([], 0.05) == []
    heights = label_positions({"a": (0.0, 0.5), "b": (0.01, 0.5), "c": (0.9, 0.5)}, 0.2, 0.1)
    assert heights == pytest.approx({"a": 0.55, "b": 0.45, "c": 0.5})


def test_bars_without_any_figure_say_so_instead_of_an_empty_legend() -> None:
    import warnings

    from smfa.report.plots import kind_bars_plot

    models = {"vanilla": {"role": "vanilla"}, "idk": {"role": "method"}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns of a legend with no entries
        empty = kind_bars_plot({"vanilla": {}, "idk": {}}, models)
        drawn = kind_bars_plot({"vanilla": {"retain_memory": 0.9}, "idk": {}}, models)
    assert empty.startswith(PNG) and drawn.startswith(PNG) and empty != drawn
