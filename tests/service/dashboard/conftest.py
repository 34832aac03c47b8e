"""The service tests' fixtures (a temporary database, a thread planner, the tiny park's files)."""

from tests.service.api.conftest import files, planner, settings  # noqa: F401
