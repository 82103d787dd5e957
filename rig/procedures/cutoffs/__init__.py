"""Safety cut-off procedures (dut-protocol.md section 1), each measured from the analyzer's digitized
trace rather than taken from what the unit says about itself: one module per behaviour."""
