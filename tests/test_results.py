"""results.json's schema versions: schemas 1, 2 and 3 are read (the older ones upgraded to 3),
anything else is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smfa.errors import SmfaError
from smfa.eval.results import RESULTS_SCHEMA, merge_results, read_results

ROW = {
    "model": "m", "split": "forget", "kind": "image_memory", "image_type": "all",
    "phrasing": "heldout", "view": "heldout", "metric": "leak_rate", "value": 0.5, "n": 2,
    "higher_is_better": False,
}  # fmt: skip


def test_results_schema_versions(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    old = {"schema": 1, "world_hash": "w", "forget_ratio": 10, "models": {}, "rows": [ROW]}
    path.write_text(json.dumps(old))
    read = read_results(path)  # users have schema-1 files: read as schema 3
    assert read["schema"] == RESULTS_SCHEMA == 3 and read["rows"] == [ROW | {"probe": "plain"}]
    merged = merge_results(tmp_path, "w", 10, {"m": {"path": "x"}}, [])
    assert merged["schema"] == 3 and merged["rows"] == []  # m's own rows replaced
    assert json.loads(path.read_text())["schema"] == 3
    for schema in (4, "2", None, True):
        path.write_text(json.dumps(old | {"schema": schema}))
        with pytest.raises(SmfaError, match=r"results\.json: results schema") as err:
            read_results(path)
        assert "\n" not in str(err.value) and str(path) in str(err.value)
    path.write_text(json.dumps(old | {"schema": 3}))  # schema 3 rows name their probe
    with pytest.raises(SmfaError, match=r"rows\[0\] has no key 'probe'"):
        read_results(path)
    path.write_text(json.dumps({"rows": []}))
    with pytest.raises(SmfaError, match="not an smfa results file"):
        read_results(path)
