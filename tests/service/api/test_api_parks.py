"""``/parks``: registration from the case format, reading, listing, versioned updates, and their errors."""

from __future__ import annotations

import datetime as dt

import yaml

from tests.service.api.conftest import ADMIN, assert_problem, issue_key, register, tiny_files, tiny_park


def test_register_inline_and_read_back(client, files) -> None:
    body = register(client, "tiny", files)
    assert body["id"] == "tiny" and body["version"] == 1 and body["name"] == "tiny park"
    assert body["document"] == tiny_park()
    assert sorted(f["name"] for f in body["data"]["files"]) == ["loads.csv", "weather.csv"]
    assert body["data"]["case_folder"] is None
    created = dt.datetime.fromisoformat(body["created_at"])
    assert created.utcoffset() == dt.timedelta(0)
    response = client.get("/parks/tiny", headers=ADMIN)
    assert response.status_code == 200
    assert response.json() == body


def test_register_from_yaml_text(client, files) -> None:
    response = client.post("/parks", json={"id": "tiny-yaml", "park_yaml": yaml.safe_dump(tiny_park()),
                                           "data_files": files}, headers=ADMIN)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/parks/tiny-yaml"
    assert response.json()["document"]["batteries"]["b1"]["capacity_kwh"] == 400


def test_register_a_bundled_case_folder(client) -> None:
    response = client.post("/parks", json={"id": "zz", "case_folder": "zhengzhou_park"}, headers=ADMIN)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["data"] == {"case_folder": "zhengzhou_park", "files": []}
    assert body["name"] == "Zhengzhou reference park"
    assert "heat_pumps" in body["document"]


def test_list_shows_only_the_keys_parks(client, files) -> None:
    register(client, "a", files)
    register(client, "b", files)
    assert [p["id"] for p in client.get("/parks", headers=ADMIN).json()] == ["a", "b"]
    assert [p["id"] for p in client.get("/parks", headers=issue_key(client, "b")).json()] == ["b"]


def test_update_makes_a_new_version_and_keeps_the_old(client, files) -> None:
    register(client, "tiny", files)
    bigger = tiny_park()
    bigger["batteries"]["b1"]["capacity_kwh"] = 800
    response = client.put("/parks/tiny", json={"park": bigger, "expected_version": 1, "comment": "bigger battery"},
                          headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 2 and body["comment"] == "bigger battery"
    assert body["document"]["batteries"]["b1"]["capacity_kwh"] == 800
    assert sorted(f["name"] for f in body["data"]["files"]) == ["loads.csv", "weather.csv"]  # carried over
    assert client.get("/parks/tiny", headers=ADMIN).json()["version"] == 2
    old = client.get("/parks/tiny", params={"version": 1}, headers=ADMIN).json()
    assert old["document"]["batteries"]["b1"]["capacity_kwh"] == 400
    versions = client.get("/parks/tiny/versions", headers=ADMIN).json()
    assert [v["version"] for v in versions] == [1, 2]
    assert_problem(client.get("/parks/tiny", params={"version": 3}, headers=ADMIN), 404, None, "no version 3")


def test_update_by_the_parks_own_key_with_new_data(client, files, tmp_path) -> None:
    register(client, "tiny", files)
    key = issue_key(client, "tiny")
    new_loads = tiny_files(tmp_path / "more", day_kw=1500.0)["loads.csv"]
    response = client.put("/parks/tiny", json={"park": tiny_park(), "data_files": {"loads.csv": new_loads}},
                          headers=key)
    assert response.status_code == 200, response.text
    shas = {f["name"]: f["sha256"] for f in response.json()["data"]["files"]}
    before = {f["name"]: f["sha256"] for f in client.get("/parks/tiny?version=1", headers=key).json()["data"]["files"]}
    assert shas["weather.csv"] == before["weather.csv"] and shas["loads.csv"] != before["loads.csv"]


def test_stale_expected_version_is_a_conflict(client, files) -> None:
    register(client, "tiny", files)
    assert client.put("/parks/tiny", json={"park": tiny_park()}, headers=ADMIN).status_code == 200
    body = assert_problem(client.put("/parks/tiny", json={"park": tiny_park(), "expected_version": 1}, headers=ADMIN),
                          409, "expected_version", "version 2")
    assert "read it again" in body["detail"]


def test_registering_a_taken_id_is_a_conflict(client, files) -> None:
    register(client, "tiny", files)
    assert_problem(client.post("/parks", json={"id": "tiny", "park": tiny_park(), "data_files": files},
                               headers=ADMIN), 409, "id", "already registered")


def test_a_typo_in_the_park_is_named_with_a_suggestion(client, files) -> None:
    park = tiny_park()
    park["batteries"]["b1"]["capcity_kwh"] = park["batteries"]["b1"].pop("capacity_kwh")
    body = assert_problem(client.post("/parks", json={"id": "t", "park": park, "data_files": files}, headers=ADMIN),
                          422, "batteries.b1.capcity_kwh", "did you mean 'capacity_kwh'")
    assert client.get("/parks", headers=ADMIN).json() == []
    assert body["title"] == "Invalid park"


def test_bad_data_is_refused_before_anything_is_stored(client, tmp_path) -> None:
    naive = tiny_files(tmp_path, naive=True)
    assert_problem(client.post("/parks", json={"id": "t", "park": tiny_park(), "data_files": naive}, headers=ADMIN),
                   422, "data.loads", "without UTC offset")
    missing_profile = tiny_park(loads={"l1": {"bus": "pcc", "profile": "nope_kw"}})
    assert_problem(client.post("/parks", json={"id": "t", "park": missing_profile,
                                               "data_files": tiny_files(tmp_path / "2")}, headers=ADMIN),
                   422, "loads.l1.profile", "nope_kw")
    assert client.get("/parks", headers=ADMIN).json() == []


def test_missing_and_unsafe_file_names(client, files) -> None:
    assert_problem(client.post("/parks", json={"id": "t", "park": tiny_park(), "data_files": {"loads.csv": files["loads.csv"]}},
                               headers=ADMIN), 422, "data_files", "weather.csv")
    assert_problem(client.post("/parks", json={"id": "t", "park": tiny_park(),
                                               "data_files": {**files, "../../etc/x.csv": "a"}}, headers=ADMIN),
                   422, "data_files.../../etc/x.csv", "not a file name")


def test_case_folder_outside_the_case_root_is_refused(client) -> None:
    for name in ("../service", "/etc", "no_such_case"):
        assert_problem(client.post("/parks", json={"id": "t", "case_folder": name}, headers=ADMIN),
                       422, "case_folder", "zhengzhou_park")


def test_bad_yaml_and_ambiguous_bodies(client, files) -> None:
    assert_problem(client.post("/parks", json={"id": "t", "park_yaml": "site: [unclosed", "data_files": files},
                               headers=ADMIN), 422, "park_yaml", "not valid YAML")
    assert_problem(client.post("/parks", json={"id": "t", "park": tiny_park(), "park_yaml": "a: 1", "data_files": files},
                               headers=ADMIN), 422, "", "not both")
    assert_problem(client.post("/parks", json={"id": "t", "park": tiny_park()}, headers=ADMIN), 422, "",
                   "time series")
    assert_problem(client.post("/parks", json={"id": "bad id!", "case_folder": "zhengzhou_park"}, headers=ADMIN),
                   422, "id")
    assert_problem(client.post("/parks", json={"id": "t", "case_folder": "zhengzhou_park", "colour": "red"},
                               headers=ADMIN), 422, "colour", "Extra inputs")


def test_unknown_park_is_404_for_an_admin(client) -> None:
    assert_problem(client.get("/parks/ghost", headers=ADMIN), 404, None, "no park 'ghost'")
    assert_problem(client.put("/parks/ghost", json={"park": tiny_park()}, headers=ADMIN), 404)


def test_data_paths_leaving_the_case_folder_are_refused(client) -> None:
    park = yaml.safe_load(open("cases/zhengzhou_park/park.yaml"))
    park["data"] = {"loads": "../../../../etc/passwd"}
    assert_problem(client.post("/parks", json={"id": "t", "case_folder": "zhengzhou_park", "park": park},
                               headers=ADMIN), 422, "data.loads", "without '..'")
    park["data"] = {"weather": "/etc/hostname"}
    assert_problem(client.post("/parks", json={"id": "t", "case_folder": "zhengzhou_park", "park": park},
                               headers=ADMIN), 422, "data.weather")
