"""Attacks that try to extract forgotten values; importing the package registers every one."""

from smfa.attacks import fair_mc, images, precision, prefill, prompts, relearn  # noqa: F401
from smfa.attacks.base import REGISTRY, Attack, Target, get_attack

ATTACKS: tuple[str, ...] = tuple(REGISTRY)
__all__ = ["ATTACKS", "REGISTRY", "Attack", "Target", "get_attack"]
