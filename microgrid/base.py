"""Base class of the park's data objects."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base of every data object: unknown fields are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def clock_minutes(clock: str) -> int:
    """Minutes after midnight of a validated ``HH:MM`` clock time (``24:00`` → 1440)."""
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def validate_clock(value: str) -> str:
    """Check a local clock time ``HH:MM`` between 00:00 and 24:00."""
    if not isinstance(value, str) or not _CLOCK.match(value) or clock_minutes(value) > 24 * 60:
        raise ValueError(f"must be a clock time HH:MM between 00:00 and 24:00, got {value!r}")
    return value


Clock = Annotated[str, AfterValidator(validate_clock)]
"""A local clock time ``HH:MM`` (``24:00`` allowed), validated."""
