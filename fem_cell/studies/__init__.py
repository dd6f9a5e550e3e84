"""Studies: many runs of the model (sweeps, calibration), spread over MPI sub-communicators."""
