"""Wind power through windpowerlib: power curve, height profile, density, park losses, the real case's year."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from forecasting.wind import (
    WIND_TOTAL_COLUMN,
    WindForecastConfig,
    hub_height_weather,
    park_wind_kw,
    wind_assumptions,
    wind_forecast_table,
    wind_group_kw,
)
from microgrid.case import load_case
from microgrid.errors import DataError
from microgrid.park import Site
from microgrid.wind import WindTurbineGroup

SITE = Site(name="hand", latitude_deg=34.75, longitude_deg=113.63, altitude_m=110)
NO_DENSITY = WindForecastConfig(density_correction=False)
#: An own power curve: cut-in 3 m/s, rated 100 kW from 12 m/s, cut-out after 25 m/s.
OWN_CURVE = {"wind_speed_m_per_s": [3.0, 12.0, 25.0], "p_kw": [0.0, 100.0, 100.0]}


def weather(wind_speed, temp_air=15.0, **columns) -> pd.DataFrame:
    index = pd.date_range("2026-07-15", periods=len(wind_speed), freq="15min", tz="Asia/Shanghai", name="timestamp")
    return pd.DataFrame({"wind_speed": wind_speed, "temp_air": temp_air, **columns}, index=index, dtype=float)


def own(**kwargs) -> WindTurbineGroup:
    """A turbine with OWN_CURVE whose hub is at the 10 m of the wind measurement (no height correction)."""
    return WindTurbineGroup(bus="b", power_curve=OWN_CURVE, hub_height_m=10, **kwargs)


def test_an_own_curve_at_hub_height_by_hand() -> None:
    """Below cut-in 0; 7.5 m/s halfway from 3 to 12 m/s: 50 kW; rated 100 kW; beyond 25 m/s 0.

    windpowerlib's wind farm curve ends its last non-zero value with a linear
    step down to 0 over 0.5 m/s (25.25 m/s: 50 kW).
    """
    speeds = [0.0, 2.9, 3.0, 7.5, 12.0, 18.0, 25.0, 25.25, 25.5, 30.0]
    power = wind_group_kw(weather(speeds), SITE, own(), NO_DENSITY)
    assert power.tolist() == pytest.approx([0, 0, 0, 50, 100, 100, 100, 50, 0, 0])


def test_a_library_turbine_follows_its_bundled_power_curve_at_hub_height() -> None:
    """E-82/2350 at 100 m over z0 = 0.1 m: v_hub = 1.5 v_10 (ln 1000 / ln 100).

    Its curve (windpowerlib's oedb file): 815 kW at 8 m/s, 1180 kW at 9 m/s,
    2350 kW from 14 to 25 m/s, 0 kW at 1 m/s.
    """
    group = WindTurbineGroup(bus="b", turbine_type="E-82/2350", hub_height_m=100, roughness_length_m=0.1)
    v_hub = np.array([0.9, 8.5, 14.0, 20.0, 26.0])
    power = wind_group_kw(weather(v_hub / 1.5), SITE, group, NO_DENSITY)
    assert power.tolist() == pytest.approx([0.0, (815 + 1180) / 2, 2350.0, 2350.0, 0.0])
    assert power.max() <= group.nameplate_kw


def test_log_profile_by_hand() -> None:
    """v_hub = v_10 · ln(h/z0) / ln(10/z0): 80 m over 0.3 m, 5 m/s → 5 · ln(266.7) / ln(33.33) = 7.97 m/s."""
    group = WindTurbineGroup(bus="b", power_curve=OWN_CURVE, hub_height_m=80, roughness_length_m=0.3)
    hub = hub_height_weather(weather([5.0, 2.0]), SITE, group, NO_DENSITY)
    expected = [v * math.log(80 / 0.3) / math.log(10 / 0.3) for v in (5.0, 2.0)]
    assert hub["wind_speed_m_per_s"].tolist() == pytest.approx(expected, rel=1e-12)
    assert expected[0] == pytest.approx(7.97, abs=0.01)


def test_rougher_terrain_gives_more_wind_at_hub_height_from_the_same_10m_wind() -> None:
    speeds = []
    for z0 in (0.03, 0.1, 0.5):
        group = WindTurbineGroup(bus="b", power_curve=OWN_CURVE, hub_height_m=80, roughness_length_m=z0)
        speeds.append(hub_height_weather(weather([5.0]), SITE, group, NO_DENSITY)["wind_speed_m_per_s"].iloc[0])
    assert speeds[0] < speeds[1] < speeds[2]


def test_hellman_profile_by_hand() -> None:
    """v_hub = v_10 · (h/10)^α: α = 1/7 at 90 m gives 9^(1/7) = 1.3687; without α, α = 1 / ln(h/z0)."""
    given = WindTurbineGroup(bus="b", power_curve=OWN_CURVE, hub_height_m=90, wind_speed_model="hellman",
                             hellman_exponent=1 / 7)
    from_z0 = WindTurbineGroup(bus="b", power_curve=OWN_CURVE, hub_height_m=90, wind_speed_model="hellman",
                               roughness_length_m=0.1)
    wind = weather([4.0])
    assert hub_height_weather(wind, SITE, given, NO_DENSITY).iloc[0, 0] == pytest.approx(4.0 * 9 ** (1 / 7))
    assert hub_height_weather(wind, SITE, from_z0, NO_DENSITY).iloc[0, 0] == pytest.approx(
        4.0 * 9 ** (1 / math.log(900)))


def test_park_efficiency_scales_n_turbines() -> None:
    """3 turbines at efficiency 0.8: 3 · 0.8 · the turbine's power (2.4 · 50 kW at 7.5 m/s)."""
    group = own(number_of_turbines=3, wind_farm_efficiency=0.8)
    power = wind_group_kw(weather([2.0, 7.5, 12.0, 30.0]), SITE, group, NO_DENSITY)
    assert power.tolist() == pytest.approx([0.0, 3 * 0.8 * 50.0, 3 * 0.8 * 100.0, 0.0])
    assert own(number_of_turbines=3).nameplate_kw == 300.0


def test_a_wind_efficiency_curve_lowers_the_wind_speed() -> None:
    """dena_mean: the group's curve is read at v · η(v), η from windpowerlib's bundled table."""
    from windpowerlib.wake_losses import get_wind_efficiency_curve

    curve = get_wind_efficiency_curve("dena_mean")
    speeds = np.array([6.0, 9.0, 11.0])
    eta = np.interp(speeds, curve["wind_speed"], curve["efficiency"])
    assert (eta < 1).all()
    power = wind_group_kw(weather(speeds), SITE, own(number_of_turbines=2, wind_efficiency_curve="dena_mean"),
                          NO_DENSITY)
    expected = 2 * np.interp(speeds * eta, OWN_CURVE["wind_speed_m_per_s"], OWN_CURVE["p_kw"])
    assert power.to_numpy() == pytest.approx(expected)


def test_barometric_density_from_the_site_altitude_by_hand() -> None:
    """No pressure: 110 m of standard atmosphere, 101325 · (1 − 2.25577e-5 · 110)^5.25588 = 100 011 Pa.

    At a 100-m hub: −1/8 hPa per m (1250 Pa), 15 °C at 2 m minus 6.5 K/km over 98 m,
    ρ = p / (R T) with windpowerlib's ρ0 T0 / p0 = 1.225 · 288.15 / 101330.
    """
    group = WindTurbineGroup(bus="b", power_curve=OWN_CURVE, hub_height_m=100)
    hub = hub_height_weather(weather([5.0], temp_air=15.0), SITE, group)
    p_ground_pa = 101325 * (1 - 2.25577e-5 * 110) ** 5.25588
    t_hub_k = 288.15 - 0.0065 * 98
    rho = (p_ground_pa - 1250) * 1.225 * 288.15 / (101330 * t_hub_k)
    assert p_ground_pa == pytest.approx(100_011, abs=1)
    assert hub["density_kg_per_m3"].iloc[0] == pytest.approx(rho, rel=1e-4)
    assert rho == pytest.approx(1.197, abs=0.001)


def test_ideal_gas_density_from_a_measured_pressure_by_hand() -> None:
    group = WindTurbineGroup(bus="b", power_curve=OWN_CURVE, hub_height_m=100)
    hub = hub_height_weather(weather([5.0], temp_air=-5.0, pressure=95_000.0), SITE, group)
    rho = (95_000 - 1250) / (287.058 * (268.15 - 0.0065 * 98))
    assert hub["density_kg_per_m3"].iloc[0] == pytest.approx(rho, rel=1e-12)


def test_density_corrected_power_curve_by_hand() -> None:
    """At ρ = 1.225 / 1.331 the curve's speeds stretch by (1.225/ρ)^p, p = 1/3 up to 7.5 m/s, 2/3 from 12.5 m/s.

    A curve from 0 kW at 3 m/s to 100 kW at 12.5 m/s becomes 0 kW at 3.3 m/s (×1.1) to 100 kW at
    15.125 m/s (×1.21), so 9.2125 m/s (halfway) gives 50 kW. The pressure that makes that density at a
    10-m hub: p = ρ R T_hub + 10/8 hPa.
    """
    curve = {"wind_speed_m_per_s": [3.0, 12.5, 25.0], "p_kw": [0.0, 100.0, 100.0]}
    group = WindTurbineGroup(bus="b", power_curve=curve, hub_height_m=10)
    t_hub_k = 288.15 - 0.0065 * 8
    rho = 1.225 / 1.331
    pressure_pa = rho * 287.058 * t_hub_k + 125.0
    wind = weather([3.25, 9.2125, 15.125], temp_air=15.0, pressure=pressure_pa)
    assert hub_height_weather(wind, SITE, group)["density_kg_per_m3"].iloc[0] == pytest.approx(rho)
    corrected = wind_group_kw(wind, SITE, group)
    assert corrected.tolist() == pytest.approx([0.0, 50.0, 100.0])
    plain = wind_group_kw(wind, SITE, group, NO_DENSITY)
    assert plain.tolist() == pytest.approx([0.25 / 9.5 * 100, (9.2125 - 3) / 9.5 * 100, 100.0])


def test_missing_or_wrong_weather_is_named() -> None:
    group = own()
    with pytest.raises(DataError, match="missing column wind_speed"):
        wind_group_kw(weather([5.0]).drop(columns="wind_speed"), SITE, group)
    with pytest.raises(DataError, match="weather.wind_speed: -1 m/s"):
        wind_group_kw(weather([-1.0]), SITE, group)
    with pytest.raises(DataError, match=r"weather.pressure: 1013 at .* give Pa \(1 hPa = 100 Pa\)"):
        wind_group_kw(weather([5.0], pressure=1013.0), SITE, group)
    with pytest.raises(DataError, match="missing column temp_air"):
        wind_group_kw(weather([5.0]).drop(columns="temp_air"), SITE, group)
    # Without the density correction, temperature is not needed.
    assert wind_group_kw(weather([7.5]).drop(columns="temp_air"), SITE, group, NO_DENSITY).iloc[0] == pytest.approx(50)
    with pytest.raises(DataError, match="no UTC offset"):
        wind_group_kw(weather([5.0]).tz_localize(None), SITE, group)


def test_forecast_table_has_a_column_per_group_and_the_total() -> None:
    groups = {"wt1": own(), "wt2": own(number_of_turbines=2)}
    table = wind_forecast_table(park_wind_kw(weather([2.0, 7.5, 12.0]), SITE, groups, NO_DENSITY))
    assert list(table.columns) == ["wt1_kw", "wt2_kw", WIND_TOTAL_COLUMN]
    assert table["wind_kw"].tolist() == pytest.approx([0.0, 150.0, 300.0])
    assert str(table.index.tz) == "Asia/Shanghai"


def test_assumptions_state_the_height_roughness_and_density_method() -> None:
    groups = {"wt1": WindTurbineGroup(bus="b", turbine_type="E-82/2350", hub_height_m=100, number_of_turbines=2)}
    lines = wind_assumptions(weather([5.0]), groups)
    assert "at 10 m above ground" in lines[0]
    assert "barometric height equation from standard-atmosphere pressure" in lines[1]
    assert lines[2].startswith("wt1: 2 x E-82/2350 (2350 kW), hub 100 m, logarithmic profile, roughness length 0.1 m")
    measured = wind_assumptions(weather([5.0], pressure=100_000.0), groups)
    assert "ideal gas law from measured pressure" in measured[1]
    assert "no density correction" in wind_assumptions(weather([5.0]), groups, NO_DENSITY)[1]


def test_a_year_of_the_reference_case_weather() -> None:
    """Two E-82/2350 at 100 m on the Zhengzhou case's year (Greensboro airport wind, 3.05 m/s mean at 10 m).

    A low-wind inland site: the capacity factor must lie in 0.05–0.5 (it is
    about 0.12); the output stays within the curve's bounds, is 0 in calm
    steps and reaches rated power in the windiest ones.
    """
    case = load_case("cases/zhengzhou_park")
    group = WindTurbineGroup(bus="ws1_lv", turbine_type="E-82/2350", hub_height_m=100, number_of_turbines=2)
    power = wind_group_kw(case.weather, case.park.site, group, name="wt1")
    assert power.index.equals(case.weather.index) and power.index.tz is not None
    capacity_factor = power.mean() / group.nameplate_kw
    assert 0.05 < capacity_factor < 0.5
    assert power.min() >= 0 and power.max() <= group.max_p_kw + 1e-9
    # The curve is 0 kW up to 1 m/s at 1.225 kg/m³; the density correction moves that point by at most
    # (1.225 / 1.35)^(1/3) = 0.968 for the case's densest air (−10 °C): v_hub = 1.5 v_10 below 0.95 m/s gives 0.
    calm = case.weather["wind_speed"] * 1.5 < 0.95
    assert calm.any() and (power[calm] == 0).all()
    assert power.max() > 0.95 * group.nameplate_kw
    # Windier months give more energy: the energy follows the cube of the wind, so its ranking matches.
    monthly_wind = (case.weather["wind_speed"] ** 3).groupby(case.weather.index.month).mean()
    monthly_power = power.groupby(power.index.month).mean()
    assert monthly_power.idxmax() == monthly_wind.idxmax()
