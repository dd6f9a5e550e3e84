"""Water vapour: the saturation pressure over liquid water (Buck 1996).

p_sat(T) = 611.21 exp[(18.678 − T_c/234.5) · T_c / (257.14 + T_c)] Pa, T_c in °C
(A. L. Buck, J. Appl. Meteorol. 20, 1527 (1981), 1996 update; ±0.05 % from 0 to 50 °C).
Validity: Buck fitted it from −40 to +50 °C over liquid water; beyond that range it is
an extrapolation (:data:`VALID_RANGE`), and above the critical point (373.95 °C) no
liquid exists at all.
"""

from __future__ import annotations

import math

from fem_cell.constants import ZERO_CELSIUS

#: (lowest, highest) temperature (K) of the fit's stated accuracy
VALID_RANGE = (-40.0 + ZERO_CELSIUS, 50.0 + ZERO_CELSIUS)
#: critical temperature of water (K): no saturation pressure above it
CRITICAL_TEMPERATURE = 373.946 + ZERO_CELSIUS


def saturation_pressure(T: float) -> float:
    """Saturation vapour pressure of water (Pa) at T (K), Buck (1996) over liquid."""
    tc = T - ZERO_CELSIUS
    return 611.21 * math.exp((18.678 - tc / 234.5) * tc / (257.14 + tc))
