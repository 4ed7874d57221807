"""Keys follow the address the server listens on: `sentiflow run --host 0.0.0.0` requires
them with no other setting, and says so at start-up; loopback stays open."""

from __future__ import annotations

from pathlib import Path

import httpx

from sentiflow.feedback.auth import auth_decision
from sentiflow.settings import Settings
from tests.browser.conftest import start_server


def test_run_on_every_interface_requires_keys(tmp_path: Path) -> None:
    servers = start_server(tmp_path, "--host", "0.0.0.0")
    server = next(servers)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            made = client.post("/api/keys", json={"name": "x", "scopes": ["admin"]})
            assert made.status_code == 401, made.text
            posted = client.post("/api/posts", json={"source": "s", "text": "hello"})
            assert posted.status_code == 401, posted.text
        assert "keys required: listening on 0.0.0.0" in server.log.read_text()
    finally:
        next(servers, None)


def test_run_on_loopback_stays_open(tmp_path: Path) -> None:
    servers = start_server(tmp_path)
    server = next(servers)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.post("/api/posts", json={"source": "s", "text": "hi"}).status_code == 202
        assert "keys not required: listening on 127.0.0.1, loopback only" in server.log.read_text()
    finally:
        next(servers, None)


def test_the_decision_and_its_reason(settings: Settings) -> None:
    assert auth_decision(settings) == (
        False,
        "keys not required: listening on 127.0.0.1, loopback only (this machine alone)",
    )
    for host in ("0.0.0.0", "::", "192.0.2.7", "sentiflow.example"):
        required, why = auth_decision(settings.model_copy(update={"host": host}))
        assert required and host in why
    assert auth_decision(settings.model_copy(update={"host": "::1"}))[0] is False
    wide_open = settings.model_copy(update={"host": "0.0.0.0", "auth": "disabled"})
    required, why = auth_decision(wide_open)
    assert not required and why.startswith("WARNING") and "anyone" in why


def test_keys_off_on_every_interface_starts_with_a_warning(tmp_path: Path) -> None:
    servers = start_server(tmp_path, "--host", "0.0.0.0", SENTIFLOW_AUTH="disabled")
    server = next(servers)
    try:
        log = " ".join(server.log.read_text().split())
        assert "WARNING: keys off although listening on 0.0.0.0" in log
        assert "anyone who can reach it" in log
    finally:
        next(servers, None)
