"""The operator station: `rig station` serves one page (a panel per slot) over the same run code as
`rig calibrate`. The page's own state model (state.py) knows nothing of the run code; slot_runner.py
is the one module that starts runs and turns their progress into the page's events."""
