"""Config: YAML, overrides, and clear errors for unknown keys and bad values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smfa.config import load_config
from smfa.errors import ConfigError


def test_defaults_yaml_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  lr: 0.002\n  batch_size: 8\nforget_ratio: 5\n")
    config = load_config(path, ["train.lr=3e-4", "compare.methods=smfa,idk"])
    assert config.train.lr == pytest.approx(3e-4)  # the override wins over the file
    assert config.train.batch_size == 8
    assert config.forget_ratio == 5
    assert config.compare.methods == ["smfa", "idk"]
    assert config.world.people == 25  # untouched default


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trian.lr=1", "unknown config key 'trian' (did you mean 'train'?)"),
        ("train.lrr=1", "unknown config key 'train.lrr' (did you mean 'train.lr'?)"),
        ("train.batch_size=abc", "train.batch_size: expected int, got 'abc'"),
        ("train.augment=maybe", "train.augment: expected true or false"),
        ("train.batch_size=1.5", "train.batch_size: expected an integer"),
        ("lr", "must look like section.key=value"),
    ],
)
def test_bad_overrides(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, [override])


def test_unknown_key_in_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("world:\n  peple: 10\n")
    with pytest.raises(
        ConfigError,
        match=r"bad.yaml: unknown config key 'world.peple' "
        r"\(did you mean 'world.people'\?\)",
    ):
        load_config(path)


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: invalid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_shipped_default_yaml_matches_the_dataclasses() -> None:
    import dataclasses

    import yaml

    from smfa.config import RunConfig

    path = Path(__file__).parent.parent / "configs" / "default.yaml"
    shipped = load_config(path)
    assert dataclasses.asdict(shipped) == dataclasses.asdict(RunConfig())
    written = yaml.safe_load(path.read_text())
    for section, values in dataclasses.asdict(RunConfig()).items():
        if isinstance(values, dict) and section != "methods":  # every key, written out
            assert set(written[section]) == set(values), section


def test_compare_methods_all_runs_every_registered_method_defaults_first() -> None:
    from smfa.checks import check_run
    from smfa.methods import REGISTRY

    config = check_run(load_config(None, ["compare.methods=all"]))
    defaults = ["smfa", "vera", "idk", "npo"]
    assert config.compare.methods[: len(defaults)] == defaults
    rest = config.compare.methods[len(defaults) :]
    assert rest == sorted(rest) and "fisher" in rest and "undo" in rest and "ga" in rest
    assert sorted(config.compare.methods) == sorted(REGISTRY)
    with pytest.raises(ConfigError, match="'all' stands alone"):
        check_run(load_config(None, ["compare.methods=all,smfa"]))


def test_the_defaults_pass_every_check_and_only_set_values_are_looked_up() -> None:
    from smfa.checks import check_run
    from smfa.config import RunConfig

    check_run(RunConfig(), every=True)  # what check_run leaves unlooked-up must be valid
    with pytest.raises(ConfigError, match=r"eval\.attacks"):
        check_run(load_config(None, ["eval.attacks=prefil"]))
    with pytest.raises(ConfigError, match=r"compare\.methods"):
        check_run(load_config(None, ["compare.methods=smfa,veraa"]))
    with pytest.raises(ConfigError, match=r"methods\.vera"):
        check_run(load_config(None, ["methods.vera.rnak=4"]))


def test_commands_that_load_no_model_import_no_torch(tmp_path: Path) -> None:
    """`smfa world build` and `smfa keygen` start without torch, transformers or peft (an
    identical world is reused in about a second, not after 10 s of imports), and so does
    `smfa verify` until it measures a model (`--hashes-only` never does)."""
    import json
    import subprocess
    import sys

    code = (  # the commands in turn, as tests/launched.py runs them, then what was imported
        "import json, sys\nfrom tests.launched import run_all\n"
        "run_all(json.loads(sys.argv[1]))\n"
        "import smfa.erasure.show, smfa.erasure.verify\n"
        "heavy = {'torch', 'transformers', 'peft', 'accelerate'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    world = ["world", "build", "--out", str(tmp_path / "w"), "--set", "world.people=6"]
    world += ["--set", "world.forget_ratios=[20]"]
    keygen = ["keygen", str(tmp_path / "key")]
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps([world, keygen])],
        cwd=Path(__file__).parents[1],  # where `tests` is a package
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "w" / "manifest.json").is_file() and (tmp_path / "key.pub").is_file()
