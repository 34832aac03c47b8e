"""``microgrid schedule`` under each ``grid.export_rule``: the files show the rule, and bad rules are one line."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest

from dispatch.strategies import STRATEGIES
from tests.service.helpers import TINY_PARK, one_line_error, run, write_tiny_case


def sunny_park(**grid) -> dict:
    """The tiny park (PV 500 kW AC, battery 200 kW) with ``grid`` fields set."""
    park = copy.deepcopy(TINY_PARK)
    park["grid"].update(grid)
    return park


def schedule(tmp_path: Path, park: dict, strategy: str) -> tuple[pd.DataFrame, dict, str]:
    """Plan 2026-07-15 of ``park`` with a 100 kW day load and a 50 kW night load (hours of PV surplus)."""
    case = write_tiny_case(tmp_path / "case", park, day_kw=100.0, night_kw=50.0)
    out = tmp_path / "out"
    result = run("schedule", str(case), "--date", "2026-07-15", "--strategy", strategy, "--out", str(out), "--no-plot")
    assert result.exit_code == 0, result.output
    return pd.read_csv(out / "schedule.csv"), json.loads((out / "kpis.json").read_text()), result.output


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_anti_backflow_never_exports(tmp_path: Path, strategy: str) -> None:
    """防逆流: no step exports, though the export limit is 500 kW; the surplus the battery cannot take is curtailed."""
    s, kpis, output = schedule(tmp_path, sunny_park(export_rule="anti_backflow"), strategy)
    assert (s["grid_export_kw"] == 0).all()
    assert kpis["export_rule"] == "anti_backflow"
    assert kpis["grid_export_kwh"] == 0.0 and kpis["export_revenue_cny"] == 0.0
    assert kpis["curtailment_kwh"] > 0
    # Every kW of surplus went into the battery or was curtailed.
    surplus = (s["pv_available_kw"] - s["load_kw"]).clip(lower=0)
    assert ((s["battery_charge_kw"] + s["curtailment_kw"]) >= surplus - 1e-3).all()
    assert "export rule" in output and "anti_backflow" in output


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_surplus_to_grid_exports_the_surplus(tmp_path: Path, strategy: str) -> None:
    """The default: the same day exports its PV surplus, paid the Henan benchmark 0.3779 CNY/kWh."""
    s, kpis, output = schedule(tmp_path, sunny_park(), strategy)
    assert kpis["export_rule"] == "surplus_to_grid"
    assert kpis["grid_export_kwh"] > 0
    assert kpis["export_revenue_cny"] == pytest.approx(kpis["grid_export_kwh"] * 0.3779)
    assert (s["grid_export_kw"] <= s["pv_used_kw"] + 1e-6).all()
    assert "surplus_to_grid" in output


def test_full_export_sells_every_kwh_of_pv(tmp_path: Path) -> None:
    """全额上网: export = PV at every step (below the 500 kW limit), revenue = PV energy × 0.3779."""
    s, kpis, _ = schedule(tmp_path, sunny_park(export_rule="full_export"), "no-control")
    assert s["grid_export_kw"].tolist() == pytest.approx(s["pv_available_kw"].tolist())
    assert kpis["export_revenue_cny"] == pytest.approx(kpis["pv_generation_kwh"] * 0.3779)
    assert s["grid_import_kw"].tolist() == pytest.approx(s["load_kw"].tolist())


def test_unknown_export_rule_is_one_line(tmp_path: Path) -> None:
    case = write_tiny_case(tmp_path / "case", sunny_park(export_rule="zero_export"))
    result = run("schedule", str(case), "--date", "2026-07-15", "--out", str(tmp_path / "o"), "--no-plot")
    one_line_error(result, "grid.export_rule", "'anti_backflow'", "zero_export")
