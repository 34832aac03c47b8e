"""Schemathesis over the OpenAPI document against the real server: no finding, with an admin key or a park key.

The server (``microgrid service serve``) runs on a free loopback port with
the reference park and the tiny park registered. Schemathesis runs every
check in every phase (the document's examples, coverage, fuzzing, stateful
links), seeded, once with the admin key and once with a key of the reference
park only, under the configuration in ``schemathesis.toml`` beside this file
(it says why two expectations are widened). The server lets OpenADR VENs
connect only to 127.0.0.1 (``MICROGRID_OPENADR_VTN_HOSTS``), and webhooks
only to 127.0.0.1 (``MICROGRID_WEBHOOK_HOSTS``), so no generated ``vtn_url``
or webhook ``url`` leaves the machine. The live stream
(``GET /parks/{id}/stream``) is checked like every other operation: the
server ends each stream after 0.5 s (``MICROGRID_STREAM_MAX_S``), so its
answer is complete and schemathesis reads it whole instead of waiting.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.service.api.conftest import tiny_files, tiny_park
from tests.service.api.test_api_server import ADMIN_KEY, HEADERS, Server

HERE = Path(__file__).resolve().parent
SEED = 20261207
MAX_EXAMPLES = 12
"""Examples per operation and phase: about 2,000 requests a run, a minute or two each."""


@pytest.fixture
def server(tmp_path: Path):
    server = Server(tmp_path / "var", '["zhengzhou_park"]',
                    env={"MICROGRID_OPENADR_VTN_HOSTS": '["127.0.0.1"]', "MICROGRID_PLAN_TIME_LIMIT_S": "15",
                         "MICROGRID_WEBHOOK_HOSTS": '["127.0.0.1"]', "MICROGRID_STREAM_MAX_S": "0.5"})
    server.start(timeout_s=120)
    yield server
    server.stop()


def park_key(server: Server, tmp_path: Path) -> str:
    """Register the tiny park beside the reference park; a key valid for the reference park only."""
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=60) as http:
        created = http.post("/parks", json={"id": "tiny", "park": tiny_park(), "data_files": tiny_files(tmp_path)})
        assert created.status_code == 201, created.text
        key = http.post("/keys", json={"name": "operator", "park_ids": ["zhengzhou_park"]})
        assert key.status_code == 201, key.text
        return key.json()["token"]


def schemathesis(server: Server, key: str, workdir: Path) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(HERE / "schemathesis.toml"),
               "--no-color", "run", f"{server.url}/openapi.json", "--checks", "all", "--seed", str(SEED),
               "--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--request-timeout", "60",
               "--generation-database", "none", "--header", f"X-API-Key: {key}"]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=900)


def test_schemathesis_finds_nothing_with_an_admin_key_or_a_park_key(server, tmp_path) -> None:
    keys = {"admin": ADMIN_KEY, "park": park_key(server, tmp_path)}
    for name, key in keys.items():
        result = schemathesis(server, key, tmp_path / name)
        summary = result.stdout[-6000:]
        assert result.returncode == 0, f"schemathesis with the {name} key found problems:\n{summary}\n{result.stderr}"
        assert "API Operations:" in result.stdout and "failures" not in summary.splitlines()[-1], summary
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/health").status_code == 200  # the server outlived it
