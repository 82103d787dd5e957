"""Subcommands of the `rig` command, one module each (`register(subparsers)`)."""
