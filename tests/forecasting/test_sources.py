"""Readers at the edge: the CSV contract, TMY3 and EPW, and their error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from forecasting.sources import (
    check_table, read_epw_weather, read_meter_csv, read_tmy3_weather, read_weather_csv, site_from_metadata)
from microgrid.errors import DataError

TMY3_PATH = Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"


def write(tmp_path: Path, text: str, name: str = "forecast.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def weather_text(rows: list[str], header: str = "timestamp,ghi,temp_air") -> str:
    return "\n".join([header, *rows]) + "\n"


def hourly_rows(n: int, ghi: float = 100.0, temp: float = 20.0, start: str = "2026-07-15 00:00",
                tz: str = "+08:00") -> list[str]:
    stamps = pd.date_range(start, periods=n, freq="1h")
    return [f"{t:%Y-%m-%dT%H:%M:%S}{tz},{ghi},{temp}" for t in stamps]


# --- CSV contract -------------------------------------------------------------------------------------------------

def test_valid_csv_is_read_with_its_offset(tmp_path):
    weather = read_weather_csv(write(tmp_path, weather_text(hourly_rows(4))))
    assert list(weather.columns) == ["ghi", "temp_air"]
    assert str(weather.index.tz) == "UTC+08:00"
    assert weather.index[0] == pd.Timestamp("2026-07-15 00:00", tz="Asia/Shanghai")
    assert weather.dtypes.eq(float).all()


def test_cloud_cover_alone_is_a_valid_irradiance_input(tmp_path):
    text = "timestamp,cloud_cover\n2026-07-15T00:00:00Z,20\n2026-07-15T01:00:00Z,80\n"
    weather = read_weather_csv(write(tmp_path, text))
    assert weather["cloud_cover"].tolist() == [20.0, 80.0]
    assert str(weather.index.tz) == "UTC"


@pytest.mark.parametrize("text, message", [
    ("time,ghi\n2026-07-15T00:00:00+08:00,1\n", "missing column 'timestamp'"),
    ("timestamp,temp_air\n2026-07-15T00:00:00+08:00,1\n2026-07-15T01:00:00+08:00,1\n",
     "missing column 'ghi' or 'cloud_cover'"),
    ("timestamp,ghi,dni\n2026-07-15T00:00:00+08:00,1,1\n2026-07-15T01:00:00+08:00,1,1\n",
     "column 'dni' without 'dhi'"),
    ("timestamp,GHI\n2026-07-15T00:00:00+08:00,1\n2026-07-15T01:00:00+08:00,1\n",
     "unknown column 'GHI'; did you mean 'ghi'"),
    ("timestamp,ghi\n2026-07-15T00:00:00,1\n2026-07-15T01:00:00,1\n", "without UTC offset"),
    ("timestamp,ghi\n2026-07-15T00:00:00+08:00,abc\n2026-07-15T01:00:00+08:00,1\n", "non-numeric value 'abc'"),
    ("timestamp,ghi\n2026-07-15T01:00:00+08:00,1\n2026-07-15T00:00:00+08:00,1\n", "goes back in time"),
    ("timestamp,ghi\n2026-07-15T00:00:00+08:00,1\n2026-07-15T00:00:00+08:00,1\n", "is repeated"),
])
def test_csv_errors_name_the_problem(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_weather_csv(write(tmp_path, text))


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_weather_csv(tmp_path / "absent.csv")


def test_irregular_steps_are_refused(tmp_path):
    rows = hourly_rows(5)
    rows[3] = rows[3].replace("T03:00", "T03:20")
    with pytest.raises(DataError, match="irregular steps.*resample"):
        read_weather_csv(write(tmp_path, weather_text(rows)))


@pytest.mark.parametrize("column, value, limits", [
    ("ghi", 1600.0, "0 … 1500"),
    ("temp_air", 75.0, "-60 … 70"),
    ("temp_air", -65.0, "-60 … 70"),
])
def test_physically_impossible_values_are_refused(tmp_path, column, value, limits):
    frame_rows = hourly_rows(4)
    ghi, temp = (value, 20.0) if column == "ghi" else (100.0, value)
    frame_rows[2] = hourly_rows(3, ghi=ghi, temp=temp)[2]
    with pytest.raises(DataError, match=f"column '{column}' has {value:g} at 2026-07-15T02:00:00\\+08:00.*{limits}"):
        read_weather_csv(write(tmp_path, weather_text(frame_rows)))


def test_small_negative_irradiance_is_a_sensor_offset(tmp_path):
    rows = hourly_rows(3, ghi=-3.0)
    weather = read_weather_csv(write(tmp_path, weather_text(rows)))
    assert (weather["ghi"] == 0.0).all()
    with pytest.raises(DataError, match="column 'ghi' has -50"):
        read_weather_csv(write(tmp_path, weather_text(hourly_rows(3, ghi=-50.0))))


def test_short_gap_is_filled_long_gap_is_refused(tmp_path):
    rows = hourly_rows(8)
    rows[2] = rows[2].replace(",100.0,", ",,")          # empty cell: one hour without ghi
    short = rows[:4] + rows[5:]                           # missing row: one hour without anything
    weather = read_weather_csv(write(tmp_path, weather_text(short)))
    assert len(weather) == 8 and not weather.isna().any().any()
    assert weather["ghi"].iloc[2] == 100.0

    long_gap = rows[:2] + rows[5:]                        # 3 h without data
    with pytest.raises(DataError, match=r"column 'ghi' has a gap of 3 h .*longer than max_gap_h=1 h"):
        read_weather_csv(write(tmp_path, weather_text(long_gap)))
    assert len(read_weather_csv(write(tmp_path, weather_text(long_gap)), max_gap_h=3.0)) == 8


def test_meter_csv_contract(tmp_path):
    text = "timestamp,load_kw\n2026-07-15T00:00:00+08:00,10\n2026-07-15T00:15:00+08:00,12\n"
    meter = read_meter_csv(write(tmp_path, text, "meter.csv"))
    assert meter["load_kw"].tolist() == [10.0, 12.0]
    with pytest.raises(DataError, match="column 'load' has no unit; name power columns '<name>_kw'"):
        read_meter_csv(write(tmp_path, text.replace("load_kw", "load"), "meter.csv"))
    with pytest.raises(DataError, match="column 'load_kw' has -5"):
        read_meter_csv(write(tmp_path, text.replace(",12", ",-5"), "meter.csv"))


def test_check_table_refuses_naive_index():
    frame = pd.DataFrame({"ghi": [1.0, 2.0]}, index=pd.date_range("2026-01-01", periods=2, freq="1h"))
    with pytest.raises(DataError, match="no UTC offset"):
        check_table(frame, "weather")


# --- TMY3 ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def greensboro():
    return read_tmy3_weather(TMY3_PATH, year=2026)


def test_tmy3_is_relabelled_to_step_starts_with_cloud_cover_in_percent(greensboro):
    weather, metadata = greensboro
    assert len(weather) == 8760
    assert weather.index[0] == pd.Timestamp("2026-01-01 00:00", tz="Etc/GMT+5")
    assert weather.index[-1] == pd.Timestamp("2026-12-31 23:00", tz="Etc/GMT+5")
    assert list(weather.columns) == ["ghi", "dni", "dhi", "temp_air", "wind_speed", "cloud_cover"]
    assert weather["cloud_cover"].between(0, 100).all() and weather["cloud_cover"].max() == 100.0
    raw, _ = pvlib.iotools.read_tmy3(str(TMY3_PATH), coerce_year=2026, map_variables=True)
    # Irradiance of the hour ending 13:00 is the step starting 12:00.
    assert weather["ghi"].iloc[12] == raw["ghi"].iloc[12]
    # Temperature is the mean of the observations at 12:00 and 13:00.
    assert weather["temp_air"].iloc[12] == pytest.approx(0.5 * (raw["temp_air"].iloc[11] + raw["temp_air"].iloc[12]))
    site = site_from_metadata(metadata)
    assert site.timezone == "Etc/GMT+5" and site.latitude_deg == pytest.approx(36.1)


def test_tmy3_without_year_names_the_fix():
    with pytest.raises(DataError, match="not one continuous series.*pass year="):
        read_tmy3_weather(TMY3_PATH)


def test_tmy3_leap_year_is_refused():
    with pytest.raises(DataError, match="2028 is a leap year"):
        read_tmy3_weather(TMY3_PATH, year=2028)


# --- EPW ----------------------------------------------------------------------------------------------------------

def write_epw(tmp_path: Path, ghi: np.ndarray, days: int = 2) -> Path:
    header = [
        "LOCATION,Zhengzhou,HA,CHN,test,570830,34.75,113.63,8.0,110.0",
        "DESIGN CONDITIONS,0", "TYPICAL/EXTREME PERIODS,0", "GROUND TEMPERATURES,0",
        "HOLIDAYS/DAYLIGHT SAVINGS,No,0,0,0", "COMMENTS 1,test", "COMMENTS 2,test",
        "DATA PERIODS,1,1,Data,Sunday,1/1,12/31",
    ]
    rows = []
    for i in range(days * 24):
        day, hour = divmod(i, 24)
        g = ghi[i]
        dni, dhi = (9999, 9999) if g == 9999 else (0.5 * g, 0.5 * g)
        fields = [2005, 1, day + 1, hour + 1, 60, "?", 10.0 + hour / 2, 0, 50, 101000, 0, 0, 300, g, dni, dhi,
                  0, 0, 0, 0, 180, 2.0, 5, 3, 20, 9999, 9, 999999999, 10, 0.1, 0, 88, 0.2, 0, 1]
        rows.append(",".join(str(f) for f in fields))
    path = tmp_path / "site.epw"
    path.write_text("\n".join(header + rows) + "\n")
    return path


def test_epw_is_read_with_cloud_cover_in_percent_and_missing_codes_as_gaps(tmp_path):
    ghi = np.where((np.arange(48) % 24 >= 7) & (np.arange(48) % 24 <= 17), 400.0, 0.0)
    ghi[12] = 9999                                          # one missing hour: filled
    weather, metadata = read_epw_weather(write_epw(tmp_path, ghi), year=2026)
    assert weather.index[0] == pd.Timestamp("2026-01-01 00:00", tz="Etc/GMT-8")
    assert len(weather) == 48
    assert weather["cloud_cover"].eq(50.0).all()            # 5 tenths
    assert weather["ghi"].iloc[12] == 400.0
    assert site_from_metadata(metadata).timezone == "Etc/GMT-8"

    ghi[12:16] = 9999                                       # four missing hours: refused
    with pytest.raises(DataError, match="site.epw: column 'ghi' has a gap of 4 h"):
        read_epw_weather(write_epw(tmp_path, ghi), year=2026)


@pytest.mark.parametrize("reader, kind", [(read_tmy3_weather, "TMY3"), (read_epw_weather, "EPW")])
def test_typical_year_readers_name_unreadable_and_missing_files(tmp_path, reader, kind):
    with pytest.raises(DataError, match=f"cannot be read as {kind}; is it a"):
        reader(write(tmp_path, "a,b\n1,2\n3,4\n", "other.csv"), year=2026)
    with pytest.raises(DataError, match="file not found"):
        reader(tmp_path / "absent.csv", year=2026)


def test_epw_impossible_value_is_refused(tmp_path):
    ghi = np.zeros(48)
    ghi[12] = 1800.0
    with pytest.raises(DataError, match="column 'ghi' has 1800"):
        read_epw_weather(write_epw(tmp_path, ghi), year=2026)


def test_power_forecast_csv_is_read_on_its_own_step(tmp_path: Path) -> None:
    from forecasting.sources import read_power_forecast_csv

    path = write(tmp_path, "timestamp,pv1_kw,l1_kw\n2026-07-15T00:00:00+08:00,0,400\n"
                           "2026-07-15T00:30:00+08:00,12.5,410\n2026-07-15T01:00:00+08:00,30,420\n")
    frame = read_power_forecast_csv(path)
    assert list(frame.columns) == ["pv1_kw", "l1_kw"] and frame.dtypes.eq(float).all()
    assert frame.index[1] - frame.index[0] == pd.Timedelta("30min")
    assert frame.index[0].utcoffset() == pd.Timedelta(hours=8) and frame["pv1_kw"].tolist() == [0.0, 12.5, 30.0]


def test_power_forecast_csv_refuses_gaps_naming_the_first_missing_step(tmp_path: Path) -> None:
    from forecasting.sources import read_power_forecast_csv

    missing_row = write(tmp_path, "timestamp,pv1_kw\n2026-07-15T00:00:00+08:00,0\n2026-07-15T01:00:00+08:00,0\n"
                                  "2026-07-15T03:00:00+08:00,0\n2026-07-15T04:00:00+08:00,0\n")
    with pytest.raises(DataError, match=r"forecast.csv: no value at 2026-07-15T02:00:00\+08:00 \(column 'pv1_kw'\); "
                                        r"a forecast needs every 60-min step from its first row to its last"):
        read_power_forecast_csv(missing_row)
    inf = write(tmp_path, "timestamp,pv1_kw\n2026-07-15T00:00:00+08:00,inf\n2026-07-15T01:00:00+08:00,0\n", "inf.csv")
    with pytest.raises(DataError, match="inf.csv: column 'pv1_kw' has inf"):
        read_power_forecast_csv(inf)
