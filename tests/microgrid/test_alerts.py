"""The ``alerts:`` section of a park: defaults, and the case loader's messages naming the field."""

from __future__ import annotations

import pytest

from microgrid.alerts import ALERT_RULES, AlertSettings
from microgrid.case import park_from_dict
from microgrid.errors import InvalidParkError

TINY_PARK = {"site": {"name": "tiny", "latitude_deg": 34.75, "longitude_deg": 113.63},
             "grid": {"max_import_kw": 2000}, "tariff": {"preset": "henan_2024"},
             "batteries": {"b1": {"bus": "pcc", "capacity_kwh": 400, "max_charge_kw": 200, "max_discharge_kw": 200}}}


def test_every_rule_has_its_documented_default_and_no_replan() -> None:
    settings = park_from_dict(TINY_PARK).alerts
    assert settings == AlertSettings()
    assert (settings.import_limit.margin_frac, settings.demand_response.tolerance_kw,
            settings.soc_band.tolerance_frac, settings.stale_measurements.max_age_min,
            settings.renewables.min_ratio, settings.renewables.min_expected_frac,
            settings.network_limits.voltage_margin_pu, settings.network_limits.loading_margin_pct,
            settings.adherence_tolerance_frac) == (0.05, 10.0, 0.05, 15.0, 0.7, 0.2, 0.01, 5.0, 0.02)
    assert all(settings.rule(name).enabled and not settings.rule(name).replan for name in ALERT_RULES)


def test_a_rule_is_set_in_park_yaml() -> None:
    park = park_from_dict({**TINY_PARK, "alerts": {"soc_band": {"tolerance_frac": 0.1, "replan": True},
                                                   "renewables": {"enabled": False}}})
    assert park.alerts.soc_band.tolerance_frac == 0.1 and park.alerts.soc_band.replan
    assert not park.alerts.renewables.enabled and park.alerts.import_limit.enabled


@pytest.mark.parametrize(("alerts", "fragment"), [
    ({"soc_band": {"tolerance_frac": 0}}, "alerts.soc_band.tolerance_frac"),
    ({"stale_measurements": {"max_age_min": -5}}, "alerts.stale_measurements.max_age_min"),
    ({"import_limit": {"margin_frac": 1}}, "alerts.import_limit.margin_frac"),
    ({"renewables": {"min_ratio": 1.5}}, "alerts.renewables.min_ratio"),
    ({"soc_band": {"replan": "sometimes"}}, "alerts.soc_band.replan"),
    ({"stale": {}}, "alerts.stale"),
])
def test_a_bad_threshold_is_named(alerts, fragment) -> None:
    with pytest.raises(InvalidParkError, match=fragment.replace(".", r"\.")):
        park_from_dict({**TINY_PARK, "alerts": alerts})
