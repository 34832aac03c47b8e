"""``/keys`` and ``microgrid service create-key``: keys issued by admins, stored hashed."""

from __future__ import annotations

import hashlib
import sqlite3

from service.api.security import hash_token
from tests.service.api.conftest import ADMIN, assert_problem, register
from tests.service.helpers import one_line_error, run


def test_an_issued_key_works_and_is_stored_hashed(client, files, settings) -> None:
    register(client, "tiny", files)
    response = client.post("/keys", json={"name": "operator", "park_ids": ["tiny"]}, headers=ADMIN)
    assert response.status_code == 201, response.text
    key = response.json()
    token = key["token"]
    assert token.startswith("mgk_") and len(token) > 40 and token.startswith(key["prefix"])
    assert key["park_ids"] == ["tiny"] and key["admin"] is False
    assert client.get("/parks/tiny", headers={"X-API-Key": token}).status_code == 200
    database = settings.database_url.split("///", 1)[1]
    with sqlite3.connect(database) as connection:
        hashes = [row[0] for row in connection.execute("SELECT key_hash FROM api_keys")]
    assert hashes == [hashlib.sha256(token.encode()).hexdigest()] == [hash_token(token)]
    raw = b"".join(p.read_bytes() for p in settings.data_dir.glob("microgrid.db*"))
    assert token.encode() not in raw and key["prefix"].encode() in raw


def test_listing_keys_shows_no_secret(client, files) -> None:
    register(client, "tiny", files)
    token = client.post("/keys", json={"name": "op", "park_ids": ["tiny"]}, headers=ADMIN).json()["token"]
    client.post("/keys", json={"name": "boss", "admin": True}, headers=ADMIN)
    listed = client.get("/keys", headers=ADMIN).json()
    assert [(k["name"], k["admin"], k["park_ids"]) for k in listed] == [("op", False, ["tiny"]), ("boss", True, [])]
    assert all("token" not in k and "key_hash" not in k for k in listed)
    assert token not in str(listed)


def test_an_issued_admin_key_registers_parks(client, files) -> None:
    token = client.post("/keys", json={"name": "boss", "admin": True}, headers=ADMIN).json()["token"]
    register_response = client.post("/parks", json={"id": "p", "park": {"site": {}}, "data_files": files},
                                    headers={"X-API-Key": token})
    assert register_response.status_code == 422  # got past the admin check to the park's validation


def test_key_requests_are_validated(client, files) -> None:
    register(client, "tiny", files)
    assert_problem(client.post("/keys", json={"name": "op", "park_ids": ["tiny", "ghost"]}, headers=ADMIN),
                   422, "park_ids", "ghost")
    assert_problem(client.post("/keys", json={"name": "op"}, headers=ADMIN), 422, "", "at least one park")
    assert_problem(client.post("/keys", json={"name": "", "park_ids": ["tiny"]}, headers=ADMIN), 422, "name")
    assert [k["name"] for k in client.get("/keys", headers=ADMIN).json()] == []


def test_cli_creates_keys_the_service_accepts(client, files, settings, monkeypatch) -> None:
    from service.api.settings import get_settings

    register(client, "tiny", files)
    monkeypatch.setenv("MICROGRID_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("MICROGRID_REFERENCE_CASES", "[]")
    get_settings.cache_clear()
    try:
        result = run("service", "create-key", "--name", "night shift", "--park", "tiny")
        assert result.exit_code == 0, result.output
        token = result.stdout.strip().splitlines()[-1]
        assert token.startswith("mgk_")
        assert client.get("/parks/tiny", headers={"X-API-Key": token}).status_code == 200
        assert client.get("/keys", headers={"X-API-Key": token}).status_code == 403
        admin = run("service", "create-key", "--name", "root", "--admin").stdout.strip().splitlines()[-1]
        assert client.get("/keys", headers={"X-API-Key": admin}).status_code == 200
        one_line_error(run("service", "create-key", "--name", "x", "--park", "ghost"), "park_ids", "ghost")
        one_line_error(run("service", "create-key", "--name", "x"), "--park", "--admin")
        monkeypatch.setenv("MICROGRID_PLAN_TIME_LIMIT_S", "60")
        get_settings.cache_clear()
        one_line_error(run("service", "create-key", "--name", "x", "--admin"), "MICROGRID_PLAN_TIME_LIMIT_S",
                       "below MICROGRID_HTTP_TIMEOUT_S")
    finally:
        get_settings.cache_clear()
