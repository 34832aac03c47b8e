"""Reading a case folder: ``park.yaml`` plus its time-series files.

A case folder holds ``park.yaml`` (the :class:`~microgrid.park.Park`) and the
CSV files it names under ``data``. :func:`load_case` validates everything and
turns every problem into a one-line :class:`~microgrid.errors.InvalidParkError`
or :class:`~microgrid.errors.DataError` that names the field and the fix.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError

from microgrid.errors import DataError, InvalidParkError
from microgrid.park import Park
from microgrid.tariff import tariff_from_config
from microgrid.timeseries import read_timeseries_csv
from microgrid.yaml_text import load_yaml

CASE_FILE = "park.yaml"


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at ``loc`` (for suggestions)."""
    model: Any = root
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        info = model.model_fields.get(str(part))
        if info is None:
            return model
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        model = args[-1] if args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel) else annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def format_validation_error(error: ValidationError, root: type[BaseModel] = Park, prefix: str = "") -> str:
    """One line per problem, each naming the field's full path and the fix."""
    messages = []
    for item in error.errors():
        loc = tuple(str(p) for p in item["loc"])
        where = ".".join((prefix,) + loc if prefix else loc) or "(top level)"
        kind = item["type"]
        if kind == "extra_forbidden":
            owner = _model_at(root, loc[:-1])
            known = list(owner.model_fields) if owner else []
            close = difflib.get_close_matches(loc[-1], known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(known)}"
            messages.append(f"{where}: unknown field; {hint}")
        elif kind == "missing":
            messages.append(f"{where}: required field is missing; add it")
        else:
            message = item["msg"].removeprefix("Value error, ")
            value = item.get("input")
            shown = "" if isinstance(value, (dict, list)) or value is None else f" (got {value!r})"
            # Whole-park checks (model validators) name their field in the message itself.
            messages.append(f"{message}{shown}" if not loc and not prefix else f"{where}: {message}{shown}")
    return "; ".join(messages)


def park_from_dict(config: dict, folder: str | Path | None = None) -> Park:
    """Validate a park description given as a plain dict (the parsed ``park.yaml``).

    With the case ``folder``, the files the description itself holds values
    from are read into it (``carbon.grid.hourly_csv``); without it they are
    left unread (the park's own fields still validated).
    """
    if not isinstance(config, dict):
        raise InvalidParkError(f"{CASE_FILE}: the top level must be a mapping of sections (site, grid, ...)")
    config = dict(config)
    tariff_config = config.get("tariff")
    _one_grid_factor(config)
    if folder is not None:
        _read_hourly_factor(config, Path(folder))
    if isinstance(tariff_config, dict):
        try:
            config["tariff"] = tariff_from_config(tariff_config)
        except ValidationError as exc:
            raise InvalidParkError(format_validation_error(exc, root=Park.model_fields["tariff"].annotation,
                                                           prefix="tariff")) from None
    try:
        return Park.model_validate(config)
    except ValidationError as exc:
        raise InvalidParkError(format_validation_error(exc)) from None


def _one_grid_factor(config: dict) -> None:
    """A case names its grid factor once: in ``carbon.grid``, or (as before it existed) ``tariff.co2_kg_per_kwh``."""
    tariff, carbon = config.get("tariff"), config.get("carbon")
    grid = carbon.get("grid") if isinstance(carbon, dict) else None
    if isinstance(tariff, dict) and "co2_kg_per_kwh" in tariff and isinstance(grid, dict):
        raise InvalidParkError("tariff.co2_kg_per_kwh: the grid factor is given in carbon.grid; remove it from "
                               "the tariff (carbon.grid.co2_kg_per_kwh is the one the park uses)")


def _read_hourly_factor(config: dict, folder: Path) -> None:
    """``carbon.grid.hourly_csv`` ({file, column}, 24 rows ``hour`` 0-23) read into ``hourly_co2_kg_per_kwh``."""
    carbon = config.get("carbon")
    grid = carbon.get("grid") if isinstance(carbon, dict) else None
    spec = grid.get("hourly_csv") if isinstance(grid, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("file"), str):
        return          # absent, or malformed: the park's validation names it
    field = "carbon.grid.hourly_csv"
    if grid.get("hourly_co2_kg_per_kwh") is not None:
        raise InvalidParkError(f"{field}: the hourly profile is given twice; keep hourly_csv or "
                               "hourly_co2_kg_per_kwh")
    name, column = spec["file"], spec.get("column", "co2_kg_per_kwh")
    path = folder / name
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"{field} ({name}): no such file in {folder}; add it or fix the name") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{field} ({name}): not a CSV table ({exc}); write hour,{column} rows") from None
    missing = [c for c in ("hour", column) if c not in table.columns]
    if missing:
        raise DataError(f"{field} ({name}): no column {', '.join(missing)}; the file has 24 rows of "
                        f"hour (0-23) and {column} [kg CO2/kWh]")
    hours = pd.to_numeric(table["hour"], errors="coerce")
    values = pd.to_numeric(table[column], errors="coerce")
    if len(table) != 24 or sorted(hours.tolist()) != list(range(24)):
        raise DataError(f"{field} ({name}): needs 24 rows, one per local hour 0-23, each once; "
                        f"got {len(table)} row(s)")
    if values.isna().any():
        raise DataError(f"{field} ({name}): {column} has an empty or non-numeric value at hour "
                        f"{int(hours[values.isna()].iloc[0])}; give every hour's factor")
    config["carbon"] = {**carbon, "grid": {**grid, "hourly_co2_kg_per_kwh":
                                           values.set_axis(hours.astype(int)).sort_index().astype(float).tolist()}}


@dataclass
class Case:
    """A validated park with its folder, from which its time series are read lazily."""

    park: Park
    folder: Path
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.park.site.name

    def _read(self, key: str) -> pd.DataFrame:
        if key not in self._cache:
            filename = getattr(self.park.data, key)
            self._cache[key] = read_timeseries_csv(self.folder / filename, what=f"data.{key} ({filename})")
        return self._cache[key]

    @cached_property
    def weather(self) -> pd.DataFrame:
        """The case's weather table (pvlib standard names)."""
        return self._read("weather")

    @cached_property
    def load_profiles(self) -> pd.DataFrame:
        """The case's loads file: one column per profile [kW]."""
        return self._read("loads")

    @cached_property
    def heat_profiles(self) -> pd.DataFrame:
        """The case's heat file: one column per heat demand profile [kW of heat]."""
        return self._read("heat")

    @cached_property
    def grid_meter(self) -> pd.DataFrame | None:
        """The case's metered grid import (``data.grid_meter``): a ``grid_import_kw`` column [kW], or ``None``."""
        filename = self.park.data.grid_meter
        if filename is None:
            return None
        what = f"data.grid_meter ({filename})"
        frame = read_timeseries_csv(self.folder / filename, what=what)
        if "grid_import_kw" not in frame.columns:
            raise DataError(f"{what}: no grid_import_kw column; name the metered import [kW] grid_import_kw")
        negative = frame["grid_import_kw"].to_numpy() < 0
        if negative.any():
            raise DataError(f"{what}: grid_import_kw is negative at {frame.index[negative][0].isoformat()}; "
                            "import is ≥ 0 (export is not part of it)")
        return frame[["grid_import_kw"]]

    def sunniest_and_cloudiest_day(self, month: int) -> tuple[dt.date, dt.date]:
        """Local dates with the most and the least irradiation (daily GHI sum) in ``month``."""
        daily = self.weather["ghi"].tz_convert(self.park.site.timezone).resample("1D").sum()
        in_month = daily[daily.index.month == month]
        if in_month.empty:
            raise DataError(f"data.weather ({self.park.data.weather}): no data in month {month}")
        return in_month.idxmax().date(), in_month.idxmin().date()

    def check_data(self) -> None:
        """Check that every profile a device names exists in the data files."""
        columns = set(self.load_profiles.columns)
        for group in ("loads", "curtailable_loads", "shiftable_loads"):
            for load_id, load in getattr(self.park, group).items():
                if load.profile not in columns:
                    raise DataError(
                        f"{group}.{load_id}.profile: column {load.profile!r} is not in {self.park.data.loads}; "
                        f"use one of {', '.join(sorted(columns))}"
                    )
        if self.park.heat_buses:
            heat_columns = set(self.heat_profiles.columns)
            for bus_id, bus in self.park.heat_buses.items():
                if bus.demand_profile not in heat_columns:
                    raise DataError(
                        f"heat_buses.{bus_id}.demand_profile: column {bus.demand_profile!r} is not in "
                        f"{self.park.data.heat}; use one of {', '.join(sorted(heat_columns))}"
                    )
        if self.park.data.grid_meter is not None:
            self.grid_meter  # noqa: B018 - read and checked when the case is loaded
        if self.park.wind_turbines and "wind_speed" not in self.weather.columns:
            raise DataError(f"data.weather ({self.park.data.weather}): missing column wind_speed (10-m wind speed "
                            "[m/s]), needed by wind_turbines; add it")
        if self.park.pv_arrays:
            missing = [c for c in ("ghi", "dni", "dhi", "temp_air", "wind_speed") if c not in self.weather.columns]
            if missing:
                raise DataError(
                    f"data.weather ({self.park.data.weather}): missing column(s) {', '.join(missing)}; "
                    "use pvlib's standard names"
                )


def load_case(folder: str | Path) -> Case:
    """Read and validate the case in ``folder``.

    Raises
    ------
    InvalidParkError
        ``park.yaml`` is missing, is not YAML, names a key twice in a mapping,
        or describes an invalid park (a number that is not finite included).
    DataError
        A data file is missing, malformed, or lacks a column a device names.
    """
    folder = Path(folder)
    path = folder / CASE_FILE if folder.is_dir() else folder
    if not path.exists():
        raise InvalidParkError(f"case: no {CASE_FILE} in {folder}; pass a case folder such as cases/zhengzhou_park")
    config = load_yaml(path.read_text(encoding="utf-8"), path.name)
    case = Case(park=park_from_dict(config, folder=path.parent), folder=path.parent)
    case.check_data()
    return case
