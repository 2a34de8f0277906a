"""Attacks that try to extract forgotten values: each one file, each a probe of the one
evaluation (`smfa.eval.probe`); importing the package registers every one."""

from smfa.attacks import (  # noqa: F401
    fair_mc,
    images,
    leak_at_k,
    mia,
    precision,
    prefill,
    prompts,
    relearn,
    relearn_strong,
)
