"""PV forecast: irradiance paths, cloud cover, clipping, bias correction, timezones."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from forecasting.accuracy import day_ahead_persistence
from forecasting.pv import pv_ac_kw
from forecasting.pv_forecast import (
    PVForecastConfig, clearsky_ghi, clearsky_index_persistence, clearsky_pv_ac_kw, cloud_cover_to_ghi,
    decompose_ghi, fit_hourly_bias, forecast_pv_ac_kw, irradiance_source, prepare_weather, standard_time_hour)
from microgrid.errors import DataError, ForecastError
from microgrid.park import PVArray, Site

ZHENGZHOU = Site(name="Zhengzhou", latitude_deg=34.75, longitude_deg=113.63, altitude_m=110,
                 timezone="Asia/Shanghai")
DENVER = Site(name="Denver", latitude_deg=39.74, longitude_deg=-105.17, altitude_m=1830, timezone="America/Denver")
ARRAY = PVArray(bus="b", dc_capacity_kw=100.0, ac_capacity_kw=83.0, tilt_deg=20.0, azimuth_deg=180.0)


def day_index(day: str = "2026-06-21", tz: str = "Asia/Shanghai", freq: str = "15min", days: int = 1):
    start = pd.Timestamp(day, tz=tz)
    end = (pd.Timestamp(day) + pd.Timedelta(days=days)).tz_localize(tz)
    return pd.date_range(start, end, freq=freq, inclusive="left", name="timestamp")


@pytest.mark.parametrize("cover, model, expected", [
    (0.0, "kasten_czeplak", 1.0),
    (100.0, "kasten_czeplak", 0.25),
    (50.0, "kasten_czeplak", 1 - 0.75 * 0.5 ** 3.4),
    (0.0, "linear", 1.0),
    (100.0, "linear", 0.35),
    (50.0, "linear", 0.675),
])
def test_cloud_cover_relations_by_hand(cover, model, expected):
    assert cloud_cover_to_ghi(cover, 1000.0, model) == pytest.approx(1000.0 * expected)


def test_cloud_cover_path_clear_sky_and_overcast():
    index = day_index()
    clear = clearsky_ghi(index, ZHENGZHOU)
    assert clear.max() > 900 and clear.iloc[0] == 0.0
    pv = {}
    for cover in (0.0, 50.0, 100.0):
        weather = pd.DataFrame({"cloud_cover": cover, "temp_air": 25.0}, index=index)
        complete = prepare_weather(weather, ZHENGZHOU)
        assert list(complete.columns) == ["ghi", "dni", "dhi", "temp_air", "wind_speed"]
        np.testing.assert_allclose(complete["ghi"], clear * cloud_cover_to_ghi(cover, 1.0), atol=1e-9)
        # Decomposition keeps the balance ghi = dni cos(z) + dhi (to within the step-mean vs midpoint zenith).
        assert (complete[["dni", "dhi"]] >= 0).all().all()
        pv[cover] = forecast_pv_ac_kw(weather, ZHENGZHOU, {"a": ARRAY})["a"]
    energy = {c: p.sum() / 4 for c, p in pv.items()}
    assert energy[0.0] > energy[50.0] > energy[100.0] > 0
    # Overcast: diffuse only, about a quarter of the clear-sky GHI.
    assert 0.15 < energy[100.0] / energy[0.0] < 0.35


def test_irradiance_path_selection_and_errors():
    assert irradiance_source(["ghi", "dni", "dhi", "cloud_cover"]) == "ghi_dni_dhi"
    assert irradiance_source(["ghi", "cloud_cover"]) == "ghi"
    assert irradiance_source(["cloud_cover", "temp_air"]) == "cloud_cover"
    assert irradiance_source(["ghi", "dni", "dhi", "cloud_cover"], "cloud_cover") == "cloud_cover"
    with pytest.raises(ForecastError, match="no irradiance"):
        irradiance_source(["temp_air"])
    with pytest.raises(ForecastError, match="irradiance_input='ghi_dni_dhi' needs column.*dni, dhi"):
        irradiance_source(["ghi"], "ghi_dni_dhi")


def test_full_irradiance_path_is_pv_ac_kw_unchanged():
    index = day_index()
    weather = clearsky_weather_frame(index)
    expected = pv_ac_kw(weather, ZHENGZHOU, ARRAY)
    got = forecast_pv_ac_kw(weather, ZHENGZHOU, {"a": ARRAY})["a"]
    pd.testing.assert_series_equal(got, expected, check_names=False)


def clearsky_weather_frame(index):
    from forecasting.pv_forecast import clearsky_weather
    return clearsky_weather(index, ZHENGZHOU, temp_air_c=25.0, wind_speed_m_s=2.0)


@pytest.mark.parametrize("model", ["erbs", "dirint", "disc"])
def test_ghi_alone_is_decomposed_with_closure(model):
    index = day_index()
    weather = clearsky_weather_frame(index)
    parts = decompose_ghi(weather["ghi"], ZHENGZHOU, model)
    assert not parts.isna().any().any() and (parts >= 0).all().all()
    # Energy of the decomposition path is close to that of the Ineichen components.
    full = forecast_pv_ac_kw(weather, ZHENGZHOU, {"a": ARRAY})["a"].sum()
    ghi_only = forecast_pv_ac_kw(weather[["ghi", "temp_air", "wind_speed"]], ZHENGZHOU, {"a": ARRAY},
                                 PVForecastConfig(decomposition=model))["a"].sum()
    assert ghi_only == pytest.approx(full, rel=0.08)


def test_clipping_at_ac_capacity():
    index = day_index()
    weather = clearsky_weather_frame(index)
    oversized = ARRAY.model_copy(update={"dc_capacity_kw": 200.0, "ac_capacity_kw": 100.0})
    pv = forecast_pv_ac_kw(weather, ZHENGZHOU, {"a": oversized})["a"]
    assert pv.max() == pytest.approx(100.0)
    assert (pv >= 100.0 - 1e-9).sum() >= 8          # two hours or more at the limit
    unclipped = forecast_pv_ac_kw(weather, ZHENGZHOU, {"a": oversized.model_copy(update={"ac_capacity_kw": 1000.0})})
    assert unclipped["a"].max() > 120.0


def test_missing_temperature_and_wind_take_documented_defaults(caplog):
    index = day_index()
    weather = clearsky_weather_frame(index)
    with caplog.at_level(logging.INFO, logger="forecasting.pv_forecast"):
        complete = prepare_weather(weather[["ghi", "dni", "dhi"]], ZHENGZHOU)
    assert (complete["temp_air"] == 20.0).all() and (complete["wind_speed"] == 0.0).all()
    assert "no 'temp_air'; using the default 20" in caplog.text
    explicit = weather.assign(temp_air=20.0, wind_speed=0.0)
    pd.testing.assert_frame_equal(complete, explicit[complete.columns])


def test_missing_value_and_naive_index_are_refused():
    index = day_index()
    weather = pd.DataFrame({"cloud_cover": 10.0}, index=index)
    weather.iloc[40, 0] = np.nan
    with pytest.raises(DataError, match="column 'cloud_cover' has a missing value"):
        prepare_weather(weather, ZHENGZHOU)
    with pytest.raises(DataError, match="no UTC offset"):
        prepare_weather(weather.fillna(10.0).tz_localize(None), ZHENGZHOU)


def test_asia_shanghai_and_dst_timezone_give_the_same_power_for_the_same_instants():
    index = day_index("2026-03-08", tz="America/Denver", days=2)   # US DST starts 2026-03-08
    assert len(index) == 2 * 96 - 4
    weather = pd.DataFrame({"cloud_cover": 30.0, "temp_air": 5.0}, index=index)
    local = forecast_pv_ac_kw(weather, DENVER, {"a": ARRAY})["a"]
    shanghai = forecast_pv_ac_kw(weather.tz_convert("Asia/Shanghai"), DENVER, {"a": ARRAY})["a"]
    np.testing.assert_allclose(local.to_numpy(), shanghai.to_numpy())
    # Solar noon moves one clock hour later with DST.
    peaks = local.groupby(local.index.date).idxmax()
    assert [p.hour for p in peaks] == [13, 13]
    before = day_index("2026-03-07", tz="America/Denver")
    standard = forecast_pv_ac_kw(pd.DataFrame({"cloud_cover": 30.0}, index=before), DENVER, {"a": ARRAY})["a"]
    assert standard.idxmax().hour == 12


def test_standard_time_hour_removes_dst():
    denver = pd.DatetimeIndex(["2026-07-01 13:00", "2026-01-01 13:00"]).tz_localize("America/Denver")
    shanghai = pd.DatetimeIndex(["2026-07-01 13:00"]).tz_localize("Asia/Shanghai")
    assert standard_time_hour(denver, "America/Denver").tolist() == [12.0, 13.0]
    assert standard_time_hour(shanghai, "Asia/Shanghai").tolist() == [13.0]
    assert standard_time_hour(shanghai, "America/Denver").tolist() == [22.0]


def test_hourly_bias_correction_fit_and_apply():
    index = day_index(days=3)
    forecast = forecast_pv_ac_kw(clearsky_weather_frame(index), ZHENGZHOU, {"a": ARRAY})["a"]
    measured = 0.8 * forecast
    bias = fit_hourly_bias(measured, forecast, "Asia/Shanghai", min_steps_per_hour=1)
    daylight = bias.by_hour[(bias.by_hour.index >= 7) & (bias.by_hour.index <= 17)]
    np.testing.assert_allclose(daylight, 0.8)
    assert bias.by_hour[0] == 1.0                                # night: no data, no change
    np.testing.assert_allclose(bias.apply(forecast), measured, atol=1e-9)
    # Upward correction is clipped at the inverter rating.
    up = fit_hourly_bias(1.5 * forecast, forecast, "Asia/Shanghai", min_steps_per_hour=4)
    assert up.apply(forecast, max_kw=ARRAY.ac_capacity_kw).max() == pytest.approx(ARRAY.ac_capacity_kw)
    additive = fit_hourly_bias(forecast + 2.0, forecast, "Asia/Shanghai", kind="additive", min_steps_per_hour=1)
    corrected = additive.apply(forecast)
    assert corrected[forecast == 0].eq(0).all()
    np.testing.assert_allclose(corrected[forecast > 0], forecast[forecast > 0] + 2.0)
    with pytest.raises(ForecastError, match="no daylight step"):
        fit_hourly_bias(measured, forecast * 0.0, "Asia/Shanghai")


def test_bias_correction_in_a_dst_timezone_follows_the_sun():
    index = day_index("2026-03-01", tz="America/Denver", days=14)
    forecast = forecast_pv_ac_kw(pd.DataFrame({"cloud_cover": 0.0}, index=index), DENVER, {"a": ARRAY})["a"]
    hour = standard_time_hour(index, "America/Denver")
    measured = forecast * np.where(hour < 12, 0.9, 1.1)          # morning low, afternoon high, in solar terms
    bias = fit_hourly_bias(measured, forecast, "America/Denver")
    assert bias.by_hour[9] == pytest.approx(0.9) and bias.by_hour[14] == pytest.approx(1.1)
    np.testing.assert_allclose(bias.apply(forecast), measured, atol=1e-9)


def test_persistence_references():
    index = day_index(days=3)
    clear = clearsky_pv_ac_kw(index, ZHENGZHOU, ARRAY)
    factor = np.repeat([0.5, 0.8, 1.0], 96)
    measured = clear * factor
    csi = clearsky_index_persistence(measured, clear, "Asia/Shanghai")
    assert csi.iloc[:96].isna().all()
    np.testing.assert_allclose(csi.iloc[96:192], 0.5 * clear.iloc[96:192])
    np.testing.assert_allclose(csi.iloc[192:], 0.8 * clear.iloc[192:])
    persistence = day_ahead_persistence(measured, clock="solar")
    np.testing.assert_allclose(persistence.iloc[96:192], measured.iloc[:96])
