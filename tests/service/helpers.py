"""What the command-line tests share: a tiny case on disk, running the CLI, checking a one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import yaml
from typer.testing import CliRunner

from service.cli import app

runner = CliRunner()

TINY_PARK = {
    "site": {"name": "tiny park", "latitude_deg": 34.75, "longitude_deg": 113.63, "altitude_m": 110},
    "grid": {"max_import_kw": 2000, "max_export_kw": 500},
    "tariff": {"preset": "henan_2024"},
    "pv_arrays": {"pv1": {"bus": "pcc", "dc_capacity_kw": 600, "ac_capacity_kw": 500}},
    "batteries": {"b1": {"bus": "pcc", "capacity_kwh": 400, "max_charge_kw": 200, "max_discharge_kw": 200}},
    "loads": {"l1": {"bus": "pcc", "profile": "l1_kw"}},
}
"""One PV array, one battery and one load on one bus, with the Henan tariff."""

TINY_WIND_PARK = {**TINY_PARK, "wind_turbines": {"wt1": {
    "bus": "pcc", "hub_height_m": 30,
    "power_curve": {"wind_speed_m_per_s": [3.0, 4.0, 12.0, 25.0], "p_kw": [0.0, 50.0, 1000.0, 1000.0]}}}}
"""The tiny park with one wind turbine of its own power curve (1 MW from 12 m/s at its 30-m hub)."""


def windy_nights(index: pd.DatetimeIndex) -> np.ndarray:
    """10-m wind speed [m/s]: 12 m/s from 20:00 to 08:00 (1 MW from :data:`TINY_WIND_PARK`'s turbine), 2 m/s by day."""
    hours = index.hour + index.minute / 60
    return np.where((hours >= 8) & (hours < 20), 2.0, 12.0)


def run(*args: str):
    """Invoke ``microgrid`` with ``args``."""
    return runner.invoke(app, list(args))


def one_line_error(result, *fragments: str) -> None:
    """Exit status 1, no traceback, and one message starting with ``error:`` holding ``fragments``."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert text.startswith("error:"), text
    assert text.count("error:") == 1, text
    for fragment in fragments:
        assert fragment in text, text


def write_tiny_case(folder: Path, park: dict, *, start: str = "2026-07-15", days: int = 2,
                    day_kw: float = 900.0, night_kw: float = 400.0, hazy_odd_days: bool = False,
                    naive: bool = False, wind: Callable[[pd.DatetimeIndex], np.ndarray] | None = None) -> Path:
    """``park`` with ``days`` days of data at 15 minutes from ``start``.

    Sun: a sine from 06:00 to 19:00 (60 % on odd days of the month when
    ``hazy_odd_days``); one load ``l1_kw``: ``day_kw`` 08:00-20:00, else ``night_kw``.
    ``naive`` writes timestamps without UTC offset. Wind speed 2 m/s, or
    ``wind(index)`` (e.g. :func:`windy_nights`).
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "park.yaml").write_text(yaml.safe_dump(park, sort_keys=False))
    index = pd.date_range(start, periods=96 * days, freq="15min", tz="Asia/Shanghai")
    hours = index.hour + index.minute / 60
    sun = np.clip(np.sin((hours - 6) / 13 * np.pi), 0, None)
    if hazy_odd_days:
        sun = sun * np.where(index.day % 2 == 0, 1.0, 0.6)
    stamps = [t.strftime("%Y-%m-%dT%H:%M:%S") if naive else t.isoformat() for t in index]
    pd.DataFrame({"timestamp": stamps, "ghi": 900 * sun, "dni": 700 * sun, "dhi": 150 * sun,
                  "temp_air": 28.0, "wind_speed": 2.0 if wind is None else wind(index)}).to_csv(
        folder / "weather.csv", index=False)
    pd.DataFrame({"timestamp": stamps, "l1_kw": np.where((hours >= 8) & (hours < 20), day_kw, night_kw)}).to_csv(
        folder / "loads.csv", index=False)
    return folder
