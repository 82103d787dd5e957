"""`python -m rig.bench`: serve a virtual bench until SIGINT/SIGTERM."""

from rig.bench.launcher import main

raise SystemExit(main())
