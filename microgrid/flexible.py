"""Flexible electrical loads: batch processes, energy-constrained loads, curtailable and shiftable loads.

Windows are local clock times of the park; a window whose end is not after its
start crosses midnight (``arrival 18:00, departure 06:00``).
``days: workdays`` limits a device to Chinese working days (official make-up
working days included, public holidays excluded), from ``chinese_calendar``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from microgrid.base import Clock, ElectricalLoad, clock_minutes

Days = Literal["all", "workdays"]


def window_minutes(start: str, end: str) -> int:
    """Length of a daily window in minutes; an end at or before the start crosses midnight."""
    length = clock_minutes(end) - clock_minutes(start)
    return length if length > 0 else length + 24 * 60


class ShiftableProcess(ElectricalLoad):
    """A batch process that runs uninterrupted with a fixed power profile.

    Give either ``power_kw`` and ``duration_h`` (a flat profile) or
    ``profile_kw`` with its ``profile_step_h``. Each run starts no earlier than
    ``earliest_start`` and ends no later than ``latest_end`` of the same day;
    ``runs_per_day`` runs per day, one after another or apart, never overlapping.
    ``baseline_start`` is when the process would start without optimization
    (default: ``earliest_start``).
    """

    power_kw: float | None = Field(default=None, gt=0)
    duration_h: float | None = Field(default=None, gt=0)
    profile_kw: list[float] | None = None
    profile_step_h: float = Field(default=0.25, gt=0)
    earliest_start: Clock = "00:00"
    latest_end: Clock = "24:00"
    runs_per_day: int = Field(default=1, ge=1)
    days: Days = "all"
    baseline_start: Clock | None = None

    @model_validator(mode="after")
    def _profile(self) -> "ShiftableProcess":
        flat = self.power_kw is not None or self.duration_h is not None
        if flat and self.profile_kw is not None:
            raise ValueError("give either power_kw with duration_h, or profile_kw, not both")
        if flat and (self.power_kw is None or self.duration_h is None):
            raise ValueError("power_kw and duration_h go together; give both")
        if not flat and not self.profile_kw:
            raise ValueError("give power_kw with duration_h, or a non-empty profile_kw")
        if self.profile_kw is not None and any(p < 0 for p in self.profile_kw):
            raise ValueError("profile_kw must be ≥ 0 kW at every step")
        if clock_minutes(self.latest_end) <= clock_minutes(self.earliest_start):
            raise ValueError(f"latest_end {self.latest_end} must be after earliest_start {self.earliest_start} on the same day")
        if self.run_h > self.window_h + 1e-9:
            raise ValueError(
                f"one run lasts {self.run_h:g} h but the window {self.earliest_start}–{self.latest_end} is only "
                f"{self.window_h:g} h; widen the window or shorten the run"
            )
        if self.baseline_start is not None and not (
            clock_minutes(self.earliest_start) <= clock_minutes(self.baseline_start) < clock_minutes(self.latest_end)
        ):
            raise ValueError(f"baseline_start {self.baseline_start} must lie in [earliest_start, latest_end)")
        return self

    @property
    def run_h(self) -> float:
        """Duration of one run [h]."""
        if self.duration_h is not None:
            return self.duration_h
        return len(self.profile_kw) * self.profile_step_h

    @property
    def window_h(self) -> float:
        return window_minutes(self.earliest_start, self.latest_end) / 60

    def profile_on_steps(self, dt_h: float) -> list[float]:
        """Power of one run on steps of ``dt_h`` hours [kW]: mean over each step."""
        if self.power_kw is not None:
            steps = self.duration_h / dt_h
            if abs(steps - round(steps)) > 1e-9:
                raise ValueError(f"duration_h {self.duration_h} is not a whole number of {dt_h * 60:g}-minute steps")
            return [self.power_kw] * round(steps)
        ratio = self.profile_step_h / dt_h
        if abs(ratio - round(ratio)) < 1e-9 and round(ratio) >= 1:
            return [p for p in self.profile_kw for _ in range(round(ratio))]
        inverse = dt_h / self.profile_step_h
        if abs(inverse - round(inverse)) < 1e-9 and len(self.profile_kw) % round(inverse) == 0:
            k = round(inverse)
            return [sum(self.profile_kw[i:i + k]) / k for i in range(0, len(self.profile_kw), k)]
        raise ValueError(
            f"profile_step_h {self.profile_step_h} and the data's step of {dt_h} h do not divide; "
            "give the profile on the data's step"
        )


class EnergyLoad(ElectricalLoad):
    """A load that needs a given energy between arrival and departure (e.g. an EV fleet).

    Every active day, a session arrives at ``arrival`` and must have received
    ``energy_kwh`` (after ``efficiency``) by ``departure`` (the next day if the
    window crosses midnight), drawing at most ``max_kw``.
    """

    arrival: Clock
    departure: Clock
    energy_kwh: float = Field(gt=0)
    max_kw: float = Field(gt=0)
    efficiency: float = Field(default=1.0, gt=0, le=1)
    days: Days = "all"

    @property
    def window_h(self) -> float:
        return window_minutes(self.arrival, self.departure) / 60

    @model_validator(mode="after")
    def _reachable(self) -> "EnergyLoad":
        most = self.max_kw * self.efficiency * self.window_h
        if self.energy_kwh > most + 1e-9:
            raise ValueError(
                f"energy_kwh {self.energy_kwh:g} cannot be delivered between {self.arrival} and {self.departure} "
                f"at max_kw {self.max_kw:g} (at most {most:g} kWh); raise max_kw or lower energy_kwh"
            )
        return self


class CurtailableLoad(ElectricalLoad):
    """A load of which up to ``max_shed_kw`` can be shed, at a price, within daily limits."""

    profile: str = Field(description="column of the loads file, in kW")
    scale: float = Field(default=1.0, ge=0)
    max_shed_kw: float = Field(gt=0)
    shed_cost_cny_per_kwh: float = Field(ge=0)
    max_shed_hours_per_day: float | None = Field(default=None, ge=0, le=24)
    max_shed_kwh_per_day: float | None = Field(default=None, ge=0)


class ShiftableLoad(ElectricalLoad):
    """A load whose baseline energy may move earlier or later by at most ``max_shift_h``.

    Energy moved away from a step is consumed again within ``max_shift_h``
    before or after it, so the energy is recovered within that delay;
    ``max_kw`` caps the resulting power (none: no cap).
    """

    profile: str = Field(description="column of the loads file, in kW")
    scale: float = Field(default=1.0, ge=0)
    max_shift_h: float = Field(gt=0, le=24)
    max_kw: float | None = Field(default=None, gt=0)
