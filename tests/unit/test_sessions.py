"""Dashboard sessions and the live feed's credential, without a browser: sign-in sets an
HttpOnly, SameSite=Strict cookie standing for the key; /ws/live refuses a client without a
read credential (close code 4401) and serves a signed-in one."""

from __future__ import annotations

import pytest
from anyio.from_thread import BlockingPortal
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from sentiflow.api import create_app
from sentiflow.feedback.auth import create_key, revoke_key
from sentiflow.settings import Settings


def portal(client: TestClient) -> BlockingPortal:
    """The running client's portal into its event loop (set once the client has started)."""
    assert client.portal is not None
    return client.portal


@pytest.fixture
def reads_keyed(settings: Settings) -> Settings:
    # A served client hears a ping after a short quiet spell.
    update = {"auth": "required", "reads_need_key": True, "live_heartbeat_s": 0.2}
    return settings.model_copy(update=update)


def refused_code(client: TestClient, **headers: str) -> int | None:
    with client.websocket_connect("/ws/live", headers=headers) as socket:
        try:
            socket.receive_json()
        except WebSocketDisconnect as closed:
            return closed.code
    return None


def test_live_feed_needs_a_read_credential(reads_keyed: Settings) -> None:
    app = create_app(reads_keyed, worker=False)
    with TestClient(app, base_url="http://testserver") as client:
        store = app.state.services.store
        reader, _ = portal(client).call(lambda: create_key(store, name="r", scopes=["read"]))
        feeder, _ = portal(client).call(lambda: create_key(store, name="f", scopes=["ingest"]))
        assert refused_code(client) == 4401
        assert refused_code(client, authorization=f"Bearer {feeder}") == 4403
        with client.websocket_connect("/ws/live", headers={"x-api-key": reader}) as socket:
            assert socket.receive_json()["type"] == "ping"
        status = client.get("/api/session").json()
        assert status == {
            "signed_in": False,
            "name": None,
            "scopes": [],
            "expires_at": None,
            "keys_required": True,
            "reads_need_key": True,
        }
        signed = client.post("/api/session", json={"key": reader})
        assert signed.status_code == 200 and signed.json()["name"] == "r"
        header = signed.headers["set-cookie"]
        assert "HttpOnly" in header and "SameSite=strict" in header and "Max-Age=28800" in header
        assert reader not in header
        assert client.get("/api/session").json()["signed_in"] is True
        # A browser's WebSocket sends the cookie and its page's origin.
        origin = {"origin": "http://testserver"}
        with client.websocket_connect("/ws/live", headers=origin) as socket:
            assert socket.receive_json()["type"] == "ping"
        assert refused_code(client, origin="http://evil.example") == 4403
        portal(client).call(lambda: revoke_key(store, "r"))
        assert refused_code(client, **origin) == 4401
        assert client.get("/api/session").json()["signed_in"] is False


def test_sign_in_refuses_bad_keys_and_sign_out_ends_it(reads_keyed: Settings) -> None:
    app = create_app(reads_keyed, worker=False)
    with TestClient(app) as client:
        store = app.state.services.store
        reader, _ = portal(client).call(lambda: create_key(store, name="r", scopes=["read"]))
        bad = client.post("/api/session", json={"key": "sf_abc_wrong"})
        assert bad.status_code == 401 and "sentiflow_session" not in bad.cookies
        assert client.post("/api/session", json={}).status_code == 422
        assert client.post("/api/session", json={"key": reader}).status_code == 200
        assert client.get("/api/posts").status_code == 200
        assert client.delete("/api/session").status_code == 204
        assert client.get("/api/posts").status_code == 401


def test_messages_over_the_caps_close_the_socket(settings: Settings) -> None:
    capped = settings.model_copy(update={"ws_max_message_bytes": 1024, "ws_max_messages_per_s": 3})
    app = create_app(capped, worker=False)
    with TestClient(app) as client:
        with client.websocket_connect("/ws/live") as socket:
            socket.send_text("x" * 2000)
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
            assert closed.value.code == 1009
        with client.websocket_connect("/ws/live") as socket:
            for _ in range(5):
                socket.send_text("hi")
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
            assert closed.value.code == 1008
