"""The ``fem-cell`` console script runs one BLAS/OpenMP thread per process unless the
user's environment sets another count (fem_cell._entry.THREAD_DEFAULTS): numpy's
OpenBLAS otherwise starts a thread per core in every MPI rank."""

import os
import subprocess
import sys

import pytest

PROBE = ("import fem_cell._entry, os; "
         "print(os.environ['OMP_NUM_THREADS'], os.environ['OPENBLAS_NUM_THREADS'])")


def _run(env_extra: dict) -> list[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env.update(env_extra)
    r = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_one_thread_by_default():
    assert _run({}) == ["1", "1"]


@pytest.mark.parametrize("var", ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"])
def test_a_users_setting_wins(var):
    out = dict(zip(["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"], _run({var: "3"}),
                   strict=True))
    assert out[var] == "3"
    assert all(v == "1" for k, v in out.items() if k != var)


def test_numpy_blas_uses_one_thread():
    """What the setting is for: numpy's BLAS runs one thread (threadpoolctl when
    installed; otherwise the environment check above is what can be tested)."""
    pytest.importorskip("threadpoolctl")
    code = ("import fem_cell._entry, numpy, threadpoolctl; "
            "print(max(p['num_threads'] for p in threadpoolctl.threadpool_info()))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"
