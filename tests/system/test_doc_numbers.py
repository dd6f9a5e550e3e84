"""The numbers the docs quote from runs (blocks marked ``<!-- doc_numbers:NAME -->``) are
what the code gives now: ``scripts/doc_numbers.py --check`` recomputes them (1-D default
cell: pristine / exposed / annealed spectra at 25 and 150 °C)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.serial, pytest.mark.system]
ROOT = Path(__file__).resolve().parents[2]


def test_quoted_numbers_match_the_code():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "doc_numbers.py"), "--check"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr
    assert "stale: nothing" in r.stdout


def test_every_marked_block_has_a_generator():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import doc_numbers
    finally:
        sys.path.pop(0)
    for rel in doc_numbers.FILES:
        names = [m.group("name") for m in doc_numbers.MARK.finditer(
            (ROOT / rel).read_text(encoding="utf-8"))]
        assert names and set(names) <= set(doc_numbers.GENERATORS), (rel, names)
