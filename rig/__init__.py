"""Hardware-in-the-loop test and calibration rig for the IX-30 iontophoresis current source."""

__version__ = "0.1.0"
