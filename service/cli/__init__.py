"""The ``microgrid`` command line (:mod:`.main`); ``microgrid = "service.cli:app"``."""

from service.cli.main import app

__all__ = ["app"]
