"""Base class of the park's data objects."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base of every data object: unknown fields are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
