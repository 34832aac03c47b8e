"""Time-of-use tariffs with peak / flat / valley / critical-peak periods.

A :class:`Tariff` maps every step to a TOU period through an ordered list of
:class:`PeriodRule` (later rules override earlier ones; uncovered hours take
``default_period``), and every period to an import price. Export is paid a
single price; the demand (capacity) charge is priced on the month's peak import.

Presets live in :data:`PRESETS`; a case file names one and overrides any field.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from microgrid.base import Clock, StrictModel, clock_minutes
from microgrid.carbon import GRID_FACTOR_PRESETS
from microgrid.errors import InvalidParkError

ALL_MONTHS = list(range(1, 13))


class TouPeriod(StrEnum):
    """Time-of-use periods, from cheapest to dearest."""

    VALLEY = "valley"
    FLAT = "flat"
    PEAK = "peak"
    CRITICAL_PEAK = "critical_peak"


class PeriodRule(StrictModel):
    """``period`` applies from ``start`` to ``end`` (local clock, ``end`` exclusive) in ``months``."""

    period: TouPeriod
    start: Clock = Field(description="local clock time HH:MM at which the period starts")
    end: Clock = Field(description="local clock time HH:MM at which it ends (exclusive, 24:00 allowed)")
    months: list[int] = Field(default_factory=lambda: list(ALL_MONTHS), description="months 1-12")

    @field_validator("months")
    @classmethod
    def _months(cls, value: list[int]) -> list[int]:
        bad = [m for m in value if not 1 <= m <= 12]
        if bad or not value:
            raise ValueError(f"must list months 1-12, got {value}")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> "PeriodRule":
        if clock_minutes(self.end) <= clock_minutes(self.start):
            raise ValueError(
                f"end {self.end} must be after start {self.start}; split a period that "
                "crosses midnight into two rules"
            )
        return self


class Tariff(StrictModel):
    """Grid tariff of the park.

    Attributes
    ----------
    prices_cny_per_kwh : dict
        Import energy price of each TOU period [CNY/kWh].
    period_rules : list of PeriodRule
        Applied in order; a later rule overrides an earlier one.
    export_price_cny_per_kwh : float
        Price paid for energy exported to the grid [CNY/kWh].
    demand_charge_cny_per_kw_month : float
        Demand (capacity) charge on the month's peak import [CNY/(kW·month)].
    demand_charge_rule : {'incremental', 'pro_rata'}
        How a schedule is charged for its peak (see :class:`DemandCharge`):
        ``incremental`` (default) bills what it adds to the month's bill when
        the month-to-date peak is known, else pro rata; ``pro_rata`` always
        bills the share of the month the schedule covers.
    co2_kg_per_kwh : float
        Grid emission factor applied to imported energy [kg CO2/kWh]. A case
        names it in ``carbon.grid`` (:class:`microgrid.carbon.GridFactor`, with
        its source), which the park writes here; this field is where cases
        gave it before (still read when ``carbon.grid`` is absent).
    """

    name: str = "custom"
    note: str = ""
    prices_cny_per_kwh: dict[TouPeriod, float]
    default_period: TouPeriod = TouPeriod.FLAT
    period_rules: list[PeriodRule] = Field(default_factory=list)
    export_price_cny_per_kwh: float = 0.0
    demand_charge_cny_per_kw_month: float = Field(default=0.0, ge=0)
    demand_charge_rule: Literal["incremental", "pro_rata"] = "incremental"
    co2_kg_per_kwh: float = Field(default=0.5395, ge=0)

    @model_validator(mode="after")
    def _every_period_priced(self) -> "Tariff":
        used = {self.default_period} | {rule.period for rule in self.period_rules}
        missing = sorted(p.value for p in used if p not in self.prices_cny_per_kwh)
        if missing:
            raise ValueError(
                f"prices_cny_per_kwh has no price for period(s) {', '.join(missing)} "
                "used by period_rules or default_period; add them"
            )
        return self

    def period_table(self) -> np.ndarray:
        """TOU period code of every (month, minute of day): shape (12, 1440), codes index ``TouPeriod``."""
        codes = list(TouPeriod)
        table = np.full((12, 24 * 60), codes.index(self.default_period), dtype=np.int8)
        for rule in self.period_rules:
            rows = [m - 1 for m in rule.months]
            table[np.ix_(rows, np.arange(clock_minutes(rule.start), clock_minutes(rule.end)))] = codes.index(rule.period)
        return table

    def periods(self, index: pd.DatetimeIndex, timezone: str) -> pd.Series:
        """TOU period of every step, judged at the step's start in the park's local time."""
        local = index.tz_convert(timezone)
        table = self.period_table()
        codes = table[local.month.to_numpy() - 1, (local.hour * 60 + local.minute).to_numpy()]
        names = np.array([p.value for p in TouPeriod], dtype=object)
        return pd.Series(names[codes], index=index, name="tou_period")

    def import_price(self, index: pd.DatetimeIndex, timezone: str) -> pd.Series:
        """Import energy price of every step [CNY/kWh]."""
        periods = self.periods(index, timezone)
        prices = {p.value: v for p, v in self.prices_cny_per_kwh.items()}
        return periods.map(prices).astype(float).rename("price_import_cny_per_kwh")

    def export_price(self, index: pd.DatetimeIndex) -> pd.Series:
        """Export price of every step [CNY/kWh]."""
        return pd.Series(self.export_price_cny_per_kwh, index=index, name="price_export_cny_per_kwh")

    def demand_charge(self, import_kw: pd.Series, timezone: str, month_to_date_peak_kw: float | None,
                      dt_h: float | None = None) -> DemandCharge:
        """The demand charge a schedule of grid import is billed [CNY], by the rule of :class:`DemandCharge`.

        Parameters
        ----------
        import_kw : pandas.Series
            Grid import [kW] on a tz-aware index of step starts.
        timezone : str
            The park's timezone: billing months are local calendar months.
        month_to_date_peak_kw : float or None
            Highest 15-min import of the first month before the schedule starts
            [kW], or ``None`` when it is not known.
        dt_h : float, optional
            Step length [h]; derived from the index when it has two steps or more.
        """
        if dt_h is None:
            dt_h = float((import_kw.index[1] - import_kw.index[0]) / pd.Timedelta(hours=1)) if len(import_kw) > 1 else 0.25
        rate = self.demand_charge_cny_per_kw_month
        local = import_kw.index.tz_convert(timezone)
        charge = 0.0
        marginal = 0.0
        basis = "pro_rata"
        values = import_kw.to_numpy(dtype=float)
        months = list(zip(local.year, local.month))
        for k, month in enumerate(dict.fromkeys(months)):
            part = values[[m == month for m in months]]
            peak = float(part.max()) if len(part) else 0.0
            days = calendar.monthrange(*month)[1]
            known = k == 0 and month_to_date_peak_kw is not None
            if known and self.demand_charge_rule == "incremental":
                weight, base, kind = rate, month_to_date_peak_kw, "month_to_date_peak"
            else:
                weight = rate * min(1.0, len(part) * dt_h / 24.0 / days)
                base, kind = (month_to_date_peak_kw if known else 0.0), "pro_rata"
            charge += weight * max(0.0, peak - base)
            if k == 0:
                marginal, basis = weight, kind
        return DemandCharge(charge, basis, marginal)

    def demand_charge_rate(self, index: pd.DatetimeIndex, timezone: str, month_to_date_peak_kw: float | None,
                           dt_h: float | None = None) -> DemandCharge:
        """The rule :meth:`demand_charge` applies to a horizon's first month, before any import is known.

        ``marginal_cny_per_kw`` is the price of each kW a plan on ``index`` adds
        to the peak (the weight of the new peak in the dispatch objective).
        """
        return self.demand_charge(pd.Series(0.0, index=index), timezone, month_to_date_peak_kw, dt_h)


@dataclass(frozen=True)
class DemandCharge:
    """A demand (capacity) charge attributed to a schedule, and the rule behind it.

    The month's bill is ``rate × the month's peak import`` (``rate`` =
    ``demand_charge_cny_per_kw_month``). A schedule is billed, month by
    (local calendar) month:

    * ``month_to_date_peak``, when the peak of the first month before the
      schedule is known (``P_mtd``, from the park's measurements, the CLI's
      ``--month-peak-kw`` or the case's metered import): what the schedule adds
      to the month's bill, ``rate × max(0, peak − P_mtd)``; each kW above
      ``P_mtd`` costs ``rate``;
    * ``pro_rata`` otherwise (and for every later month, and always with the
      tariff's ``demand_charge_rule: pro_rata``): the share of the month the
      schedule covers, ``rate × d / D × max(0, peak − P)``, ``d`` the days
      covered, ``D`` the days of the month, ``P`` the known month-to-date peak
      or 0; a whole month is billed in full. A day's plan with nothing known
      is then charged 1/D of a month for its peak, as a study of that day.

    Attributes
    ----------
    charge_cny : float
        The charge [CNY].
    basis : {'month_to_date_peak', 'pro_rata'}
        The rule of the first month.
    marginal_cny_per_kw : float
        CNY per kW of peak above the first month's month-to-date peak (or
        above 0 when it is not known).
    """

    charge_cny: float
    basis: str
    marginal_cny_per_kw: float


GRID_CO2_SOURCE = GRID_FACTOR_PRESETS["mee_2022_central_china"]["source"]
"""Where the ``henan_2024`` preset's grid emission factor (``co2_kg_per_kwh``) comes from: the Central China
2022 factor (``carbon.grid.preset: mee_2022_central_china``, :mod:`microgrid.carbon`)."""


def _henan_2024() -> dict:
    flat = 0.62
    peak = round(flat * 1.69, 4)
    return {
        "name": "henan_2024",
        "note": (
            "ILLUSTRATIVE: Henan commercial & industrial TOU periods effective 1 June 2024 "
            "as we understand them; peak:flat:valley = 1.69:1:0.41, critical = 1.2 × peak, "
            "flat price 0.62 CNY/kWh illustrative, export at Henan's coal-fired benchmark "
            "0.3779 CNY/kWh (燃煤基准价: the former coal-fired on-grid benchmark kept by NDRC "
            "发改价格规〔2019〕1658号; new distributed PV sells at it, 发改价格〔2021〕833号), "
            "demand charge 38.4 CNY/(kW·month) illustrative. Check every number against the "
            "current published notice and override it in the case file."
        ),
        "prices_cny_per_kwh": {
            "valley": round(flat * 0.41, 4),
            "flat": flat,
            "peak": peak,
            "critical_peak": round(1.2 * peak, 4),
        },
        "default_period": "flat",
        "period_rules": [
            {"period": "peak", "start": "16:00", "end": "24:00"},
            {"period": "valley", "start": "00:00", "end": "06:00"},
            {"period": "valley", "start": "11:00", "end": "14:00", "months": [3, 4, 5, 9, 10, 11]},
            {"period": "critical_peak", "start": "17:00", "end": "18:00", "months": [1, 12]},
            {"period": "critical_peak", "start": "20:00", "end": "23:00", "months": [7, 8]},
        ],
        "export_price_cny_per_kwh": 0.3779,
        "demand_charge_cny_per_kw_month": 38.4,
        "demand_charge_rule": "incremental",
        "co2_kg_per_kwh": 0.5395,
    }


PRESETS: dict[str, dict] = {"henan_2024": _henan_2024()}
"""Tariff presets by name; each is a plain dict of :class:`Tariff` fields."""


def tariff_from_config(config: dict) -> Tariff:
    """Build a :class:`Tariff` from a case's ``tariff`` section.

    ``preset`` names an entry of :data:`PRESETS`; every other key overrides the
    preset's (``prices_cny_per_kwh`` is merged period by period).
    """
    config = dict(config)
    preset_name = config.pop("preset", None)
    base: dict = {}
    if preset_name is not None:
        if preset_name not in PRESETS:
            raise InvalidParkError(
                f"tariff.preset: unknown preset {preset_name!r}; choose one of {', '.join(PRESETS)}"
            )
        base = {k: (dict(v) if isinstance(v, dict) else v) for k, v in PRESETS[preset_name].items()}
    if isinstance(config.get("prices_cny_per_kwh"), dict) and "prices_cny_per_kwh" in base:
        base["prices_cny_per_kwh"].update(config.pop("prices_cny_per_kwh"))
    base.update(config)
    return Tariff.model_validate(base)
