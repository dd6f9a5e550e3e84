#!/usr/bin/env bash
# The whole suite: lint and the import-layer check, the tests serially, then the MPI
# subset (-m mpi) on 2 ranks.
# Fails if either part fails; prints one summary line per part.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=${FEM_CELL_VENV:-$root/.venv}
np=${NP:-2}
export PYVISTA_OFF_SCREEN=true MPLBACKEND=Agg OMP_NUM_THREADS=1
status=0
echo "== lint (ruff) and import layers =="
"$venv/bin/ruff" check fem_cell tests scripts meshes || status=1
"$venv/bin/python" scripts/import_layers.py || status=1
echo "== serial suite =="
"$venv/bin/python" -m pytest -q --durations=20 tests "$@" || status=1
echo "== MPI subset on $np ranks =="
timeout 1800 "$venv/bin/mpirun" -n "$np" "$venv/bin/python" -m pytest -q -m mpi \
  -p no:cacheprovider tests "$@" || status=1
exit $status
