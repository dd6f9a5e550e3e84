# fem_cell — the two README commands:
#   make run    set up (.venv, Python >= 3.12, dolfinx wheel) and run the main job:
#               the reproduction of the paper on the built-in cell (1-D, report.html)
#   make test   set up and run the whole test suite: lint + import layers, the one-process
#               tests (2 pytest-xdist workers; WORKERS=0: in one process), then the MPI
#               subset on 2 ranks (what CI runs)
#   make test-fast  the edit loop: lint, unit + verification tests without the slow ones
VENV   ?= .venv
PY     := $(VENV)/bin/python
MPIRUN := $(VENV)/bin/mpirun
NP     ?= 2
OUT    ?= results

.PHONY: setup run run-2d test test-fast lint test-serial test-mpi bench meshes clean
setup:
	@bash scripts/setup.sh

run: setup
	$(VENV)/bin/fem-cell reproduce --overwrite --out $(OUT)/reproduction

run-2d: setup
	$(MPIRUN) -n $(NP) $(VENV)/bin/fem-cell anneal --dim 2 --overwrite --out $(OUT)/anneal_2d

test: setup
	@bash scripts/setup_browser.sh
	@bash scripts/run_tests.sh

test-fast: setup lint
	OMP_NUM_THREADS=1 MPLBACKEND=Agg $(PY) -m pytest -q -m "not slow" --durations=10 \
	  tests/unit tests/verification

lint: setup
	$(VENV)/bin/ruff check fem_cell tests scripts meshes
	$(PY) scripts/import_layers.py

test-serial: setup
	$(PY) -m pytest -q tests

test-mpi: setup
	timeout 1800 $(MPIRUN) -n $(NP) $(PY) -m pytest -q -m mpi -p no:cacheprovider tests

bench: setup
	$(PY) scripts/bench_heat.py

meshes: setup
	$(PY) meshes/generate.py

clean:
	rm -rf $(OUT) .pytest_cache
