"""A run configuration checked against what is registered, once, before any work starts.

`smfa.config` checks keys, types and bounds and imports nothing above `smfa.errors`; what needs
the registries is checked here: every `methods.NAME` section against that method's `Params`
(whichever method the command runs: a typo in another method's settings is an error too), the
methods `smfa compare` runs, every attack of `eval.attacks`, the slices `eval.slice` and
`compare.slice` name, the judge spec and how models are loaded. The CLI calls `check_run` where
it builds a command's configuration.
"""

from __future__ import annotations

from smfa.config import CompareConfig, RunConfig, expand_attacks
from smfa.errors import ConfigError


def expand_methods(methods: list[str]) -> list[str]:
    """`compare.methods` as run: "all" (alone) means every registered method, the defaults'
    first in their order (SMFA, the paper's reference row, leads), then the others by name."""
    from smfa.methods.base import REGISTRY

    if "all" not in methods:
        return list(methods)
    if methods != ["all"]:
        raise ConfigError("compare.methods: 'all' stands alone (it already names every method)")
    first = [m for m in CompareConfig().methods if m in REGISTRY]
    return first + sorted(set(REGISTRY) - set(first))


def check_run(config: RunConfig, every: bool = False) -> RunConfig:
    """Raise ConfigError (naming the key) for the first setting nothing registered accepts.

    Only what differs from the defaults is looked up in the registries (`every` looks up
    everything: tests/test_config.py holds the defaults to it), so a command that loads no
    model (world build, import, show, report) imports neither torch nor transformers nor peft.
    """
    from smfa.judge.wire import check_spec
    from smfa.protocol.questions import named_slice

    defaults = RunConfig()
    if config.methods:
        from smfa.methods.base import get_method, make_params

        for name, section in config.methods.items():
            try:
                method = get_method(str(name))
            except ConfigError as exc:
                raise ConfigError(f"methods.{name}: {exc}") from None
            make_params(method, section)
    if every or config.compare.methods != defaults.compare.methods:
        from smfa.methods.base import get_method

        config.compare.methods = expand_methods(config.compare.methods)  # "all": every method
        for name in config.compare.methods:
            try:
                get_method(name)
            except ConfigError as exc:
                raise ConfigError(f"compare.methods: {exc}") from None
    config.eval.attacks = expand_attacks(config.eval.attacks)  # "all": every attack
    if every or config.eval.attacks != defaults.eval.attacks:
        from smfa.eval.probe import get_probe

        for attack in config.eval.attacks:
            if attack == "plain":
                raise ConfigError("eval.attacks: 'plain' is the evaluation itself, not an attack")
            if get_probe(attack).family == "benchmark":
                raise ConfigError(
                    f"eval.attacks: '{attack}' is a benchmark's own tasks, asked whenever the "
                    "world has them, not an attack"
                )
    named_slice(config.eval.slice, "eval.slice")
    named_slice(config.compare.slice, "compare.slice")
    check_spec(config.eval.judge)
    if every or config.model != defaults.model:
        from smfa.models.io import load_options

        load_options(config.model)
    return config
