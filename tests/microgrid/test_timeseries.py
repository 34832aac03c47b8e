"""Reading and checking time series."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from microgrid.errors import DataError
from microgrid.timeseries import local_day, read_timeseries_csv, slice_window, step_hours, write_timeseries_csv


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "loads.csv"
    path.write_text(text)
    return path


def test_step_is_derived_from_the_index() -> None:
    index = pd.date_range("2026-01-01", periods=4, freq="15min", tz="Asia/Shanghai")
    assert step_hours(index) == 0.25
    assert step_hours(pd.date_range("2026-01-01", periods=3, freq="1h", tz="UTC")) == 1.0


def test_naive_index_is_refused() -> None:
    with pytest.raises(DataError, match="no UTC offset"):
        step_hours(pd.date_range("2026-01-01", periods=3, freq="1h"))


def test_irregular_index_is_refused() -> None:
    index = pd.DatetimeIndex(["2026-01-01 00:00", "2026-01-01 00:15", "2026-01-01 01:00"]).tz_localize("UTC")
    with pytest.raises(DataError, match="irregular steps"):
        step_hours(index)


def test_csv_roundtrip_keeps_offset(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,a_kw\n2026-01-01T00:00:00+08:00,1\n2026-01-01T00:15:00+08:00,2\n")
    frame = read_timeseries_csv(path)
    assert str(frame.index.tz) in ("UTC+08:00", "pytz.FixedOffset(480)") or frame.index[0].utcoffset().total_seconds() == 8 * 3600
    assert frame["a_kw"].tolist() == [1.0, 2.0]


def test_csv_notes_before_the_header_are_written_and_skipped(tmp_path: Path) -> None:
    index = pd.date_range("2026-01-01", periods=2, freq="15min", tz="Asia/Shanghai")
    path = write_timeseries_csv(pd.DataFrame({"a_kw": [1.0, 2.0]}, index=index), tmp_path / "a.csv",
                                comments=["wind measured at 10 m", "two\nlines # with a hash"])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[:4] == ["# wind measured at 10 m", "# two", "# lines # with a hash", "timestamp,a_kw"]
    frame = read_timeseries_csv(path)
    assert frame["a_kw"].tolist() == [1.0, 2.0] and (frame.index.asi8 == index.asi8).all()
    # A '#' later in the file is not a note: the row is read as data, and its time is wrong.
    path.write_text("timestamp,a_kw\n# late\n2026-01-01T00:15:00+08:00,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="without UTC offset"):
        read_timeseries_csv(path)


def test_csv_naive_timestamp_names_column_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,a_kw\n2026-01-01T00:00:00,1\n2026-01-01T00:15:00,2\n")
    with pytest.raises(DataError, match=r"loads.csv: column 'timestamp' has a time without UTC offset"):
        read_timeseries_csv(path)


def test_csv_missing_value_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,a_kw\n2026-01-01T00:00:00+08:00,1\n2026-01-01T00:15:00+08:00,\n")
    with pytest.raises(DataError, match=r"column 'a_kw' has a missing value at 2026-01-01T00:15:00\+08:00"):
        read_timeseries_csv(path)


def test_csv_non_numeric_value_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,a_kw\n2026-01-01T00:00:00+08:00,1\n2026-01-01T00:15:00+08:00,abc\n")
    with pytest.raises(DataError, match=r"column 'a_kw' has a non-numeric value"):
        read_timeseries_csv(path)


def test_window_outside_data_is_named() -> None:
    index = pd.date_range("2026-01-01", periods=96, freq="15min", tz="Asia/Shanghai")
    frame = pd.DataFrame({"a": 1.0}, index=index)
    start = pd.Timestamp("2026-01-02", tz="Asia/Shanghai")
    with pytest.raises(DataError, match="outside the data"):
        slice_window(frame, start, start + pd.Timedelta("1D"), "loads")


@pytest.mark.parametrize("day", [dt.date(1, 1, 1), dt.date(9999, 12, 31)])
def test_a_date_pandas_cannot_hold_is_named(day) -> None:
    with pytest.raises(DataError, match="date: .* outside the range of timestamps"):
        local_day(day, "Asia/Shanghai")
