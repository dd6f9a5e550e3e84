"""fem_cell: finite-element model of an all-solid-state thin-film Li battery.

Li | Li3PO4 | degraded interfacial layer | LiCoO2 | Nb:SrTiO3 substrate/current
collector, during a post-fabrication anneal.  Importing the package does not import
dolfinx; the sub-modules that need it do (through :mod:`fem_cell._dolfinx`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fem_cell")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
