"""The rig's pytest plugin lives in fixtures/; loading it here keeps it out of unrelated pytest runs."""

pytest_plugins = ["fixtures.plugin"]
