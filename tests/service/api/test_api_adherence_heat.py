"""Metered heat-pump power: checked and stored with a measurement, and compared with the plan's ``<hp>.elec_kw``.

The Zhengzhou park has two 600-kW heat pumps, ``hp1`` and ``hp2``, on its process-heat bus.
"""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from service.api.db import init_db, make_engine
from tests.service.api.conftest import ADMIN, assert_problem

DAY = "2026-01-15"
"""A winter day: the process heat (about 630 kW) is served by hp1 alone without control (hp2 stays off)."""


def at(clock: str) -> str:
    return f"{DAY}T{clock}:00+08:00"


@pytest.fixture
def zz(client) -> str:
    response = client.post("/parks", json={"id": "zz", "case_folder": "zhengzhou_park"}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return "zz"


def post(client, clock: str, **fields):
    return client.post("/parks/zz/measurements", json={"measured_at": at(clock), "month_to_date_peak_kw": 3000,
                                                       **fields}, headers=ADMIN)


def test_a_measurement_keeps_the_heat_pumps_metered_power(client, zz) -> None:
    response = post(client, "02:00", heat_pump_kw={"hp1": 250.5, "hp2": 600})   # hp2 at its rating
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["heat_pump_kw"] == {"hp1": 250.5, "hp2": 600.0}
    stored = client.get(f"/parks/zz/measurements/{created['id']}", headers=ADMIN).json()
    assert stored["heat_pump_kw"] == {"hp1": 250.5, "hp2": 600.0}
    without = post(client, "03:00")
    assert without.status_code == 201 and without.json()["heat_pump_kw"] == {}


@pytest.mark.parametrize(("heat_pump_kw", "field", "fragment"), [
    ({"hp9": 100}, "heat_pump_kw.hp9", "hp1, hp2"),
    ({"hp1": -1}, "heat_pump_kw.hp1", "[0, 600] kW"),
    ({"hp2": 600.5}, "heat_pump_kw.hp2", "max_elec_kw"),
])
def test_a_heat_pump_the_park_has_not_or_a_power_outside_its_rating_is_refused(client, zz, heat_pump_kw, field,
                                                                                fragment) -> None:
    assert_problem(post(client, "02:00", heat_pump_kw=heat_pump_kw), 422, field, field, fragment)
    assert client.get("/parks/zz/measurements", headers=ADMIN).json() == []


def test_adherence_compares_each_heat_pump_with_the_plans_electric_input(client, zz) -> None:
    response = client.post("/parks/zz/plans", json={"date": DAY, "strategy": "no-control",
                                                    "month_to_date_peak_kw": 3000}, headers=ADMIN)
    assert response.status_code == 201, response.text
    plan = response.json()
    rows = {r["timestamp"]: r for r in plan["schedule"]}
    night, later = rows[at("02:00")], rows[at("03:00")]
    assert night["hp1.elec_kw"] > 100 and night["hp2.elec_kw"] == 0   # demand-led: hp1 first, hp2 off
    assert post(client, "02:05", heat_pump_kw={"hp1": night["hp1.elec_kw"] + 50, "hp2": 0},
                grid_import_kw=night["grid_import_kw"] + 50).status_code == 201
    assert post(client, "03:10", heat_pump_kw={"hp1": 0, "hp2": 300}).status_code == 201   # hp2 ran instead
    body = client.get(f"/parks/zz/adherence?date={DAY}", headers=ADMIN).json()
    steps = {s["timestamp"]: s for s in body["steps"]}
    assert list(steps) == [at("02:00"), at("03:00")]
    assert steps[at("02:00")]["quantities"]["hp1.elec_kw"] == {
        "planned": pytest.approx(night["hp1.elec_kw"], abs=1e-6),
        "measured": pytest.approx(night["hp1.elec_kw"] + 50, abs=1e-6), "deviation": pytest.approx(50, abs=1e-5)}
    assert steps[at("02:00")]["quantities"]["hp2.elec_kw"] == {"planned": 0, "measured": 0, "deviation": 0}
    third = steps[at("03:00")]["quantities"]
    assert third["hp1.elec_kw"]["deviation"] == pytest.approx(-later["hp1.elec_kw"], abs=1e-5)
    assert third["hp2.elec_kw"]["deviation"] == pytest.approx(300 - later["hp2.elec_kw"], abs=1e-5)
    # the cost follows the import only: the heat pumps' extra 50 kW is in it, priced once
    assert steps[at("02:00")]["energy_cost_cny"] == pytest.approx(50 * 0.25 * night["price_import_cny_per_kwh"],
                                                                  abs=1e-5)
    assert steps[at("03:00")]["energy_cost_cny"] is None   # no import metered
    summary = body["summary"]
    assert summary["heat_pump_steps_measured"] == 4
    expected = (50 + 0 + later["hp1.elec_kw"] + abs(300 - later["hp2.elec_kw"])) / 4
    assert summary["mean_abs_heat_pump_deviation_kw"] == pytest.approx(expected, abs=1e-5)
    assert summary["energy_cost_cny"] == pytest.approx(steps[at("02:00")]["energy_cost_cny"], abs=1e-6)


def test_adherence_without_metered_heat_pumps_has_no_heat_pump_figure(client, zz) -> None:
    summary = client.get(f"/parks/zz/adherence?date={DAY}", headers=ADMIN).json()["summary"]
    assert summary["heat_pump_steps_measured"] == 0 and summary["mean_abs_heat_pump_deviation_kw"] is None


def test_init_db_adds_the_heat_pump_column_to_an_older_measurements_table(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE measurements (id INTEGER PRIMARY KEY, park_id VARCHAR(64))"))
        connection.execute(text("INSERT INTO measurements (id, park_id) VALUES (1, 'a')"))
    init_db(engine)
    init_db(engine)  # a second start changes nothing
    assert "heat_pump_kw" in {c["name"] for c in inspect(engine).get_columns("measurements")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT heat_pump_kw FROM measurements WHERE id = 1")).scalar() is None
    engine.dispose()
