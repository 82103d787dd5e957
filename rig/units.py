"""Unit conversion factors, in one place (a quantity's unit is in its name: current_ma, settle_s)."""

MA_PER_A = 1000.0
UA_PER_MA = 1000.0
PERCENT = 100.0  # a fraction times PERCENT is in %
