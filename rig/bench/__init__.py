"""The virtual bench: emulated instruments and units on real transports, one physics model.

Nothing in the rig outside this package imports it; the rig starts it as `python -m rig.bench`.
"""
