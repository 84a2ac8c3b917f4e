# Fixtures for every test in the repository live in the test kit's pytest plugin (rlc_testkit, development only).
pytest_plugins = ["rlc_testkit.plugin"]
