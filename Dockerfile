# fem_cell on the official dolfinx image of the version we test (dolfinx 0.11.0,
# real PETSc, MPICH, Python 3.12 in the image's virtual environment /dolfinx-env,
# which is first on PATH).  dolfinx/PETSc/MPI/mpi4py come from the image; the
# `solver` extra (the PyPI dolfinx wheel) is NOT installed here, so nothing is shadowed.
#
#   docker build -t fem_cell .
#   docker run --rm -v "$PWD/results:/work/results" fem_cell                 # main job:
#       the reproduction of the paper -> results/reproduction/report.html
#   docker run --rm -v "$PWD/results:/work/results" fem_cell \
#       mpirun -n 4 fem-cell anneal --dim 2 --out /work/results/anneal_2d
#
# The build fails if the image is broken: its last step imports dolfinx, gmsh and
# pyvista, builds a 2-D mesh with gmsh, and runs a short 1-D anneal and a 2-D render.
FROM ghcr.io/fenics/dolfinx/dolfinx:v0.11.0

# System libraries the PyPI wheels load at import time on a slim image:
#   gmsh: libGLU.so.1, libXcursor, libXft, libXinerama (+ libXrender, libXext, fontconfig)
#   VTK (pyvista): libGL, libEGL (headless off-screen rendering), libXrender, OSMesa fallback
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libglu1-mesa libxcursor1 libxft2 libxinerama1 libxrender1 libxext6 libfontconfig1 \
        libgl1 libegl1 libosmesa6 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/fem_cell
COPY pyproject.toml README.md ./
COPY fem_cell ./fem_cell
COPY meshes ./meshes
COPY scripts ./scripts
COPY tests ./tests
COPY docs ./docs
COPY studies ./studies
# The test extra brings pyimpspec (instrument-file tests), which needs numpy >= 2.5 and
# pandas >= 3: pip may upgrade the image's numpy within 2.x (ABI-compatible for
# petsc4py/dolfinx, which were built against an older numpy 2).
RUN python3 -m pip install --no-cache-dir ".[test]"

ENV PYVISTA_OFF_SCREEN=true MPLBACKEND=Agg OMP_NUM_THREADS=1

# Smoke test at build time: a broken image stops `docker build` here.
RUN python3 -c "import dolfinx, gmsh, pyvista; print('dolfinx', dolfinx.__version__, '| gmsh', gmsh.__version__, '| pyvista', pyvista.__version__)" \
    && fem-cell anneal --dim 1 --quiet --out /tmp/fem_cell_check_1d \
    && printf '[mesh]\ndim = 2\ncells_per_layer = 2\nlateral_cells = 16\nlateral_growth = 1.5\ngrowth = 2.0\nmax_cell_size = "100 um"\n[anneal]\nsegments = [{ ramp_to = "60 degC", rate = "10 K/min" }]\n' > /tmp/check2d.toml \
    && fem-cell anneal /tmp/check2d.toml --quiet --out /tmp/fem_cell_check_2d \
    && test -s /tmp/fem_cell_check_2d/temperature_2d.png \
    && rm -rf /tmp/fem_cell_check_1d /tmp/fem_cell_check_2d /tmp/check2d.toml

WORKDIR /work
CMD ["fem-cell", "reproduce", "--overwrite", "--out", "/work/results/reproduction"]
