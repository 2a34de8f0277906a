"""results.json's schema versions: schema 1 and 2 are read, anything else is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smfa.errors import SmfaError
from smfa.eval.results import RESULTS_SCHEMA, merge_results, read_results


def test_results_schema_versions(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    old = {"schema": 1, "world_hash": "w", "forget_ratio": 10, "models": {}, "rows": []}
    path.write_text(json.dumps(old))
    assert read_results(path)["schema"] == 1  # users have schema-1 files
    merged = merge_results(tmp_path, "w", 10, {"m": {"path": "x"}}, [])
    assert merged["schema"] == RESULTS_SCHEMA == 2
    assert json.loads(path.read_text())["schema"] == 2
    for schema in (3, "2", None, True):
        path.write_text(json.dumps(old | {"schema": schema}))
        with pytest.raises(SmfaError, match=r"results\.json: results schema") as err:
            read_results(path)
        assert "\n" not in str(err.value) and str(path) in str(err.value)
    path.write_text(json.dumps({"rows": []}))
    with pytest.raises(SmfaError, match="not an smfa results file"):
        read_results(path)
