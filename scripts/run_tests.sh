#!/usr/bin/env bash
# The whole suite: lint and the import-layer check, the tests on one process each (the
# "serial" part), then the MPI subset (-m mpi) on 2 ranks.
# The serial part runs on WORKERS pytest-xdist workers (default: 2, this project's
# machines' cores; WORKERS=0: in this process), a test file per worker at a time
# (--dist loadfile: a module's fixtures are built once).  Its tests that launch
# "mpirun -n 2" then share the cores with the other worker: measured, the mpirun system
# tests took 1.5x longer beside a busy core (168 -> 252 s), the whole part about half.
# Fails if either part fails; prints one summary line per part.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=${FEM_CELL_VENV:-$root/.venv}
np=${NP:-2}
workers=${WORKERS:-2}
export PYVISTA_OFF_SCREEN=true MPLBACKEND=Agg OMP_NUM_THREADS=1
status=0
echo "== lint (ruff) and import layers =="
"$venv/bin/ruff" check fem_cell tests scripts meshes || status=1
"$venv/bin/python" scripts/import_layers.py || status=1
echo "== serial suite ($workers workers) =="
dist=()
if [ "$workers" != 0 ]; then dist=(-n "$workers" --dist loadfile); fi
"$venv/bin/python" -m pytest -q --durations=20 "${dist[@]}" tests "$@" || status=1
echo "== MPI subset on $np ranks =="
timeout 1800 "$venv/bin/mpirun" -n "$np" "$venv/bin/python" -m pytest -q -m mpi \
  -p no:cacheprovider tests "$@" || status=1
exit $status
