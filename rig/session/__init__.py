"""One run session behind every front end (the `rig` commands, the pytest plugin, the line runner,
the benchmarks, the station page): the run configuration, opening a slot and its run record, the
point sink and its outputs (store, table, report, progress events), the plans, and finishing a run."""
