# Fixtures for every test in the repository live in the shared library's pytest plugin.
pytest_plugins = ["rlc_shared.testing"]
