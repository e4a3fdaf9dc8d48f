"""The running app (a seeded database behind a real server) for every browser test module."""

from tests.browser.test_dashboard_browser import running_app

__all__ = ["running_app"]
