"""The database set-up: tables created, and columns added to a database of an earlier release."""

from __future__ import annotations

from sqlalchemy import inspect, text

from service.api.db import init_db, make_engine


def test_init_db_adds_the_measurement_column_to_an_older_plans_table(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE plans (id INTEGER PRIMARY KEY, park_id VARCHAR(64))"))
        connection.execute(text("INSERT INTO plans (id, park_id) VALUES (1, 'a')"))
    init_db(engine)
    init_db(engine)  # a second start changes nothing
    columns = {c["name"] for c in inspect(engine).get_columns("plans")}
    assert "measurement_id" in columns and "measurements" in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT measurement_id FROM plans WHERE id = 1")).scalar() is None
    engine.dispose()


def test_init_db_adds_the_grid_meter_columns_to_an_older_measurements_table(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE measurements (id INTEGER PRIMARY KEY, park_id VARCHAR(64))"))
        connection.execute(text("INSERT INTO measurements (id, park_id) VALUES (1, 'a')"))
    init_db(engine)
    init_db(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("measurements")}
    assert {"grid_import_kw", "grid_export_kw"} <= columns
    assert {"openadr_vens", "openadr_events"} <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        row = connection.execute(text("SELECT grid_import_kw, grid_export_kw FROM measurements WHERE id = 1")).one()
        assert tuple(row) == (None, None)
    engine.dispose()
