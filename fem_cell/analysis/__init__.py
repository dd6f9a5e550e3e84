"""Interpretation of results with the field's libraries (impedance spectra: circuit fit, KK)."""
