"""The example configs shipped in docs/examples validate."""

from pathlib import Path

import pytest

from fem_cell.config import load_config

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "docs" / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_is_valid(path):
    cfg = load_config(path)
    assert cfg.anneal.duration > 0 and cfg.geometry.layers
