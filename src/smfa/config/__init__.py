"""Run configuration: dataclasses, loaded from YAML, overridden from the command line.

One `RunConfig` describes a whole run (world, model, training, evaluation). Unknown keys are
errors with a "did you mean" hint, so a typo never silently falls back to a default.

- `sections.py`: the dataclasses and their defaults;
- `bounds.py`: the bounds, limits and choices every value is checked against;
- `load.py`: YAML and `--set` overrides into a `RunConfig`.
"""

from smfa.config.bounds import (
    ALL_ATTACKS,
    BOUNDS,
    DEFAULT_ATTACKS,
    EXPENSIVE_ATTACKS,
    LIMITS,
    RELEARN_MODES,
    RELEARN_SPLITS,
    REPORT_VARIANTS,
    check_bound,
    check_values,
    expand_attacks,
)
from smfa.config.load import apply_section, load_config, to_dict
from smfa.config.sections import (
    CompareConfig,
    ErasureConfig,
    EvalConfig,
    LoopConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    UnlearnConfig,
    WorldConfig,
)

__all__ = [
    "ALL_ATTACKS",
    "BOUNDS",
    "DEFAULT_ATTACKS",
    "EXPENSIVE_ATTACKS",
    "LIMITS",
    "RELEARN_MODES",
    "RELEARN_SPLITS",
    "REPORT_VARIANTS",
    "CompareConfig",
    "ErasureConfig",
    "EvalConfig",
    "LoopConfig",
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "UnlearnConfig",
    "WorldConfig",
    "apply_section",
    "check_bound",
    "check_values",
    "expand_attacks",
    "load_config",
    "to_dict",
]
