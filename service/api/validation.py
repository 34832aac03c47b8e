"""Shared rules for every number and timestamp a request carries.

* Numbers are finite: the base class :class:`RequestModel` of every request
  body refuses ``inf`` and ``nan`` (``allow_inf_nan=False``), in nested
  fields too; the JSON parser (:mod:`service.api.parsing`) refuses the
  non-standard constants ``Infinity``, ``-Infinity`` and ``NaN`` before that.
* Timestamps (:data:`Timestamp`) carry a UTC offset, are converted to UTC
  without overflow and lie in the service's window, from
  :data:`EARLIEST_UTC` (2000-01-01T00:00Z, included) to :data:`LATEST_UTC`
  (2100-01-01T00:00Z, excluded); dates (:data:`Day`) lie in the same years.
  That is far inside what pandas can represent (1677 to 2262), so nothing a
  request carries can overflow a time index later.
* A plan is at least :data:`MIN_HORIZON_H` (0.25 h) long.
* Ids and offsets in paths and queries (:data:`RowId`, :data:`Offset`) fit
  the database's 64-bit integers (:data:`MAX_ROW_ID`).

Measurements are further bounded by the server's clock
(:func:`service.api.measurements.check_measured_at`,
``MICROGRID_MAX_MEASUREMENT_AHEAD_H``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from microgrid.messages import Message

EARLIEST_UTC = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
"""The first instant a request may name (included)."""
LATEST_UTC = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
"""The end of the instants a request may name (excluded)."""
EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2099, 12, 31)
WINDOW_TEXT = "2000-01-01T00:00:00Z to 2100-01-01T00:00:00Z (excluded)"
DATE_WINDOW_TEXT = "2000-01-01 to 2099-12-31"

MIN_HORIZON_H = 0.25
"""The shortest plan a request may ask for [h]: one step of 15-minute data."""

MAX_ROW_ID = 2**63 - 1
"""The largest id, version or offset a request may name: a signed 64-bit SQL ``INTEGER``."""

REQUEST_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)
"""Configuration of every request body: unknown fields, non-finite numbers and wrong JSON types are errors.

Strict: ``"admin": 0`` is not ``false`` and ``"max_import_kw": "5000"`` is
not a number, as the OpenAPI document says; only timestamps and dates are
parsed from their ISO 8601 strings (:data:`Timestamp`, :data:`Day`).
"""


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are errors, every number is finite, JSON types as declared."""

    model_config = REQUEST_CONFIG


def to_utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC, or ValueError naming the window when the conversion overflows.

    Examples
    --------
    >>> to_utc(dt.datetime.fromisoformat("2026-07-15T08:00:00+08:00")).isoformat()
    '2026-07-15T00:00:00+00:00'
    >>> to_utc(dt.datetime.fromisoformat("9999-12-31T23:59:59-12:00"))
    Traceback (most recent call last):
    ...
    ValueError: must lie from 2000-01-01T00:00:00Z to 2100-01-01T00:00:00Z (excluded); 9999-12-31T23:59:59-12:00 is not representable in UTC
    """
    try:
        return value.astimezone(dt.timezone.utc)
    except OverflowError:
        raise ValueError(Message("must lie from {window}; {value} is not representable in UTC",
                                 window=WINDOW_TEXT, value=value.isoformat())) from None


def check_timestamp(value: dt.datetime) -> dt.datetime:
    """An aware timestamp within the service's window, unchanged; ValueError otherwise."""
    utc = to_utc(value)
    if not EARLIEST_UTC <= utc < LATEST_UTC:
        raise ValueError(Message("must lie from {window}; got {value}",
                                 window=WINDOW_TEXT, value=value.isoformat()))
    return value


def check_day(value: dt.date) -> dt.date:
    """A date within the service's years, unchanged; ValueError otherwise."""
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(Message("must lie from {window}; got {value}",
                                 window=DATE_WINDOW_TEXT, value=value.isoformat()))
    return value


Timestamp = Annotated[AwareDatetime, Field(strict=False), AfterValidator(check_timestamp)]
"""An ISO 8601 timestamp with UTC offset within :data:`EARLIEST_UTC` … :data:`LATEST_UTC`."""
Day = Annotated[dt.date, Field(strict=False), AfterValidator(check_day)]
"""A date from 2000-01-01 to 2099-12-31."""

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="The id the service gave it (1 or more).")]
"""A path parameter naming a stored row (plan, forecast, measurement, study)."""
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID, description="How many of the newest to skip (paging).")]
"""A query parameter skipping rows of a listing."""


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
"""Hosts that are this machine, besides every other loopback address (``127.0.0.0/8``)."""


def outbound_url_errors(field: str, url: str, what: str, allowed_hosts: list[str] | tuple[str, ...] = (),
                        hosts_setting: str = "") -> list[dict[str, str]]:
    """What is wrong with the URL of a ``what`` the service will connect to, as problem ``errors`` (field, reason).

    ``https`` to any host; plain ``http`` only to this machine (loopback:
    tests and local simulators); with ``allowed_hosts`` (the setting
    ``hosts_setting``) only to those hosts. Used for a VEN's VTN and for
    webhooks.

    Examples
    --------
    >>> outbound_url_errors("url", "https://hooks.example/x", "webhook receiver")
    []
    >>> outbound_url_errors("url", "http://127.0.0.1:8080/hook", "webhook receiver")
    []
    >>> outbound_url_errors("url", "http://hooks.example/x", "webhook receiver")[0]["reason"]
    'plain http is accepted only for a webhook receiver on this machine (127.0.0.1, ::1, localhost); use https'
    """
    import ipaddress
    from urllib.parse import urlsplit

    malformed = [{"field": field, "reason": Message("give the {what}'s URL as https://host[:port]/path",
                                                    what=what)}]
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a port that is not a number in range raises here
    except ValueError:
        return malformed
    try:
        loopback = host in LOOPBACK_HOSTS or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme not in ("http", "https") or not host:
        return malformed
    if parts.scheme == "http" and not loopback:
        return [{"field": field, "reason": Message("plain http is accepted only for a {what} on this machine "
                                                   "(127.0.0.1, ::1, localhost); use https",
                                                   what=what)}]
    if allowed_hosts and host not in allowed_hosts:
        return [{"field": field, "reason": Message("this server connects to a {what} only at {allowed_hosts} "
                                                   "({hosts_setting}); not {host!r}",
                                                   what=what, allowed_hosts=', '.join(allowed_hosts),
                                                   hosts_setting=hosts_setting, host=host)}]
    return []
