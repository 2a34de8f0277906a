"""Issue 20, nothing lost and nothing silently wrong: each bad input ends as one clear error.

Every test here runs the real code on the miniature world and tiny models of conftest.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from smfa.data.format import World
from smfa.errors import SmfaError
from smfa.unlearn import resolve_request

from .test_cli import assert_one_line_error, smfa


def test_a_name_shared_by_two_people_is_refused(mini_world: World) -> None:
    first, second = list(mini_world.people.values())[:2]
    twin = dataclasses.replace(second, name=first.name)
    world = dataclasses.replace(mini_world, people={**mini_world.people, second.id: twin})
    with pytest.raises(SmfaError, match=f"names 2 people \\({first.id}, {second.id}\\)"):
        resolve_request(world, people=[first.name.lower()])
    assert resolve_request(world, people=[second.id]).people == (second.id,)


def test_a_world_finished_with_write_manifest_trains(mini_world_dir: Path, tmp_path: Path) -> None:
    import shutil

    from smfa.data.format import load_world
    from smfa.reference import BASE_META, build_base
    from smfa.world.build import write_manifest

    from .conftest import TINY_MODEL

    root = tmp_path / "mine"
    shutil.copytree(mini_world_dir, root)
    (root / "manifest.json").unlink()
    write_manifest(root)  # as docs/data-format.md says: no seed, no params
    world = load_world(root)
    assert world.manifest["params"] is None
    base = build_base(world, TINY_MODEL, 0, tmp_path / "work")
    assert (base / BASE_META).is_file()


FAST_EVAL = [
    "--set", "eval.phrasings=heldout", "--set", "eval.max_new_tokens=4",
    "--set", "eval.likelihood=false", "--set", "eval.train_scenes=false",
]  # fmt: skip


@pytest.fixture(scope="module")
def model_dir(tiny: tuple[object, object], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model saved under a folder whose name holds '='."""
    from smfa.models.io import save_model

    model, processor = tiny
    return save_model(model, processor, tmp_path_factory.mktemp("m") / "run=1" / "model")


def test_a_model_path_with_an_equals_sign(
    model_dir: Path, mini_world_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    work = ["--set", f"workdir={tmp_path / 'work'}"]
    smfa("eval", "--model", f"tiny={model_dir}", "--world", mini_world_dir, "--out", out,
         *work, *FAST_EVAL)  # fmt: skip
    assert json.loads((out / "results.json").read_text())["models"]["tiny"]["path"] == str(
        model_dir
    )
    assert (out / "generations-tiny.jsonl").is_file()


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden", "x y"])
def test_a_model_name_cannot_leave_out(
    name: str, model_dir: Path, mini_world_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "deep" / "out"
    result = smfa("eval", "--model", f"{name}={model_dir}", "--world", mini_world_dir,
                  "--out", out, check=False)  # fmt: skip
    assert_one_line_error(result, f"model name '{name}'")
    assert not (tmp_path / "deep").exists()
