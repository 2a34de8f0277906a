"""A verifier's policy: what `smfa verify` holds a model to, chosen by the verifier.

A record says which thresholds and settings its writer used; a verifier who took them from the
record would let the record certify itself. The policy is the verifier's own: the project's
defaults (configs/default.yaml: `erasure.*` thresholds, `eval.*` probes and attacks, `model.*`
loading), then a policy file (`--policy FILE`, YAML with `erasure`, `eval` and `model`
sections; an unknown key is an error with a did-you-mean hint), then `--set` overrides. Its
canonical JSON hashes to `policy_sha256`, so a verdict names the policy it was reached under.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from smfa.checks import check_run
from smfa.config import (
    ErasureConfig,
    EvalConfig,
    ModelConfig,
    RunConfig,
    apply_section,
    load_config,
)
from smfa.errors import ConfigError
from smfa.io import canonical_json, sha256_text

SECTIONS = ("erasure", "eval", "model")
# Settings that change how fast a measurement runs, not what it finds (left out of comparisons).
PACE = ("batch_size", "threads", "judge_timeout", "judge_key_env")


@dataclass
class PolicyFile:
    """What a policy file may set: the sections of the run configuration a verification reads."""

    erasure: ErasureConfig = field(default_factory=ErasureConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    model: ModelConfig = field(default_factory=ModelConfig)


@dataclass
class Policy(PolicyFile):
    """A verifier's policy, and where it came from (defaults, a file, `--set`)."""

    sources: list[str] = field(default_factory=lambda: ["project defaults"])

    def settings(self) -> dict[str, Any]:
        """What the policy holds a model to: thresholds, the measurement's evaluation settings
        (the reported slice) and the loading settings."""
        thresholds = ("measure", "max_leak", "max_attack_leak", "tolerance")
        return {
            "erasure": {k: getattr(self.erasure, k) for k in thresholds},
            "eval": dataclasses.asdict(self.eval),
            "model": dataclasses.asdict(self.model),
        }

    def sha256(self) -> str:
        return sha256_text(canonical_json(self.settings()))


def load_policy(path: Path | None = None, overrides: list[str] | None = None) -> Policy:
    """The project's defaults, then the policy file (if any), then `--set` overrides."""
    config = RunConfig()
    sources = ["project defaults"]
    if path is not None:
        apply_section(config, _read_policy(Path(path)), "")
        sources.append(f"--policy {path}")
    for item in overrides or []:
        section = item.split("=", 1)[0].strip().split(".", 1)[0]
        if section not in SECTIONS:
            raise ConfigError(
                f"verify's policy takes {', '.join(s + '.*' for s in SECTIONS)} settings; "
                f"'{item.split('=', 1)[0]}' is not one"
            )
        sources.append(f"--set {item}")
    config = load_config(None, overrides, base=config)  # checks every value's bounds too
    check_run(config)  # every attack and the judge known, the model's loading valid
    return Policy(config.erasure, config.eval, config.model, sources)


def _read_policy(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"policy file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a policy file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file, so not a policy") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}".replace("\n", " ")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a policy is a mapping of erasure, eval and model settings")
    try:
        apply_section(PolicyFile(), data, "")  # only these sections, each key known
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return data


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def describe(policy: Policy) -> str:
    """One line: where the policy came from, its thresholds, probes and attacks, its hash."""
    evaluation = policy.eval
    attacks = ", ".join(evaluation.attacks) if evaluation.attacks else "none"
    return (
        f"policy ({'; '.join(policy.sources)}): max leak {_pct(policy.erasure.max_leak)}, "
        f"max attack leak {_pct(policy.erasure.max_attack_leak)}, tolerance "
        f"{_pct(policy.erasure.tolerance)}; probes: the reported slice, max_new_tokens "
        f"{evaluation.max_new_tokens}; "
        f"attacks: {attacks}; policy sha256 {policy.sha256()[:16]}"
    )


def setting_differences(recorded: dict[str, Any], policy: Policy) -> list[str]:
    """`key: recorded -> policy` for each evaluation setting (pace aside) in which the record's
    measurement differs from the policy's."""
    ours = policy.settings()["eval"]
    out = []
    for key in sorted(set(recorded) | set(ours)):
        if key not in PACE and recorded.get(key) != ours.get(key):
            out.append(f"{key} {_short(recorded.get(key))} -> {_short(ours.get(key))}")
    return out


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(map(str, value[:3])) + (",..." if len(value) > 3 else "") + "]"
    return str(value)
