"""Coverage of the posterior's 90 % intervals on synthetic data (scripts/
posterior_coverage.py, Arrhenius model): over 40 noise replicates the intervals of both
parameters contain the true values in 80-97 % of the replicates."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

pytestmark = [pytest.mark.verification, pytest.mark.slow, pytest.mark.serial]


def test_ninety_percent_intervals_cover_the_truth(capsys):
    import posterior_coverage

    posterior_coverage.main(["--replicates", "40", "--steps", "2000", "--walkers", "16"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    cov = [float(x) for x in last.split(":")[1].split("(")[0].split()]
    assert len(cov) == 2
    for c in cov:
        assert 0.80 <= c <= 0.97, last
