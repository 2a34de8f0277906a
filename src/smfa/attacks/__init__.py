"""Attacks that try to extract forgotten values: each one file, each a probe of the one
evaluation (`smfa.eval.probe`); importing the package registers every one."""

from smfa.attacks import fair_mc, images, precision, prefill, prompts, relearn  # noqa: F401
