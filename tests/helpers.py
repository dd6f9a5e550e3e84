"""Helpers shared by the test modules (importable: tests/conftest.py puts this folder on
sys.path)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

from fem_cell.constants import FARADAY, GAS_CONSTANT
from fem_cell.params import EV, Arrhenius
from fem_cell.physics.parameters import DegradedLayerLaw

#: a coarse 2-D cross-section for quick end-to-end runs (TOML [mesh] table)
COARSE_2D_MESH = """
[mesh]
dim = 2
cells_per_layer = 2
lateral_cells = 16
lateral_growth = 1.5
growth = 2.0
max_cell_size = "100 um"
"""


def run_cli(*args, cwd, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m fem_cell ARGS`` in a fresh process (unbuffered), output captured."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "fem_cell", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


# -- electrochemistry test cell (parameters of the science brief, fixed here) --------
#: the degraded layer's law of these tests (σ0 2e-5 S/m → R_d = 5 Ω cm² over 10 nm)
EC_DEGRADED = DegradedLayerLaw(sigma0=Arrhenius(2e-5, 0.45 * EV), beta=9.6,
                            pristine_resistance=Arrhenius(9.75e-4, 0.6 * EV),
                            reference_temperature=298.15)
_ARRHENIUS = ("electrolyte_conductivity", "electrode_diffusivity",
              "electrode_exchange_current", "li_exchange_current")


def ec_params(**kw):
    """The parameters of these tests (science brief values; the exact formulas below are
    evaluated with whatever they hold).  An Arrhenius field given as a number keeps the
    default activation energy."""
    base = dict(
        electrolyte_conductivity=Arrhenius(3e-5, 0.57 * EV), electrolyte_relative_permittivity=10.0,
        degraded_relative_permittivity=10.0, electrode_diffusivity=Arrhenius(1e-16, 0.45 * EV),
        electrode_site_density=5.16e4, electrode_site_fraction=0.9, ocv_slope=-0.75,
        electrode_exchange_current=Arrhenius(GAS_CONSTANT * 298.15 / (FARADAY * 4.5e-4), 0.5 * EV),
        electrode_double_layer_capacitance=0.1,
        li_exchange_current=Arrhenius(GAS_CONSTANT * 298.15 / (FARADAY * 2e-4), 0.3 * EV),
        li_double_layer_capacitance=0.1, alpha_a=0.5, alpha_c=0.5, pad_area=1e-6,
        lead_resistance=0.0, lead_inductance=0.0)
    for k, v in kw.items():
        base[k] = dataclasses.replace(base[k], value=v) if k in _ARRHENIUS else v
    from fem_cell.physics.electrochem import ElectrochemParameters

    return ElectrochemParameters(**base)


def ec_model(comm, p=None, *args, **kw):
    """build_electrochem_model with these tests' parameters and degraded-layer law."""
    from fem_cell.model import build_electrochem_model

    kw.setdefault("conductivity_law", EC_DEGRADED.conductivity)
    return build_electrochem_model(comm, p if p is not None else ec_params(), *args, **kw)
