"""States a job can start from: checkpoints, and how to rebuild their configuration.

Wherever a state is accepted (``--restart``, ``--state``) the user may give one
checkpoint file or a whole run folder, meaning its last state
(:func:`fem_cell.solvers.checkpoint.resolve_checkpoint`).

A checkpoint records its *provenance*: the user's config file (absolute path, or None
for the built-in cell), the command-line overrides (e.g. ``--dim``), and a fingerprint
of the resolved physical configuration.  :func:`config_for_state` rebuilds the
configuration from that record (or from the CONFIG the user passes again) and refuses a
configuration whose physics differs from the one that produced the state.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from fem_cell.solvers.checkpoint import CheckpointError, read_checkpoint_meta, resolve_checkpoint

#: sections of RunConfig.to_dict() that do not change the computed state (the exposure
#: only made the initial state, which the state itself now holds)
_NOT_PHYSICS = ("files", "output", "warnings", "exposure", "settings")


def _strip(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _strip(v) for k, v in sorted(d.items()) if k not in _NOT_PHYSICS}
    if isinstance(d, (list, tuple)):
        return [_strip(v) for v in d]
    return d


def config_fingerprint(config) -> str:
    """Hash of the resolved configuration's physics (geometry, materials, thermal,
    program, mesh, solver), insensitive to file names, sources and output settings."""
    text = json.dumps(_strip(config.to_dict()), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def state_provenance(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """(checkpoint file, its provenance dict) for a checkpoint or a run folder."""
    ck = resolve_checkpoint(path)
    meta = read_checkpoint_meta(ck)["meta"]
    return ck, dict(meta.get("provenance", {}))


def reconcile_dim(cfg, dim: int | None):
    """``--dim`` against the configuration: with ``[mesh] file`` the file's dimension is
    the run's (``--dim`` must agree with it or be omitted)."""
    if cfg.mesh.file:
        from fem_cell.errors import MeshError
        from fem_cell.meshing.io import mesh_file_dimension

        fdim = mesh_file_dimension(cfg.mesh.file)
        if dim is not None and dim != fdim:
            raise MeshError(f"{cfg.mesh.file}: the mesh file is {fdim}-D but --dim {dim} was "
                            f"given; drop --dim or give a {dim}-D mesh file")
        return cfg.with_mesh(dim=fdim) if cfg.mesh.dim != fdim else cfg
    return cfg.with_mesh(dim=dim) if dim is not None else cfg


def config_for_state(path: str | Path, config_path: str | Path | None, dim: int | None):
    """The configuration to continue a state with (rank 0; raises on mismatch).

    The recorded command-line changes (a program from ``--hold-temperature-C``, the
    exposure flags) are applied again, so the new run records the state's own exposure.

    Args:
        path: checkpoint file or run folder.
        config_path: the CONFIG the user passed now (None: the one recorded in the
            checkpoint, or the built-in cell if that run used it).
        dim: ``--dim`` given now (None: the recorded one).

    Returns:
        (RunConfig, checkpoint file, provenance of the new run)

    Raises:
        CheckpointError: the recorded config file is gone, the checkpoint is unusable,
            or the configuration's physics differs from the state's.
    """
    from fem_cell.config import load_config

    ck, prov = state_provenance(path)
    rec_file = prov.get("config_file")
    if config_path is None and rec_file is not None:
        if not Path(rec_file).is_file():
            raise CheckpointError(f"{ck}: was written with config {rec_file}, which no longer "
                                  f"exists; pass that configuration again as CONFIG")
        config_path = rec_file
    if dim is None:
        dim = prov.get("dim")
    overrides = prov.get("overrides") or None
    cfg = load_config(config_path, overrides=overrides,
                      origin="command line" if overrides else None)
    cfg = reconcile_dim(cfg, int(dim) if dim is not None else None)
    if prov.get("exposure") and cfg.exposure is not None:
        cfg = cfg.with_exposure(origin="the state's exposure", **prov["exposure"])
    fp = prov.get("fingerprint")
    if fp is not None and fp != config_fingerprint(cfg):
        raise CheckpointError(
            f"{ck}: the state was computed with another configuration than "
            f"{config_path or 'the built-in cell'}"
            f"{'' if dim is None else f' ({dim}-D)'} (physics fingerprint {fp} vs "
            f"{config_fingerprint(cfg)}); restart with the configuration that produced it")
    new_prov = {"config_file": str(Path(config_path).resolve()) if config_path else None,
                "dim": cfg.mesh.dim, "overrides": overrides, "exposure": prov.get("exposure")}
    return cfg, ck, new_prov
