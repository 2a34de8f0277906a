"""Unlearning methods: one file each; importing this package registers them all.

Adding a method is adding a file here (a `Method` subclass with a `name`) and its test.
"""

from __future__ import annotations

import importlib
import pkgutil

from smfa.methods.base import REGISTRY, Method, get_method

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["REGISTRY", "Method", "get_method"]
