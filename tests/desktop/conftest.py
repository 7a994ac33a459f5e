"""Keeps what explains a failed desktop test: each test's outcome is recorded on its node so
the `desktop` fixture can save the app's log, tauri-driver's and WebKitWebDriver's output and a
screenshot under artifacts/ when the test did not pass."""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
