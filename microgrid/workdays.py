"""Chinese working days, from the maintained ``chinese_calendar`` package.

Working days include the official make-up working days on weekends
(调休上班); public holidays are not working days.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import chinese_calendar

from microgrid.errors import DataError
from microgrid.messages import Message


@lru_cache(maxsize=4096)
def is_workday(day: dt.date) -> bool:
    """Whether ``day`` is a working day in mainland China.

    Raises :class:`DataError` for a year the installed ``chinese_calendar``
    does not cover yet (upgrade the package: the State Council publishes each
    year's holidays in the autumn before).
    """
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        raise DataError(
            Message("calendar: chinese_calendar {version} has no holidays for {year}; upgrade it (pip install -U "
                    "chinesecalendar)",
                    version=getattr(chinese_calendar, '__version__', ''), year=day.year)
        ) from None
