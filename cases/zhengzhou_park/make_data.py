"""Regenerate the Zhengzhou park reference data: weather.csv, loads.csv and
heat.csv.

Run from the repository root::

    .venv/bin/python cases/zhengzhou_park/make_data.py

Only data installed with PyPI packages is used (pvlib's bundled TMY3 file for
Greensboro NC, SimBench's load profiles, demandlib's industrial step profile
and the chinese_calendar holiday tables); nothing is downloaded. The output is
deterministic: no randomness is used. DATA.md next to this file explains every
number.

The five workshop columns of loads.csv come from standard profiles. The two
further columns of loads.csv (office HVAC, cold store) and the process-heat
demand in heat.csv are modelled: simple linear relations, given below, of
this file's own weather (temp_air), the Chinese calendar and, for the heat,
the day-shift activity of the machining hall's profile.
"""

import dataclasses
import datetime
import logging
import sys
from pathlib import Path

import chinese_calendar
import numpy as np
import pandas as pd
import pvlib
import simbench
from demandlib.particular_profiles import IndustrialLoadProfile

CASE_DIR = Path(__file__).resolve().parent
REPO_ROOT = CASE_DIR.parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from forecasting.weather import (  # noqa: E402
    WEATHER_COLUMNS, tmy3_to_interval_start, transplant_weather)

logger = logging.getLogger("make_data")

YEAR = 2026
TIMEZONE = "Asia/Shanghai"
STEP = pd.Timedelta("15min")
STEPS_PER_DAY = 96
STEP_H = STEP / pd.Timedelta("1h")

SITE = pvlib.location.Location(latitude=34.75, longitude=113.63,
                               tz=TIMEZONE, altitude=110.0,
                               name="Zhengzhou industrial park")

TMY3_PATH = Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"
SIMBENCH_PROFILE_PATH = (Path(simbench.__file__).parent / "networks"
                         / "1-complete_data-mixed-all-0-sw"
                         / "LoadProfile.csv")

#: Annual maximum of the park total after scaling [kW].
PARK_PEAK_KW = 6000.0

#: SimBench profiles are for 2016 (leap year, 15-minute steps).
SOURCE_YEAR = 2016

#: German public holidays of 2016 (nationwide ones and the regional ones that
#: cover large industrial states), kept out of the source-day pools because
#: the SimBench shapes on these days are holiday shapes.
GERMAN_HOLIDAYS_2016 = tuple(datetime.date.fromisoformat(day) for day in (
    "2016-01-01",  # New Year's Day
    "2016-01-06",  # Epiphany (BW, BY, ST)
    "2016-03-25",  # Good Friday
    "2016-03-28",  # Easter Monday
    "2016-05-01",  # Labour Day
    "2016-05-05",  # Ascension Day
    "2016-05-16",  # Whit Monday
    "2016-05-26",  # Corpus Christi (BW, BY, HE, NW, RP, SL)
    "2016-08-15",  # Assumption Day (SL, parts of BY)
    "2016-10-03",  # German Unity Day
    "2016-10-31",  # Reformation Day (eastern states)
    "2016-11-01",  # All Saints' Day (BW, BY, NW, RP, SL)
    "2016-11-16",  # Day of Repentance and Prayer (SN)
    "2016-12-25",  # Christmas Day
    "2016-12-26",  # Boxing Day
))

#: Christmas / New Year works holidays common in German industry: days in
#: these ranges are not used as working-day or Saturday sources.
GERMAN_SHUTDOWN_2016 = (
    (datetime.date(2016, 1, 1), datetime.date(2016, 1, 6)),
    (datetime.date(2016, 12, 24), datetime.date(2016, 12, 31)),
)

#: Daylight saving time changes in Germany in 2016: these days have 92 and
#: 100 quarter hours in SimBench's wall-clock time axis and are not used.
GERMAN_DST_CHANGE_DAYS_2016 = (datetime.date(2016, 3, 27),
                               datetime.date(2016, 10, 30))

#: Source weekdays per day type (Monday = 0). Mondays and Fridays are left
#: out of the working-day pool because start-up after the weekend and early
#: finish on Fridays show in the measured SimBench shapes.
WORKDAY_SOURCE_WEEKDAYS = (1, 2, 3)
SATURDAY_SOURCE_WEEKDAYS = (5,)
SUNDAY_SOURCE_WEEKDAYS = (6,)

DAY_TYPES = ("workday", "saturday", "sunday_or_holiday")


@dataclasses.dataclass(frozen=True)
class Workshop:
    """One fixed load of the park.

    ``rated_kw`` is the workshop's size relative to the others: the profile
    (normalised to a 2016 maximum of 1) is multiplied by ``rated_kw`` and then
    all workshops by one common park factor so the park total peaks at
    :data:`PARK_PEAK_KW`.
    """

    column: str
    description: str
    shift_pattern: str
    source: str
    source_profile: str
    rated_kw: float


#: demandlib IndustrialLoadProfile settings of the two-shift machining hall:
#: production 06:00-22:00 (the step starting 21:45 is the last one "on"),
#: Saturday one reduced shift level, Sundays/holidays base load only.
MACHINING_STEP_PROFILE = {
    "am": datetime.time(6, 0),
    "pm": datetime.time(21, 45),
    "week": [1, 2, 3, 4, 5],
    "weekend": [6],
    "holiday": [7, 0],
    "profile_factors": {
        "week": {"day": 1.0, "night": 0.2},
        "weekend": {"day": 0.6, "night": 0.2},
        "holiday": {"day": 0.2, "night": 0.2},
    },
}

WORKSHOPS = (
    Workshop("ws1_machining_kw", "CNC machining hall",
             "two-shift 06:00-22:00, Mon-Fri full, Sat reduced",
             "demandlib", "IndustrialLoadProfile (step)", 1800.0),
    Workshop("ws2_assembly_kw", "assembly and painting line",
             "two-shift ~06:00-21:00, Mon-Sat",
             "simbench", "G4-M", 1100.0),
    Workshop("ws3_heat_treatment_kw", "heat treatment and forging",
             "three-shift continuous, 7 days",
             "simbench", "G3-H", 1700.0),
    Workshop("ws4_injection_moulding_kw", "plastic injection moulding",
             "three-shift, Mon-Sat, lighter nights",
             "simbench", "G3-A", 1300.0),
    Workshop("office_utilities_kw",
             "offices, canteen, lighting, compressed-air and pump station",
             "day-time with base load",
             "simbench", "G0-A", 500.0),
)


# Modelled demands (not standard profiles): see DATA.md for the reasoning.

#: Process heat [kW of heat]: base + shift x day-shift activity, where the
#: activity is the machining hall's two-shift profile rescaled to 0 (its
#: night / Sunday level) .. 1 (its working-day day-shift level).
HEAT_ACTIVITY_COLUMN = "ws1_machining_kw"
HEAT_BASE_KW = 600.0
HEAT_SHIFT_KW = 900.0
#: Below this ambient temperature the heat demand rises by
#: HEAT_TEMP_COEFF_PER_K of itself per kelvin (losses, colder make-up water).
HEAT_REFERENCE_TEMP_C = 15.0
HEAT_TEMP_COEFF_PER_K = 0.005
#: The heat plant (2 x 600 kW heat pumps at COP 2.5-3.5, 1,500 kW electric
#: boiler, 6,000 kWh store) is sized for a demand below this [kW of heat].
HEAT_PLANT_LIMIT_KW = 2000.0

#: Office hours [h, h) of the office HVAC and the cold store's loading dock,
#: on Chinese working days (chinese_calendar.is_workday, make-up days
#: included).
OFFICE_HOURS = (8, 18)

#: Office HVAC [kW electric]: standby outside office hours; in office hours
#: ventilation plus a linear term per kelvin above the cooling balance point
#: and below the heating balance point; capped.
HVAC_STANDBY_KW = 20.0
HVAC_VENTILATION_KW = 40.0
HVAC_COOLING_BALANCE_C = 24.0
HVAC_COOLING_KW_PER_K = 22.0
HVAC_HEATING_BALANCE_C = 12.0
HVAC_HEATING_KW_PER_K = 9.0
HVAC_CAP_KW = 300.0

#: Cold store [kW electric]: base compressor demand, a linear rise per kelvin
#: above the floating-head-pressure floor, a door-opening adder during
#: office hours on working days; capped at the compressor rating.
COLD_STORE_BASE_KW = 130.0
COLD_STORE_FLOOR_TEMP_C = 10.0
COLD_STORE_KW_PER_K = 2.5
COLD_STORE_DOOR_KW = 10.0
COLD_STORE_CAP_KW = 200.0


def make_target_index():
    """15-minute step starts of YEAR in Asia/Shanghai (35040 steps)."""
    return pd.date_range(f"{YEAR}-01-01", f"{YEAR + 1}-01-01", freq=STEP,
                         tz=TIMEZONE, inclusive="left", name="timestamp")


# --------------------------------------------------------------------------
# Weather
# --------------------------------------------------------------------------

def make_weather(target_index):
    """Greensboro TMY3 transplanted to the park site, rounded for the CSV."""
    tmy3_data, tmy3_metadata = pvlib.iotools.read_tmy3(str(TMY3_PATH),
                                                       map_variables=True)
    source_weather = tmy3_to_interval_start(tmy3_data, YEAR)
    utc_offset_h = tmy3_metadata["TZ"]
    source_location = pvlib.location.Location(
        latitude=tmy3_metadata["latitude"],
        longitude=tmy3_metadata["longitude"],
        tz=f"Etc/GMT{-int(utc_offset_h):+d}",
        altitude=tmy3_metadata["altitude"],
        name=tmy3_metadata["Name"].strip('"'))
    logger.info("weather source: %s (%.2f, %.2f, %s), %d hours",
                source_location.name, source_location.latitude,
                source_location.longitude, source_location.tz,
                len(source_weather))
    weather = transplant_weather(source_weather, source_location, SITE,
                                 target_index)
    return weather.loc[:, list(WEATHER_COLUMNS)].round(
        {"ghi": 1, "dni": 1, "dhi": 1, "temp_air": 2, "wind_speed": 2})


# --------------------------------------------------------------------------
# Loads
# --------------------------------------------------------------------------

def read_simbench_day_shapes(profile_names):
    """SimBench active-power profiles as one row of 96 values per 2016 day.

    SimBench's ``time`` column is German wall-clock time with daylight
    saving (the file skips 02:00-02:45 on 27 March and repeats 02:00-02:45
    on 30 October 2016) and labels the start of each quarter hour (the file
    runs from 01.01.2016 00:00 to 31.12.2016 23:45 and the repeated hour is
    labelled 02:00-02:45, not 02:15-03:00). Workshops run by the wall clock,
    so each day is taken by wall-clock quarter hour; the two DST change days
    are dropped.
    """
    columns = [f"{name}_pload" for name in profile_names]
    raw = pd.read_csv(SIMBENCH_PROFILE_PATH, sep=";",
                      usecols=["time", *columns])
    wall_time = pd.to_datetime(raw["time"], format="%d.%m.%Y %H:%M")
    raw = raw.assign(date=wall_time.dt.date,
                     slot=wall_time.dt.hour * 4 + wall_time.dt.minute // 15)
    raw = raw[~raw["date"].isin(GERMAN_DST_CHANGE_DAYS_2016)]
    slots_per_day = raw.groupby("date")["slot"].nunique()
    rows_per_day = raw.groupby("date").size()
    if not ((slots_per_day == STEPS_PER_DAY)
            & (rows_per_day == STEPS_PER_DAY)).all():
        raise ValueError("SimBench profile days do not all have 96 quarter "
                         "hours after removing the DST change days")
    shapes = {}
    for name, column in zip(profile_names, columns):
        table = raw.pivot(index="date", columns="slot", values=column)
        shapes[name] = table.sort_index()
        logger.info("SimBench %s: 2016 mean %.3f, max %.3f (of max 1)", name,
                    table.to_numpy().mean(), table.to_numpy().max())
    return shapes


def make_machining_day_shapes():
    """demandlib industrial step profile on the 2016 calendar, max 1."""
    index = pd.date_range(f"{SOURCE_YEAR}-01-01", f"{SOURCE_YEAR + 1}-01-01",
                          freq=STEP, inclusive="left")
    profile = IndustrialLoadProfile(index, holidays=None).simple_profile(
        1.0, **MACHINING_STEP_PROFILE)
    profile = profile / profile.max()
    frame = pd.DataFrame({"value": profile.to_numpy(),
                          "date": index.date,
                          "slot": index.hour * 4 + index.minute // 15})
    return frame.pivot(index="date", columns="slot", values="value")


def classify_target_day(day):
    """Chinese day type of ``day``: 'workday', 'saturday' or
    'sunday_or_holiday'.

    Official make-up working days on weekends count as working days; public
    holidays (any day off with a holiday name, including the bridged days)
    count as Sundays; remaining weekend days by their weekday.
    """
    if chinese_calendar.is_workday(day):
        return "workday"
    _, holiday_name = chinese_calendar.get_holiday_detail(day)
    if holiday_name is None and day.weekday() == 5:
        return "saturday"
    return "sunday_or_holiday"


def source_day_pools():
    """Candidate 2016 source days for each day type."""
    def in_shutdown(day):
        return any(first <= day <= last
                   for first, last in GERMAN_SHUTDOWN_2016)

    all_days = pd.date_range(f"{SOURCE_YEAR}-01-01",
                             f"{SOURCE_YEAR}-12-31").date
    usable = [day for day in all_days
              if day not in GERMAN_DST_CHANGE_DAYS_2016
              and day not in GERMAN_HOLIDAYS_2016]
    return {
        "workday": [day for day in usable
                    if day.weekday() in WORKDAY_SOURCE_WEEKDAYS
                    and not in_shutdown(day)],
        "saturday": [day for day in usable
                     if day.weekday() in SATURDAY_SOURCE_WEEKDAYS
                     and not in_shutdown(day)],
        "sunday_or_holiday": [day for day in usable
                              if day.weekday() in SUNDAY_SOURCE_WEEKDAYS],
    }


def _non_leap_day_of_year(day):
    """Zero-based day of year on a 365-day calendar (29 Feb -> 28 Feb)."""
    day_of_year = day.timetuple().tm_yday - 1
    is_leap = pd.Timestamp(day).is_leap_year
    if is_leap and (day.month, day.day) >= (2, 29):
        day_of_year -= 1
    return day_of_year


def map_target_days(target_days):
    """Pick a 2016 source day of the same day type for each target day.

    The source day is the one nearest in day of year (365-day calendar, not
    wrapping around the year end), ties to the earlier one.
    """
    pools = source_day_pools()
    pool_positions = {
        day_type: np.array([_non_leap_day_of_year(day) for day in pool])
        for day_type, pool in pools.items()
    }
    rows = []
    for day in target_days:
        day_type = classify_target_day(day)
        distance = np.abs(pool_positions[day_type]
                          - _non_leap_day_of_year(day))
        nearest = int(np.argmin(distance))  # first minimum = earlier day
        rows.append({"date": day, "day_type": day_type,
                     "source_date": pools[day_type][nearest],
                     "shift_days": int(distance[nearest])})
    mapping = pd.DataFrame(rows).set_index("date")
    logger.info("day types in %d: %s", YEAR,
                mapping["day_type"].value_counts().to_dict())
    logger.info("largest source-day shift: %d days",
                mapping["shift_days"].max())
    return mapping


def make_loads(target_index):
    """Fixed park loads [kW], one column per workshop, rounded for the CSV."""
    simbench_names = [workshop.source_profile for workshop in WORKSHOPS
                      if workshop.source == "simbench"]
    day_shapes = read_simbench_day_shapes(simbench_names)
    machining_shapes = make_machining_day_shapes()

    target_days = pd.date_range(f"{YEAR}-01-01", f"{YEAR}-12-31").date
    mapping = map_target_days(target_days)
    source_dates = mapping["source_date"].to_list()

    unscaled_kw = {}
    for workshop in WORKSHOPS:
        if workshop.source == "simbench":
            shapes = day_shapes[workshop.source_profile]
        else:
            shapes = machining_shapes
        year_shape = shapes.loc[source_dates].to_numpy().ravel()
        unscaled_kw[workshop.column] = workshop.rated_kw * year_shape
    loads_kw = pd.DataFrame(unscaled_kw, index=target_index)
    if len(loads_kw) != len(source_dates) * STEPS_PER_DAY:
        raise ValueError("load series and target index differ in length")

    park_factor = PARK_PEAK_KW / loads_kw.sum(axis=1).max()
    logger.info("park scaling factor: %.4f", park_factor)
    loads_kw = (loads_kw * park_factor).round(1)
    return loads_kw, mapping, park_factor


# --------------------------------------------------------------------------
# Modelled demands driven by the case's weather and calendar
# --------------------------------------------------------------------------

def working_day_mask(index):
    """True at steps of Chinese working days (make-up working days too)."""
    is_workday = {day: chinese_calendar.is_workday(day)
                  for day in sorted(set(index.date))}
    return np.array([is_workday[day] for day in index.date])


def office_hours_mask(index):
    """True at steps starting in office hours on Chinese working days."""
    first_hour, end_hour = OFFICE_HOURS
    in_hours = (index.hour >= first_hour) & (index.hour < end_hour)
    return np.asarray(in_hours) & working_day_mask(index)


def day_shift_activity(loads_kw):
    """Day-shift activity 0..1 of the two-shift machining hall.

    The column as written to loads.csv, rescaled so its annual minimum (the
    night and Sunday/holiday level) is 0 and its annual maximum (the
    working-day day shift) is 1; ordinary Saturdays' reduced shift is 0.5.
    """
    column = loads_kw[HEAT_ACTIVITY_COLUMN]
    return (column - column.min()) / (column.max() - column.min())


def make_process_heat(loads_kw, weather):
    """Process-heat demand [kW of heat], rounded for the CSV."""
    activity = day_shift_activity(loads_kw)
    cold_k = (HEAT_REFERENCE_TEMP_C - weather["temp_air"]).clip(lower=0.0)
    heat_kw = ((HEAT_BASE_KW + HEAT_SHIFT_KW * activity)
               * (1.0 + HEAT_TEMP_COEFF_PER_K * cold_k))
    heat = pd.DataFrame({"process_heat_kw": heat_kw.round(1)},
                        index=loads_kw.index)
    if heat["process_heat_kw"].max() >= HEAT_PLANT_LIMIT_KW:
        raise ValueError("process heat demand reaches the heat plant limit")
    return heat


def make_office_hvac(weather):
    """Office HVAC electrical demand [kW]."""
    temp_c = weather["temp_air"]
    cooling_k = (temp_c - HVAC_COOLING_BALANCE_C).clip(lower=0.0)
    heating_k = (HVAC_HEATING_BALANCE_C - temp_c).clip(lower=0.0)
    occupied_kw = (HVAC_VENTILATION_KW + HVAC_COOLING_KW_PER_K * cooling_k
                   + HVAC_HEATING_KW_PER_K * heating_k).clip(
                       upper=HVAC_CAP_KW)
    occupied = office_hours_mask(weather.index)
    return occupied_kw.where(occupied, HVAC_STANDBY_KW)


def make_cold_store(weather):
    """Cold-store compressor demand [kW]."""
    temp_c = weather["temp_air"]
    warm_k = (temp_c - COLD_STORE_FLOOR_TEMP_C).clip(lower=0.0)
    door_kw = np.where(office_hours_mask(weather.index),
                       COLD_STORE_DOOR_KW, 0.0)
    return (COLD_STORE_BASE_KW + COLD_STORE_KW_PER_K * warm_k
            + door_kw).clip(upper=COLD_STORE_CAP_KW)


def make_modelled_loads(weather):
    """The weather- and calendar-driven columns of loads.csv [kW]."""
    return pd.DataFrame({"office_hvac_kw": make_office_hvac(weather),
                         "cold_store_kw": make_cold_store(weather)},
                        index=weather.index).round(1)


def summarize_modelled(weather, loads_kw, heat):
    """Log the numbers of the modelled series that DATA.md quotes."""
    series = {"process_heat_kw": heat["process_heat_kw"],
              "office_hvac_kw": loads_kw["office_hvac_kw"],
              "cold_store_kw": loads_kw["cold_store_kw"]}
    working = working_day_mask(weather.index)
    hours = weather.index.hour
    for name, values in series.items():
        logger.info("%-26s %10.0f kWh  peak %7.1f kW at %s  mean %6.1f kW  "
                    "min %6.1f kW", name, values.sum() * STEP_H,
                    values.max(), values.idxmax().isoformat(), values.mean(),
                    values.min())
    heat_kw = heat["process_heat_kw"]
    day = working & (hours >= 8) & (hours < 18)
    night = working & (hours < 5)
    logger.info("process heat on working days: 08-18 mean %.1f kW "
                "(min %.1f, max %.1f), 00-05 mean %.1f kW (min %.1f, max "
                "%.1f)", heat_kw[day].mean(), heat_kw[day].min(),
                heat_kw[day].max(), heat_kw[night].mean(),
                heat_kw[night].min(), heat_kw[night].max())
    monthly = pd.DataFrame(series).resample("MS").sum() * STEP_H / 1000.0
    for name in series:
        logger.info("%s monthly MWh: %s", name,
                    monthly[name].round(1).to_list())
    total_kw = loads_kw.sum(axis=1)
    logger.info("all loads.csv columns: %.0f kWh, peak %.1f kW at %s",
                total_kw.sum() * STEP_H, total_kw.max(),
                total_kw.idxmax().isoformat())


def summarize(weather, loads_kw, mapping, park_factor):
    """Log the numbers that DATA.md quotes."""
    logger.info("weather: annual GHI %.1f kWh/m^2, DNI %.1f, DHI %.1f; "
                "mean temp_air %.2f C (min %.1f, max %.1f); mean wind %.2f "
                "m/s", weather["ghi"].sum() * STEP_H / 1000.0,
                weather["dni"].sum() * STEP_H / 1000.0,
                weather["dhi"].sum() * STEP_H / 1000.0,
                weather["temp_air"].mean(), weather["temp_air"].min(),
                weather["temp_air"].max(), weather["wind_speed"].mean())
    monthly_temp = weather["temp_air"].groupby(weather.index.month).mean()
    logger.info("monthly mean temp_air [C]: %s",
                monthly_temp.round(1).to_list())
    for workshop in WORKSHOPS:
        series = loads_kw[workshop.column]
        logger.info("%-26s %-32s scale %.1f kW/unit  %10.0f kWh  peak %7.1f "
                    "kW  mean %6.1f kW", workshop.column,
                    f"{workshop.source}:{workshop.source_profile}",
                    workshop.rated_kw * park_factor,
                    series.sum() * STEP_H, series.max(), series.mean())
    total_kw = loads_kw.sum(axis=1)
    logger.info("park total: %.0f kWh, peak %.1f kW at %s, mean %.1f kW, "
                "load factor %.3f, min %.1f kW", total_kw.sum() * STEP_H,
                total_kw.max(), total_kw.idxmax().isoformat(),
                total_kw.mean(), total_kw.mean() / total_kw.max(),
                total_kw.min())
    daily_kwh = total_kw.resample("D").sum() * STEP_H
    by_type = daily_kwh.groupby(mapping["day_type"].to_numpy()).mean()
    logger.info("mean daily park energy by day type [kWh]: %s",
                by_type.round(0).to_dict())


def write_csv(frame, path):
    """Write with ISO 8601 step-start timestamps including the UTC offset."""
    output = frame.copy()
    output.index = pd.Index([timestamp.isoformat()
                             for timestamp in frame.index], name="timestamp")
    output.to_csv(path, lineterminator="\n")
    logger.info("wrote %s (%d rows)", path, len(output))


def main():
    logging.basicConfig(level=logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    target_index = make_target_index()
    weather = make_weather(target_index)
    loads_kw, mapping, park_factor = make_loads(target_index)
    summarize(weather, loads_kw, mapping, park_factor)
    heat = make_process_heat(loads_kw, weather)
    loads_kw = loads_kw.join(make_modelled_loads(weather))
    summarize_modelled(weather, loads_kw, heat)
    write_csv(weather, CASE_DIR / "weather.csv")
    write_csv(loads_kw, CASE_DIR / "loads.csv")
    write_csv(heat, CASE_DIR / "heat.csv")


if __name__ == "__main__":
    main()
