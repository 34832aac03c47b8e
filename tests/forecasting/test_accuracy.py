"""Accuracy metrics by hand, persistence references, and the SERF East validation run."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from forecasting.accuracy import accuracy_table, day_ahead_persistence, daylight_mask, error_metrics, to_markdown
from microgrid.errors import ForecastError
from microgrid.park import Site

ZHENGZHOU = Site(name="Zhengzhou", latitude_deg=34.75, longitude_deg=113.63, timezone="Asia/Shanghai")


def test_metrics_by_hand():
    index = pd.date_range("2026-07-15", periods=4, freq="1h", tz="Asia/Shanghai")
    actual = pd.Series([10.0, 20.0, 30.0, 40.0], index=index)
    forecast = pd.Series([12.0, 18.0, 30.0, 44.0], index=index)      # errors +2, -2, 0, +4
    metrics = error_metrics(actual, forecast, normalizer=100.0)
    assert metrics["n_steps"] == 4
    assert metrics["nmae_pct"] == pytest.approx(2.0)                 # 8 / 4 / 100
    assert metrics["nrmse_pct"] == pytest.approx(np.sqrt(24 / 4))    # sqrt(mean(4, 4, 0, 16))
    assert metrics["bias_pct"] == pytest.approx(1.0)
    with pytest.raises(ForecastError, match="normaliser must be > 0"):
        error_metrics(actual, forecast, normalizer=0.0)


def test_table_by_month_with_skill_mask_and_mean_load():
    index = pd.date_range("2026-01-31 22:00", periods=4, freq="1h", tz="Asia/Shanghai")
    actual = pd.Series([10.0, 10.0, 20.0, 20.0], index=index)
    good = actual + 1.0
    reference = actual + pd.Series([2.0, -2.0, 4.0, np.nan], index=index)
    table = accuracy_table(actual, {"good": good, "ref": reference}, normalizer="mean_actual", reference="ref")
    assert list(table.index.get_level_values("period").unique()) == ["2026-01", "2026-02", "overall"]
    feb = table.loc[("good", "2026-02")]
    assert feb["n_steps"] == 1                                     # the step without reference is not scored
    assert feb["nmae_pct"] == pytest.approx(5.0)                   # 1 / mean 20
    assert feb["skill_pct"] == pytest.approx(75.0)                 # 1 - 1 / 4
    overall = table.loc[("good", "overall")]
    assert overall["nmae_pct"] == pytest.approx(100 / (40 / 3))
    assert overall["skill_pct"] == pytest.approx(100 * (1 - 1 / np.sqrt(24 / 3)))
    assert table.loc[("ref", "overall"), "skill_pct"] == 0.0
    masked = accuracy_table(actual, {"good": good}, normalizer=50.0, mask=pd.Series([True, False, True, True],
                                                                                   index=index))
    assert masked.loc[("good", "overall"), "n_steps"] == 3
    assert masked.loc[("good", "overall"), "nmae_pct"] == pytest.approx(2.0)
    text = to_markdown(masked)
    assert text.splitlines()[0] == "| forecast | period | n_steps | nmae_pct | nrmse_pct | bias_pct | skill_pct |"
    assert "| good | overall | 3 | 2.0 | 2.0 | 2.0 | – |" in text


def test_daylight_mask_in_asia_shanghai():
    index = pd.date_range("2026-06-21", periods=24, freq="1h", tz="Asia/Shanghai")
    mask = daylight_mask(index, ZHENGZHOU)
    assert not mask.iloc[2] and mask.iloc[12] and not mask.iloc[22]
    assert 13 <= mask.sum() <= 15


def test_persistence_local_and_solar_across_dst():
    tz = "America/New_York"
    index = pd.date_range(pd.Timestamp("2026-03-07", tz=tz), pd.Timestamp("2026-03-10", tz=tz), freq="1h",
                          inclusive="left")
    clock = pd.Series(index.hour.astype(float), index=index)
    local = day_ahead_persistence(clock)
    target = index.tz_convert(tz)
    after = target.date >= pd.Timestamp("2026-03-08").date()
    ok = after & (target.hour != 2)
    np.testing.assert_allclose(local[ok], clock[ok])                 # clock time kept
    solar = day_ahead_persistence(clock, clock="solar")
    assert solar[pd.Timestamp("2026-03-08 13:00", tz=tz)] == 12.0      # 24 h earlier
    assert local.iloc[:24].isna().all()


@pytest.mark.skipif(importlib.util.find_spec("pvanalytics") is None, reason="pvanalytics (dev extra) not installed")
def test_serf_east_forecast_beats_persistence():
    from forecasting.validation import validate_serf_east

    result = validate_serf_east()
    overall = result.accuracy.xs("overall", level="period")["nmae_pct"]
    model = overall["pvlib, NSRDB GHI (Erbs)"]
    assert model < 0.8 * overall["day-ahead persistence"]
    assert model < 0.8 * overall["clear-sky-index persistence"]
    assert overall["same + hourly bias correction"] <= model
    assert 5.0 < result.system["dc_capacity_kw"] < 8.0
