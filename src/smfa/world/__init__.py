"""The embedded world: people, portraits, fundus images, scenes, questions and splits.

Pure data, no torch: `build.build_world` writes a world directory from a seed, and
`smfa.data.format.load_world` reads one back. `component_rng` gives each component its own
random stream, so changing how many scenes a world has never changes who its people are.
"""

from __future__ import annotations

import zlib

import numpy as np


def component_rng(seed: int, component: str, *index: int) -> np.random.Generator:
    """An independent, reproducible generator for one component (and item) of a world."""
    return np.random.default_rng([seed, zlib.crc32(component.encode("utf-8")), *index])
