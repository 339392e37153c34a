"""Project-wide test configuration: pytester, to test kapic's own pytest plugin."""

pytest_plugins = ["pytester"]
