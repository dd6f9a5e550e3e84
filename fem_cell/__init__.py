"""fem_cell: finite-element model of an all-solid-state thin-film Li battery.

Li | Li3PO4 | degraded interfacial layer | LiCoO2 | Nb:SrTiO3 substrate/current
collector, during a post-fabrication anneal.  Importing the package does not import
dolfinx; the sub-modules that need it do (through :mod:`fem_cell._dolfinx`).

Python API (imported on first use)::

    from mpi4py import MPI
    import fem_cell

    cfg = fem_cell.load_config("my.toml")                 # or None: the built-in cell
    res = fem_cell.run_anneal(cfg, MPI.COMM_SELF)         # in memory, no files
    res.history.column("R_interface_ohm_cm2")             # R(t) at 25 °C, Ω cm²
    res.summary["H_LiCoO2_removed_fraction"]              # headline numbers
    fem_cell.anneal_job(cfg, "out/anneal", MPI.COMM_WORLD)  # the CLI's job, run folder
    fem_cell.expose_job(cfg.with_exposure(gas="air", relative_humidity="40 %"),
                        "out/air40", MPI.COMM_WORLD)
    df = fem_cell.read_spectrum("measured.csv")           # DataFrame, Ω cm² columns
    fit = fem_cell.fit_spectrum(df, MPI.COMM_SELF)        # the model fitted to it
    fit.params, fit.stderr, fit.plot("nyquist")
    run = fem_cell.open_run("out/anneal")                 # any run folder
    run.history[["time_min", "R_interface_ohm_cm2"]]      # DataFrame; run.plot("R")
    fem_cell.plot.compare(["out/a", "out/b"], "R")        # overlay runs

Every function that computes takes the MPI communicator explicitly.
"""

from importlib import import_module

_API = {
    "load_config": "fem_cell.config",
    "run_anneal": "fem_cell.jobs.anneal",
    "anneal_job": "fem_cell.jobs.anneal",
    "expose_job": "fem_cell.jobs.expose",
    "CellModel": "fem_cell.model",
    "JobResult": "fem_cell.jobs.lifecycle",
    "build_domain": "fem_cell.model",
    "run_case": "fem_cell.studies.cases",
    "cell_impedance": "fem_cell.jobs.impedance",
    "impedance_job": "fem_cell.jobs.impedance",
    "reproduce_job": "fem_cell.jobs.reproduce",
    "read_spectrum": ("fem_cell.analysis.measured", "read_spectrum_frame"),
    "fit_spectrum": "fem_cell.studies.fit_spectrum",
    "open_run": "fem_cell.outputs.results",
    "compare_runs": ("fem_cell.outputs.results", "compare"),
    "plot": ("fem_cell.outputs.results", None),
}

__all__ = ["__version__", *_API]


def __dir__() -> list[str]:
    """The API names too (resolved lazily), so notebooks and IDEs complete them."""
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str):
    if name == "__version__":  # looked up on first use: importing fem_cell stays instant
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("fem_cell")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            return "0.0.0+unknown"
    if name in _API:
        where = _API[name]
        module, attr = where if isinstance(where, tuple) else (where, name)
        mod = import_module(module)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'fem_cell' has no attribute {name!r}")
