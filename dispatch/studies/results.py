"""What a study computes: its progress reports and its results, shared by the runner and the report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from dispatch.inputs import PlantState


@dataclass(frozen=True)
class StudyProgress:
    """A progress report of a running study.

    Attributes
    ----------
    strategy : str
    day : datetime.date
        The day being computed (or just finished).
    done : float
        Days finished over all strategies, the running day's finished windows
        counted as a fraction of it.
    total : int
        Days to compute over all strategies.
    day_finished : bool
        The day is finished and checkpointed.
    resumed : bool
        The day was read back from an earlier run's checkpoint.
    fallback_windows : int
        Windows of the finished day that fell back to the rule-based action.
    reason : str
        Why the first of them failed.
    """

    strategy: str
    day: dt.date
    done: float
    total: int
    day_finished: bool = False
    resumed: bool = False
    fallback_windows: int = 0
    reason: str = ""


ProgressCallback = Callable[[StudyProgress], None]


@dataclass
class StrategyRun:
    """One strategy's results over the period: schedule, windows, and what was resumed."""

    strategy: str
    schedule: pd.DataFrame
    windows: pd.DataFrame
    state: PlantState
    resumed_days: int = 0


@dataclass
class StudyResult:
    """What :func:`run_study` computed and wrote.

    Attributes
    ----------
    runs : dict
        Strategy → :class:`StrategyRun`.
    kpis : pandas.DataFrame
        One row per strategy: KPIs over the whole period, with the investment
        KPIs of the new assets (:mod:`dispatch.studies.investment`).
    monthly, annual : pandas.DataFrame
        One row per strategy and local month (``month``, ``YYYY-MM``) or
        calendar year (``year``).
    paths : dict
        Name → path of every file written at the end.
    wall_s : float
        Wall time of this run [s] (resumed days cost nothing).
    """

    runs: dict[str, StrategyRun]
    kpis: pd.DataFrame
    monthly: pd.DataFrame
    annual: pd.DataFrame
    paths: dict[str, Path] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def resumed_days(self) -> int:
        return sum(run.resumed_days for run in self.runs.values())
