"""Checkpoints: a run's state, saved on N ranks and loaded on M ranks.

A checkpoint is one HDF5 file (h5py, written by rank 0) holding, for every field of a
:class:`~fem_cell.solvers.problem.TransientProblem`, the DOF values of each solution
level the stepper keeps (the current state and the BDF2 history) keyed by the DOF
coordinates, plus the stepper's scalars (time, step count, the last step sizes, the
proposed next step) and free metadata (JSON); and, when the run has them, the
derivative kept by a smooth restart and the own stepper state of a sub-cycled lead
problem (the anneal's heat), so that a restart continues bit for bit.

Why coordinates: the mesh is rebuilt from the run's configuration when a checkpoint is
loaded, possibly on another number of ranks, so local DOF numbers differ; the DOF
*positions* do not (P1 → vertices, DG0 → cell midpoints, all unique for the spaces used
here).  Loading matches every local DOF to the stored position with a k-d tree and
refuses a mesh that does not match (a different config or mesh file) with a clear
error.  Scalar spaces only (every field of the models is scalar).

Layout (HDF5; read it with h5py, HDFView, or :func:`read_checkpoint_fields`)::

    /meta                   attrs: format, t (s), step, dt_next (s), n_levels, fields (JSON
                            list, the problem's order), json (metadata), checksums,
                            length_scale_m (metres per mesh unit: 1e-6 = µm), restarted
                            (t is a restart: the levels before it serve dense output
                            only; absent in older files = false)
    /dts                    last accepted step sizes (s, most recent first)
    /fields/<name>          attrs: unit ("K", "1" = dimensionless), meaning, location
                            ("vertices" for P1, "cell midpoints" for DG0)
    /fields/<name>/coords   (n, 3) DOF coordinates (mesh units); fields with the same
                            coordinates share one dataset (an HDF5 hard link: every
                            field still has its own ``coords`` to read)
    /fields/<name>/level<k> (n,)   values at history level k (0 = current; 1, 2 = the
                            BDF2 history), in the field's unit
    /fields/<name>/slope    (n,)   only at a smooth restart: the kept derivative u̇
                            (field unit per second; see fem_cell.solvers.time_stepping)
    /lead                   only for a sub-cycled problem: its lead's own stepper state,
                            attrs t, step, dt_next, n_levels, fields (JSON list: the
                            first fields of /meta's), has_slope, restarted; dataset dts
    /fields/<name>/lead_level<k>, /fields/<name>/lead_slope
                            the lead's history levels (and kept derivative), for the
                            lead's fields, in the same DOF order as ``coords``

Each DOF appears once (owned DOFs of all ranks gathered); the order is the ranks'
order, not a mesh order — match by ``coords``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fem_cell.errors import FemCellError
from fem_cell.files import replaced_whole
from fem_cell.solvers.time_stepping import StepperState

FORMAT = "fem_cell-checkpoint-1"
#: gzip level of the datasets.  The default 2-D anneal's checkpoint (17.4 MB of doubles)
#: took 0.34 s at h5py's default 4, 0.28 s at 1 (1.5 % larger), 0.18 s at 1 with the
#: coordinates stored once per DOF layout (h5py alone, one run)
GZIP_LEVEL = 1


class CheckpointError(FemCellError):
    """A checkpoint that cannot be read or does not fit the model it is loaded into."""


def _owned(V) -> int:
    """The number of owned DOFs of a scalar space."""
    if V.dofmap.index_map_bs != 1:
        raise CheckpointError("only scalar spaces can be checkpointed")
    return V.dofmap.index_map.size_local


def _location(V) -> str:
    e = V.ufl_element()
    degree = getattr(e, "embedded_superdegree", None)
    if getattr(e, "discontinuous", False) and degree == 0:
        return "cell midpoints"
    return "vertices" if degree == 1 else f"DOF points (degree {degree})"


def field_descriptions(problem) -> dict[str, tuple[str, str]]:
    """(unit, meaning) of each field of a :class:`~fem_cell.solvers.problem.TransientProblem`
    (its :class:`~fem_cell.solvers.problem.Field` attributes)."""
    return {f.name: (f.unit, f.meaning) for f in problem.fields}


def save_checkpoint(path: str | Path, comm, spaces: dict[str, Any], state: StepperState,
                    meta: dict[str, Any] | None = None, *,
                    describe: dict[str, tuple[str, str]] | None = None,
                    length_scale_m: float | None = None) -> None:
    """Write a checkpoint (collective; rank 0 writes the file).

    Args:
        path: the ``.h5`` file to write (replaced atomically).
        comm: the communicator of the problem.
        spaces: field name → function space, in the problem's field order.
        state: the stepper state (``TimeStepper.state``).
        meta: JSON-serialisable metadata (job, config, diagnostics…).
        describe: field name → (unit, meaning), stored as the field's attributes.
        length_scale_m: metres per mesh unit (stored for the coordinates).
    """
    import h5py

    names = list(spaces)
    where = {n: _location(spaces[n]) for n in names}
    lead = state.lead
    if lead is not None and lead.lead is not None:
        raise CheckpointError("a sub-stepper's own sub-stepper cannot be checkpointed")
    n_lead = len(lead.states[0]) if lead is not None else 0
    gathered: dict[str, tuple] = {}
    extra: dict[str, dict[str, np.ndarray]] = {}  # name -> dataset -> values (rank 0)
    coords_of: dict[int, np.ndarray | None] = {}  # id(space) -> gathered coordinates
    for i, name in enumerate(names):
        named = {} if state.slope is None else {"slope": state.slope[i]}
        if i < n_lead:
            named.update({f"lead_level{k}": lvl[i] for k, lvl in enumerate(lead.states)})
            if lead.slope is not None:
                named["lead_slope"] = lead.slope[i]
        V = spaces[name]
        n = _owned(V)
        if id(V) not in coords_of:  # fields of one space: its coordinates once
            allX = comm.gather(V.tabulate_dof_coordinates()[:n], root=0)
            coords_of[id(V)] = np.concatenate(allX) if comm.rank == 0 else None
        vals = [lvl[i][:n] for lvl in state.states] + [v[:n] for v in named.values()]
        allV = [comm.gather(v, root=0) for v in vals]
        if comm.rank == 0:
            joined = [np.concatenate(v) for v in allV]
            n_lvl = len(state.states)
            gathered[name] = (coords_of[id(V)], joined[:n_lvl])
            extra[name] = dict(zip(named, joined[n_lvl:], strict=True))
    if comm.rank == 0:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with replaced_whole(path) as tmp, h5py.File(tmp, "w") as f:
            m = f.create_group("meta")
            m.attrs["format"] = FORMAT
            m.attrs["t"] = state.t
            m.attrs["step"] = state.step
            m.attrs["dt_next"] = state.dt_next
            m.attrs["n_levels"] = len(state.states)
            m.attrs["restarted"] = bool(state.restarted)
            m.attrs["fields"] = json.dumps(names)
            m.attrs["json"] = json.dumps(meta or {}, default=str)
            m.attrs["checksums"] = json.dumps({  # over every dataset of the field, in
                n: _checksum(X, vals + list(extra[n].values()))  # _stored_keys' order
                for n, (X, vals) in gathered.items()})
            if length_scale_m is not None:
                m.attrs["length_scale_m"] = float(length_scale_m)
            f.create_dataset("dts", data=np.asarray(state.dts, dtype=float))
            if lead is not None:
                g = f.create_group("lead")
                g.attrs["t"], g.attrs["step"], g.attrs["dt_next"] = (lead.t, lead.step,
                                                                     lead.dt_next)
                g.attrs["n_levels"] = len(lead.states)
                g.attrs["restarted"] = bool(lead.restarted)
                g.attrs["fields"] = json.dumps(names[:n_lead])
                g.attrs["has_slope"] = lead.slope is not None
                g.create_dataset("dts", data=np.asarray(lead.dts, dtype=float))
            g = f.create_group("fields")
            packed = {"compression": "gzip", "compression_opts": GZIP_LEVEL, "shuffle": True}
            coords: list[tuple[np.ndarray, Any]] = []  # written once per DOF layout
            for name, (X, vals) in gathered.items():
                h = g.create_group(name)
                unit, meaning = (describe or {}).get(name, ("", ""))
                h.attrs["unit"], h.attrs["meaning"] = unit, meaning
                h.attrs["location"] = where[name]
                same = next((d for Y, d in coords if Y is X or np.array_equal(X, Y)), None)
                if same is None:
                    coords.append((X, h.create_dataset("coords", data=X, **packed)))
                else:
                    h["coords"] = same  # a hard link to the equal dataset
                for k, v in enumerate(vals):
                    h.create_dataset(f"level{k}", data=v, **packed)
                for key, v in extra[name].items():
                    h.create_dataset(key, data=v, **packed)
    comm.Barrier()


def read_checkpoint_meta(path: str | Path) -> dict[str, Any]:
    """Scalars and metadata of a checkpoint (no field data; any rank, not collective).

    Every value is checked: a truncated or overwritten file, metadata that is not JSON,
    a non-finite time or step size, or level counts that do not match the file give one
    :class:`CheckpointError` naming the file.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            m = f["meta"].attrs
            if m.get("format") != FORMAT:
                raise CheckpointError(f"{path}: not a fem_cell checkpoint (format "
                                      f"{m.get('format')!r})")
            info = {"t": float(m["t"]), "step": int(m["step"]), "dt_next": float(m["dt_next"]),
                    "n_levels": int(m["n_levels"]), "fields": json.loads(m["fields"]),
                    "dts": [float(x) for x in f["dts"][...]], "meta": json.loads(m["json"])}
            _check_meta(path, info, f)
            info["has_slope"] = all("slope" in f["fields"][n] for n in info["fields"])
            info["restarted"] = bool(m.get("restarted", False))
            info["lead"] = None
            if "lead" in f:
                a = f["lead"].attrs
                lead = {"t": float(a["t"]), "step": int(a["step"]),
                        "dt_next": float(a["dt_next"]), "n_levels": int(a["n_levels"]),
                        "fields": json.loads(a["fields"]), "has_slope": bool(a["has_slope"]),
                        "restarted": bool(a.get("restarted", False)),
                        "dts": [float(x) for x in f["lead"]["dts"][...]], "meta": {}}
                _check_lead(path, lead, info, f)
                info["lead"] = lead
            return info
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError, AttributeError, RuntimeError) as e:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({type(e).__name__}: "
                              f"{str(e)[:200]})") from None


def _check_meta(path, info: dict, f) -> None:
    """The scalars are finite and consistent with the stored levels."""
    if not (np.isfinite(info["t"]) and info["t"] >= 0 and np.isfinite(info["dt_next"])
            and info["dt_next"] > 0 and info["step"] >= 0):
        raise CheckpointError(f"{path}: invalid time data (t = {info['t']!r}, dt_next = "
                              f"{info['dt_next']!r}, step = {info['step']!r})")
    if not all(np.isfinite(x) and x > 0 for x in info["dts"]):
        raise CheckpointError(f"{path}: invalid step sizes {info['dts']!r}")
    if not isinstance(info["fields"], list) or not isinstance(info["meta"], dict):
        raise CheckpointError(f"{path}: invalid metadata")
    n = info["n_levels"]
    if not 1 <= n <= 3:
        raise CheckpointError(f"{path}: invalid number of solution levels {n}")
    for name in info["fields"]:
        h = f["fields"][name]
        missing = [k for k in range(n) if f"level{k}" not in h]
        if missing:
            raise CheckpointError(f"{path}: field {name!r} lacks the levels {missing} "
                                  f"(n_levels = {n})")


def _check_lead(path, lead: dict, info: dict, f) -> None:
    """The lead's scalars are valid, its fields are the first of the checkpoint's and
    every one holds its levels."""
    _check_meta(path, {**lead, "fields": [], "meta": {}}, f)
    if lead["fields"] != info["fields"][:len(lead["fields"])] or not lead["fields"]:
        raise CheckpointError(f"{path}: the lead's fields {lead['fields']!r} are not the "
                              "first of the checkpoint's")
    keys = [f"lead_level{k}" for k in range(lead["n_levels"])]
    keys += ["lead_slope"] if lead["has_slope"] else []
    for name in lead["fields"]:
        missing = [k for k in keys if k not in f["fields"][name]]
        if missing:
            raise CheckpointError(f"{path}: field {name!r} lacks the lead's {missing}")


def load_checkpoint(path: str | Path, comm, spaces: dict[str, Any],
                    tol: float = 1e-9) -> tuple[StepperState, dict[str, Any]]:
    """Read a checkpoint into a :class:`StepperState` for this model's spaces (collective).

    Args:
        path: the checkpoint file.
        comm: the communicator of the problem (any size).
        spaces: field name → function space of the model being restarted.
        tol: coordinate match tolerance relative to the mesh extent.

    Returns:
        (stepper state with local DOF arrays incl. ghosts, metadata dict); the state
        holds the kept derivative (``slope``) and the lead's stepper state (``lead``)
        when the file has them and, for the lead, every lead field is in ``spaces``.

    Raises:
        CheckpointError: unreadable file, missing field, or a mesh that does not match.
    """
    import h5py
    from scipy.spatial import cKDTree

    payload: Any = None
    if comm.rank == 0:
        try:
            info = read_checkpoint_meta(path)
            data = {}
            with h5py.File(path, "r") as f:
                for name in spaces:
                    if name not in f["fields"]:
                        raise CheckpointError(f"{path}: has no field {name!r} (it has "
                                              f"{sorted(f['fields'])})")
                    h = f["fields"][name]
                    data[name] = (h["coords"][...],
                                  [h[k][...] for k in _stored_keys(info, name)])
                    _check_data(path, name, data[name])
                stored = json.loads(f["meta"].attrs.get("checksums", "{}"))
                for name, d in data.items():
                    if name in stored and _checksum(*d) != stored[name]:
                        raise CheckpointError(f"{path}: the checkpoint is corrupt (field "
                                              f"{name!r} does not match its checksum)")
            payload = ("ok", info, data)
        except CheckpointError as e:
            payload = ("error", str(e), None)
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
            payload = ("error", f"{path}: cannot read the checkpoint ({type(e).__name__}: "
                                f"{str(e)[:200]})", None)
    payload = comm.bcast(payload, root=0)
    if payload[0] == "error":
        raise CheckpointError(payload[1])
    _, info, data = payload
    keys = {name: _stored_keys(info, name) for name in spaces}
    values: dict[str, list[np.ndarray]] = {}   # dataset key -> per-field local arrays
    bad = ""
    for name, V in spaces.items():
        X_saved, vals = data[name]
        X = V.tabulate_dof_coordinates()
        ext = float(np.ptp(X_saved, axis=0).max()) if len(X_saved) else 1.0
        tree = cKDTree(X_saved)
        dist, idx = tree.query(X, k=1)
        n_global = V.dofmap.index_map.size_global
        if len(X_saved) != n_global:
            bad = (f"{path}: field {name!r} has {len(X_saved)} DOFs in the checkpoint but "
                   f"{n_global} in this model (a different mesh or configuration?)")
        elif len(dist) and dist.max() > tol * max(ext, 1e-300):
            bad = (f"{path}: field {name!r}: DOF positions differ from this model's mesh by up "
                   f"to {dist.max():.3g} mesh units (a different mesh or configuration?)")
        for key, v in zip(keys[name], vals, strict=True):
            values.setdefault(key, []).append(np.asarray(v)[idx] if len(idx) else np.zeros(0))
    from mpi4py import MPI

    bad = comm.allreduce(bad, op=MPI.MAX)  # (Python strings: any non-empty message wins)
    if bad:
        raise CheckpointError(bad)
    levels = [values[f"level{k}"] for k in range(info["n_levels"])]
    slope = values["slope"] if info["has_slope"] else None
    lead = None  # (only with every lead field: a subset of the fields leaves it out)
    if info["lead"] is not None and all(n in spaces for n in info["lead"]["fields"]):
        d = info["lead"]
        lead = StepperState(d["t"], d["step"], d["dt_next"], list(d["dts"]),
                            [values[f"lead_level{k}"] for k in range(d["n_levels"])],
                            values["lead_slope"] if d["has_slope"] else None,
                            restarted=d["restarted"])
    state = StepperState(info["t"], info["step"], info["dt_next"], list(info["dts"]), levels,
                         slope, lead, restarted=info["restarted"])
    return state, info["meta"]


def _stored_keys(info: dict, name: str) -> list[str]:
    """The datasets of field ``name`` a state is made of: its levels, the kept
    derivative, the lead's levels and derivative (see the module docstring)."""
    keys = [f"level{k}" for k in range(info["n_levels"])]
    keys += ["slope"] if info["has_slope"] else []
    lead = info["lead"]
    if lead is not None and name in lead["fields"]:
        keys += [f"lead_level{k}" for k in range(lead["n_levels"])]
        keys += ["lead_slope"] if lead["has_slope"] else []
    return keys


def _checksum(X: np.ndarray, levels: list[np.ndarray]) -> str:
    """SHA-256 of a field's coordinates and levels (detects overwritten bytes: HDF5 itself
    checks nothing)."""
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(X, dtype=float).tobytes())
    for v in levels:
        h.update(np.ascontiguousarray(v, dtype=float).tobytes())
    return h.hexdigest()


def _check_data(path, name: str, data) -> None:
    X, levels = data
    if X.ndim != 2 or X.shape[1] != 3 or not np.all(np.isfinite(X)):
        raise CheckpointError(f"{path}: field {name!r}: invalid DOF coordinates")
    for k, v in enumerate(levels):
        if v.shape != (X.shape[0],) or not np.all(np.isfinite(v)):
            raise CheckpointError(f"{path}: field {name!r}: level {k} has invalid values "
                                  "(not finite, or not one per DOF)")


def read_checkpoint_fields(path: str | Path, level: int = 0) -> dict[str, dict[str, Any]]:
    """The fields of a checkpoint as plain arrays (any rank, no MPI, no dolfinx): name →
    ``coords`` ((n, 3), mesh units), ``values`` ((n,), history ``level``; 0 = the state at
    ``t``), ``unit``, ``meaning``, ``location``; plus the key ``"_meta"``
    (:func:`read_checkpoint_meta` with ``length_scale_m``).  Files from before units were
    stored give ``""`` for unit and meaning."""
    import h5py

    info = read_checkpoint_meta(path)
    if not 0 <= level < info["n_levels"]:
        raise CheckpointError(f"{path}: level {level}: the file holds levels 0.."
                              f"{info['n_levels'] - 1}")
    out: dict[str, dict[str, Any]] = {}
    with h5py.File(path, "r") as f:
        info["length_scale_m"] = f["meta"].attrs.get("length_scale_m")
        for name in info["fields"]:
            h = f["fields"][name]
            X, v = h["coords"][...], h[f"level{level}"][...]
            _check_data(path, name, (X, [v]))
            out[name] = {"coords": X, "values": v, "unit": str(h.attrs.get("unit", "")),
                         "meaning": str(h.attrs.get("meaning", "")),
                         "location": str(h.attrs.get("location", ""))}
    out["_meta"] = info
    return out


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run folder meaning its last state
    (``DIR/checkpoints/`` with the latest time; ``latest.h5`` if present).

    Raises:
        CheckpointError: nothing usable at ``path``.
    """
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        d = p / "checkpoints" if (p / "checkpoints").is_dir() else p
        cands = sorted(d.glob("*.h5"))
        if not cands:
            raise CheckpointError(f"{path}: no checkpoint (*.h5) in {d}")
        best, best_t = None, -np.inf
        for c in cands:
            try:
                t = read_checkpoint_meta(c)["t"]
            except CheckpointError:
                continue
            if t > best_t:
                best, best_t = c, t
        if best is None:
            raise CheckpointError(f"{path}: no readable checkpoint in {d}")
        return best
    raise CheckpointError(f"{path}: no such checkpoint file or run folder")
