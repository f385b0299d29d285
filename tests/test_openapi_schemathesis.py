"""schemathesis against the running app's own OpenAPI, with an admin's key: no 5xx, and every
answer (status, content type, body) as the document says. A database of its own, so the users,
rules and subscriptions it invents never reach other tests."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from api.auth import add_user
from hazgate.db.migrate import migrate
from hazgate.services.local import LocalServices, ensure_secrets
from tests.fixtures.browser import GENEROUS_LIMITS
from tests.fixtures.services import RunningApp, make_settings

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Bounded so the run stays well under two minutes on two shared cores.
MAX_EXAMPLES = 12
RUN_TIMEOUT_S = 240
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture(scope="module")
def fuzzed_app(local_services: LocalServices) -> Iterator[tuple[RunningApp, str]]:
    secrets = ensure_secrets(local_services.settings.state_dir)
    name = f"hazgate_fuzz_{uuid.uuid4().hex[:8]}"
    local_services.db.create_database(name, secrets["db_superuser_password"], secrets["db_password"])
    url = local_services.db.app_conninfo(secrets["db_password"], name)
    migrate(url)
    settings = make_settings(database_url=url, api={"auth": GENEROUS_LIMITS})
    with psycopg.connect(url) as conn:
        key = str(add_user(conn, "fuzz-admin", "admin")["api_key"])
    try:
        with RunningApp(settings) as app:
            yield app, key
    finally:
        local_services.db.drop_database(name, secrets["db_superuser_password"])


def test_the_api_keeps_every_promise_of_its_openapi_document(fuzzed_app, tmp_path):
    app, key = fuzzed_app
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{app.base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "20261123",
        "--workers",
        "2",
        "--exclude-path-regex",
        "/stream$",  # server-sent events never end: covered by the auth and browser tests
        "--request-timeout",
        "20",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    assert "passed" in done.stdout


def test_a_silence_of_absurd_length_is_refused_not_a_server_error(fuzzed_app):
    import httpx

    app, key = fuzzed_app
    body = {"rule_id": str(uuid.uuid4()), "duration_s": 1e308, "reason": "fuzz"}
    response = httpx.post(f"{app.base_url}/api/v1/silences", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 422, response.text


def test_a_nul_character_in_a_query_parameter_is_refused_by_name_not_a_server_error(fuzzed_app):
    import httpx

    app, key = fuzzed_app
    # Found by the fuzzer: GET /api/v1/audit?action=v%00%09 answered 500 (PostgreSQL refuses NUL).
    for path in ("/api/v1/audit", "/api/v1/rejected", "/api/v1/visits"):
        name = {"/api/v1/audit": "action", "/api/v1/rejected": "reason", "/api/v1/visits": "plate"}[path]
        answer = httpx.get(
            f"{app.base_url}{path}", params={name: "v\x00\t"}, headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 422, (path, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "invalid_request" and f"'{name}'" in error["message"] and "NUL" in error["message"]
