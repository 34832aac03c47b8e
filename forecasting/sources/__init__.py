"""Readers at the edge: files in, checked weather and meter tables out.

Every reader returns a table on a regular tz-aware index of step starts, with
pvlib's column names for weather (``ghi``, ``dni``, ``dhi`` [W/m²],
``temp_air`` [°C], ``wind_speed`` [m/s]) plus ``cloud_cover`` [%], and raises
:class:`~microgrid.errors.DataError` with a message naming the column and the
fix for missing columns, naive timestamps, irregular steps, physically
impossible values and gaps longer than ``max_gap_h``.
"""

from forecasting.sources.checks import WEATHER_LIMITS, check_table
from forecasting.sources.csv_files import (
    WEATHER_CSV_COLUMNS, read_meter_csv, read_power_forecast_csv, read_weather_csv)
from forecasting.sources.typical_year import (
    TYPICAL_YEAR_COLUMNS, read_epw_weather, read_tmy3_weather, site_from_metadata)

__all__ = [
    "WEATHER_LIMITS", "WEATHER_CSV_COLUMNS", "TYPICAL_YEAR_COLUMNS", "check_table",
    "read_weather_csv", "read_meter_csv", "read_power_forecast_csv",
    "read_tmy3_weather", "read_epw_weather", "site_from_metadata",
]
