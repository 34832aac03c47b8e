"""Carbon metering of a schedule: scope 2 emissions, emissions avoided by on-site renewables, green certificates.

Figures per local day and per calendar month, from the schedule table alone
(columns as in ``schedule.csv``), each one the KPI of :func:`dispatch.kpis.schedule_kpis`
over the day's (or month's) rows, so that a figure has one definition:

* ``import_kwh`` = grid import (``grid_import_kwh``);
* ``consumption_kwh`` = ``load_kw`` × Δt (``consumption_kwh``: everything but
  battery charging);
* ``scope2_co2_kg`` = Σ import × Δt × the schedule's ``co2_kg_per_kwh``
  (``co2_kg``, location-based scope 2 with each step's grid factor: the
  park's ``carbon.grid`` average, or its local hour's value under an hourly
  profile);
* ``scope1_co2_kg``: the fuels burnt on site (``carbon.fuels``,
  :class:`microgrid.carbon.Fuel`), their daily CO2 × the hours the rows cover
  / 24 (a monthly consumption spread evenly over the month's days); 0 for a
  park without fuels (heat then comes from heat pumps and electric boilers);
* ``total_co2_kg`` = scope 1 + scope 2;
* ``renewable_onsite_kwh``: on-site renewable generation the park itself used,
  neither exported nor curtailed (battery charging included):
  ``renewable_onsite_kwh`` of a park with wind turbines, else ``pv_onsite_kwh``
  (Σ max(0, PV used − export) × Δt);
* ``avoided_co2_kg`` = ``co2_avoided_kg``: Σ on-site renewable × Δt × the
  step's grid factor, the grid CO2 of the import that on-site use replaces.
  **Exports are not credited** (the exported energy's attribute goes with it
  to the grid);
* ``renewable_share`` = ``green_share_ratio``: renewable used on site /
  (renewable used on site + grid import), the share of the energy the park
  consumes and stores that is its own;
* ``intensity_kg_per_kwh`` = scope 2 / consumption (NaN without consumption):
  the grid CO2 of each kWh the park consumes;
* ``gec_mwh``: on-site renewable generation [MWh], i.e. PV (+ wind) used — what
  the plant delivers, to the park or the grid, not what it curtails
  (``pv_used_kwh``, or ``renewable_used_kwh`` with wind) / 1000: green
  electricity certificates (绿证) are issued on generation, one per MWh;
* ``gec_certificates``: whole certificates, ⌊month's ``gec_mwh``⌋ on the month
  rows (certificates are issued per whole MWh); empty on the day rows, which
  carry the fractional MWh only. Selling certificates transfers the green
  attribute: a park that sells them cannot also claim the avoided emissions.

* ``co2_kg_per_kwh``: the mean of the rows' grid factors (the factor itself
  without an hourly profile).

Every figure but scope 1 is so recomputable from ``schedule.csv`` alone (it
carries each step's factor); scope 1 from the park's ``carbon.fuels``. The
grid factor is the park's ``carbon.grid`` (before that section, its
``tariff.co2_kg_per_kwh``); :func:`factor_source` says where it comes from.
"""

from __future__ import annotations

import calendar
import math

import pandas as pd

from dispatch.kpis import schedule_kpis
from microgrid.errors import InvalidRequestError
from microgrid.messages import Message
from microgrid.park import Park
from microgrid.timeseries import step_hours

KWH_PER_GEC = 1000.0
"""Energy of one green electricity certificate [kWh]: one per MWh."""

CARBON_COLUMNS = (
    "period", "date", "import_kwh", "consumption_kwh", "renewable_onsite_kwh", "renewable_share",
    "scope1_co2_kg", "scope2_co2_kg", "total_co2_kg", "avoided_co2_kg", "intensity_kg_per_kwh", "gec_mwh", "gec_certificates",
    "co2_kg_per_kwh",
)
"""Columns of :func:`carbon_by_day`'s table (and of ``carbon.csv``)."""


def factor_source(park: Park) -> str:
    """Where the park's grid emission factor comes from (:meth:`microgrid.carbon.GridFactor.describe`)."""
    return park.carbon.grid.describe()


def fuels_described(park: Park) -> list[dict]:
    """The park's scope-1 fuels for a report: ``name``, ``fuel``, ``co2_kg_per_gj``, ``source`` each."""
    return [{"name": name, "fuel": fuel.fuel, "co2_kg_per_gj": fuel.factor_co2_kg_per_gj, "source": fuel.factor_source}
            for name, fuel in park.carbon.fuels.items()]


def scope1_co2_kg_per_day(park: Park, year: int, month: int) -> float:
    """CO2 of the park's on-site fuels on one day of ``year``-``month`` [kg]."""
    days = calendar.monthrange(year, month)[1]
    return sum(fuel.co2_kg_per_day(days) for fuel in park.carbon.fuels.values())


def mean_factor(factor: pd.Series) -> float:
    """The mean of the steps' grid factors [kg CO2/kWh]; exactly the factor when it does not vary."""
    values = factor.to_numpy(dtype=float)
    return float(values[0]) if (values == values[0]).all() else float(values.mean())


METERED_GROUPS = ("batteries", "curtailable_loads", "heat_buses", "heat_pumps", "electric_boilers",
                  "thermal_stores", "energy_loads")
"""Device families whose KPIs no carbon figure reads: left out, so that only the contract's totals are needed."""


def _figures(part: pd.DataFrame, park: Park, dt_h: float, scope1_kg: float) -> dict:
    """The carbon figures of some rows of a schedule, from their KPIs, with their scope 1 [kg]."""
    kpis = schedule_kpis(part, park, dt_h, None)
    onsite_kwh = kpis.get("renewable_onsite_kwh", kpis["pv_onsite_kwh"])
    used_kwh = kpis.get("renewable_used_kwh", kpis["pv_used_kwh"])
    consumption = kpis["consumption_kwh"]
    return {
        "import_kwh": kpis["grid_import_kwh"],
        "consumption_kwh": consumption,
        "renewable_onsite_kwh": onsite_kwh,
        "renewable_share": kpis["green_share_ratio"],
        "scope1_co2_kg": scope1_kg,
        "scope2_co2_kg": kpis["co2_kg"],
        "total_co2_kg": scope1_kg + kpis["co2_kg"],
        "avoided_co2_kg": kpis["co2_avoided_kg"],
        "intensity_kg_per_kwh": kpis["co2_kg"] / consumption if consumption > 0 else math.nan,
        "gec_mwh": used_kwh / KWH_PER_GEC,
        "co2_kg_per_kwh": mean_factor(part["co2_kg_per_kwh"]),
    }


def carbon_by_day(schedule: pd.DataFrame, park: Park, dt_h: float | None = None) -> pd.DataFrame:
    """Carbon figures of every local day of ``schedule``, then one total row per calendar month.

    Parameters
    ----------
    schedule : pandas.DataFrame
        A schedule in the output contract (``schedule.csv``), on a tz-aware
        index of equal steps, over whole or partial days.
    park : Park
        The park the schedule is of (its batteries, loads, fuels and timezone).
    dt_h : float, optional
        Step length [h]; by default from the index, which must then be
        regular. Give it for steps with gaps between them (days without a
        plan, say): every row is a step of ``dt_h``.

    Returns
    -------
    pandas.DataFrame
        :data:`CARBON_COLUMNS`: ``period`` is ``day`` (``date`` YYYY-MM-DD) or
        ``month`` (``date`` YYYY-MM), see the module docstring for each figure.
    """
    if schedule.empty:
        raise InvalidRequestError(Message("schedule: empty; carbon figures need at least one step"))
    factor = schedule["co2_kg_per_kwh"].to_numpy(dtype=float)
    if not (factor >= 0).all():
        raise InvalidRequestError(Message("schedule: co2_kg_per_kwh is missing or negative at some step; every "
                                          "step carries its grid factor [kg CO2/kWh]"))
    if dt_h is None:
        dt_h = step_hours(schedule.index, "schedule") if len(schedule) > 1 else 0.25
    local = schedule.index.tz_convert(park.site.timezone)
    # the figures read the totals at the point of common coupling and the renewables only (wind's columns
    # where the park has wind), so a schedule of another version of the park, other devices, will do
    park = park.model_copy(update={group: {} for group in METERED_GROUPS})
    rows = []
    for (year, month), month_part in schedule.groupby([local.year, local.month], sort=True):
        per_day_kg = scope1_co2_kg_per_day(park, year, month)
        month_local = month_part.index.tz_convert(park.site.timezone)
        for day, part in month_part.groupby(month_local.date, sort=True):
            rows.append({"period": "day", "date": day.isoformat(),
                         **_figures(part, park, dt_h, per_day_kg * len(part) * dt_h / 24.0),
                         "gec_certificates": math.nan})
        total = _figures(month_part, park, dt_h, per_day_kg * len(month_part) * dt_h / 24.0)
        total["gec_certificates"] = float(math.floor(total["gec_mwh"] + 1e-9))
        rows.append({"period": "month", "date": f"{year:04d}-{month:02d}", **total})
    return pd.DataFrame(rows, columns=list(CARBON_COLUMNS))
