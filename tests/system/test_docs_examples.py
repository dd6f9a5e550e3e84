"""The example configs shipped in docs/examples validate."""

from pathlib import Path

import pytest

from fem_cell.config import load_config

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "docs" / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_is_valid(path):
    cfg = load_config(path)
    assert cfg.anneal.duration > 0 and cfg.geometry.layers


def _python_blocks(md: Path) -> list[str]:
    text = md.read_text(encoding="utf-8")
    return [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]


@pytest.mark.serial
def test_readme_python_api_examples_run(tmp_path):
    """README's Python API snippets (those importing fem_cell) run as printed."""
    import subprocess
    import sys

    readme = Path(__file__).resolve().parents[2] / "README.md"
    blocks = [b for b in _python_blocks(readme) if "import fem_cell" in b]
    assert len(blocks) >= 2, "README lost its Python API examples"
    for b in blocks:
        r = subprocess.run([sys.executable, "-c", b], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, (b, r.stderr)
        assert r.stdout.strip(), b
