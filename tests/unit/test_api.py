"""The flat Python API: `import fem_cell` stays free of dolfinx, names resolve lazily."""

import subprocess
import sys

import fem_cell


def test_import_does_not_load_dolfinx():
    code = ("import sys, fem_cell; c = fem_cell.load_config(); "
            "assert 'dolfinx' not in sys.modules and 'ufl' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_api_names_resolve():
    for name in fem_cell.__all__:
        assert getattr(fem_cell, name) is not None
    from fem_cell.jobs.anneal import run_anneal

    assert fem_cell.run_anneal is run_anneal
