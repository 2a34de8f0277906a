"""Importers: public unlearning benchmarks on disk into a world (docs/data-format.md).

Each importer reads one layout from local files and writes a world directory that
`smfa.data.format.load_world` accepts; `IMPORTERS` maps a layout name to its function, and
`import_world` dispatches by name. Every importer takes `(source, out, **options)` and returns
`out`; a source problem raises `DataFormatError` naming the file, the record and the key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from smfa.errors import SmfaError
from smfa.importers.fiubench import import_fiubench
from smfa.importers.mllmu import import_mllmu
from smfa.importers.tofu import import_tofu

Importer = Callable[..., Path]

IMPORTERS: dict[str, Importer] = {
    "mllmu": import_mllmu,
    "fiubench": import_fiubench,
    "tofu": import_tofu,
    "clear": import_tofu,
}

__all__ = ["IMPORTERS", "import_fiubench", "import_mllmu", "import_tofu", "import_world"]


def import_world(layout: str, source: Path, out: Path, **options: Any) -> Path:
    """Import `source` in the named layout (a key of `IMPORTERS`) into a world at `out`."""
    try:
        importer = IMPORTERS[layout]
    except KeyError:
        raise SmfaError(
            f"unknown layout '{layout}'; choose one of {', '.join(sorted(IMPORTERS))}"
        ) from None
    return importer(Path(source), Path(out), **options)
