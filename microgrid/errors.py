"""The project's one exception tree.

Every error a user can cause derives from :class:`MicrogridError` and carries a
message that names the offending field and says how to fix it. The CLI prints
the message on one line and exits non-zero; the service maps each class to one
HTTP status.

::

    MicrogridError
    ├── InvalidParkError (ValueError)    park / case description is wrong
    ├── DataError (ValueError)           a time series is wrong or missing
    ├── InvalidRequestError (ValueError) a request (date, strategy, option) is wrong
    ├── ForecastError                    a forecast cannot be made
    ├── InfeasibleError                  a plan cannot be made at all
    └── SolverError                      the solver failed (not the input)
        └── SolverTimeoutError           no solution within the time limit
"""

from __future__ import annotations


class MicrogridError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidParkError(MicrogridError, ValueError):
    """The park or case description is invalid (unknown field, bad value...)."""


class DataError(MicrogridError, ValueError):
    """A time series is malformed, naive, irregular or does not cover a period."""


class InvalidRequestError(MicrogridError, ValueError):
    """A request is invalid: unknown strategy, date outside the data, bad option."""


class ForecastError(MicrogridError):
    """A forecast cannot be produced from the inputs given."""


class InfeasibleError(MicrogridError):
    """The request cannot be met even with priced slack."""


class SolverError(MicrogridError):
    """The optimization solver failed for a reason other than the input."""


class SolverTimeoutError(SolverError):
    """The solver found no feasible solution within its time limit."""
