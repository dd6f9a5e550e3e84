# fem_cell on the official dolfinx image of the version we test (dolfinx 0.11.0,
# real PETSc, MPICH, Python 3.12).  dolfinx/PETSc/MPI come from the image; the
# `solver` extra (PyPI dolfinx wheel) is NOT installed here so nothing is shadowed.
#
#   docker build -t fem_cell .
#   docker run --rm -v "$PWD/results:/work/results" fem_cell                 # main job
#   docker run --rm -v "$PWD/results:/work/results" fem_cell \
#       mpirun -n 4 fem-cell anneal --dim 2 --out /work/results/anneal_2d
FROM ghcr.io/fenics/dolfinx/dolfinx:v0.11.0

# off-screen VTK rendering for pyvista
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libegl1 libxrender1 libosmesa6 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/fem_cell
COPY pyproject.toml README.md ./
COPY fem_cell ./fem_cell
COPY meshes ./meshes
COPY scripts ./scripts
COPY tests ./tests
RUN python3 -m pip install --no-cache-dir ".[test]"

ENV PYVISTA_OFF_SCREEN=true MPLBACKEND=Agg OMP_NUM_THREADS=1
WORKDIR /work
CMD ["sh", "-c", "fem-cell anneal --dim 1 --out /work/results/anneal_1d && mpirun -n 2 fem-cell anneal --dim 2 --out /work/results/anneal_2d"]
