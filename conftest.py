"""The rig's pytest plugin lives in fixtures/; loading it here keeps it out of unrelated pytest runs."""

from hypothesis import settings

pytest_plugins = ["fixtures.plugin"]

# No per-example deadline: a deadline is a timed assertion, and these machines are noisy (a loaded
# host made property tests fail on time alone). Performance is measured in benchmarks/.
settings.register_profile("rig", deadline=None)
settings.load_profile("rig")
