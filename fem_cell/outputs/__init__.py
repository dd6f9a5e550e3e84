"""Outputs, separate from physics: field time series, scalar histories, metadata, plots."""
