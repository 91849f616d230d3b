"""The gateway over real HTTP: every capture path and encoding lands in ClickHouse, bad input
gets a clear 4xx without stopping good events, and a dead Kafka gives 503 with Retry-After."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from tests.conftest import REPO, Stack

pytestmark = pytest.mark.e2e

CAPTURE_PATHS = [
    "/batch/", "/batch", "/e/", "/e", "/i/v0/e/", "/i/v0/e",
    "/capture/", "/capture", "/track/", "/track", "/engage/", "/engage",
]
LANDING_TIMEOUT_S = 60
# The dead-Kafka gateway's producer gives up after 10 s (DELIVERY_TIMEOUT_MS); headroom on top.
UNAVAILABLE_WITHIN_S = 15


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(url: str, method: str = "GET", body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 30) -> Reply:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()},
                         response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())


def event(distinct_id: str, name: str = "e2e_gateway", **fields: Any) -> dict[str, Any]:
    return {"event": name, "distinct_id": distinct_id, "properties": {"source": "e2e"}, **fields}


def sql_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)


def wait_landed(stack: Stack, ids: list[str]) -> dict[str, str]:
    """Each distinct id's event name, once every id has an event in ClickHouse."""
    rows = stack.wait_for(
        "SELECT DISTINCT distinct_id, event FROM product_analytics.events "
        f"WHERE distinct_id IN ({sql_list(ids)})",
        lambda rows: {r["distinct_id"] for r in rows} >= set(ids),
        timeout=LANDING_TIMEOUT_S,
    )
    return {r["distinct_id"]: r["event"] for r in rows}


def assert_ok(status: int, body: dict[str, Any]) -> None:
    assert (status, body) == (200, {"status": 1})


# Capture paths and encodings ----------------------------------------------------------------

def test_every_capture_path_lands(stack: Stack, unique: str) -> None:
    ids = {}
    for path in CAPTURE_PATHS:
        distinct_id = f"path{path.replace('/', '_')}-{unique}"
        ids[path] = distinct_id
        if path.startswith("/batch"):
            body: dict[str, Any] = {"api_key": stack.api_key, "batch": [event(distinct_id)]}
        else:
            body = {"api_key": stack.api_key, **event(distinct_id)}
        assert_ok(*stack.post(path, body))
    landed = wait_landed(stack, list(ids.values()))
    assert set(landed.values()) == {"e2e_gateway"}


def test_legacy_engage_object_becomes_identify(stack: Stack, unique: str) -> None:
    distinct_id = f"engage-{unique}"
    body = {"$token": stack.api_key, "$distinct_id": distinct_id, "$set": {"plan": "pro"}}
    assert_ok(*stack.post("/engage/", body))
    assert wait_landed(stack, [distinct_id]) == {distinct_id: "$identify"}


def test_encodings_posthog_sdks_use(stack: Stack, unique: str) -> None:
    ids = [f"enc{i}-{unique}" for i in range(7)]
    text_plain = {"content-type": "text/plain"}
    millis = str(int(time.time() * 1000))
    # posthog-js: a gzip array with the token in properties, no compression hint, text/plain.
    js_events = [event(ids[0], properties={"token": stack.api_key, "$lib": "web"})]
    assert_ok(*stack.post(f"/e/?ver=1.0&_={millis}", gzip.compress(json.dumps(js_events).encode()),
                          text_plain))
    # posthog-js with its hint.
    hinted = {"api_key": stack.api_key, "batch": [event(ids[1])]}
    assert_ok(*stack.post(f"/i/v0/e/?compression=gzip-js&_={millis}",
                          gzip.compress(json.dumps(hinted).encode()), text_plain))
    # Content-Encoding: gzip (posthog-python and friends).
    encoded = {"api_key": stack.api_key, "batch": [event(ids[2])]}
    assert_ok(*stack.post("/batch/", gzip.compress(json.dumps(encoded).encode()),
                          {"content-encoding": "gzip"}))
    # Old SDKs: form field data= with base64, '+' sent unescaped so it arrives as a space.
    form_body = {"api_key": stack.api_key, **event(ids[3], properties={"x": ">>>"})}
    b64 = base64.b64encode(json.dumps(form_body).encode())
    assert b"+" in b64
    assert_ok(*stack.post("/e/", b"data=" + b64,
                          {"content-type": "application/x-www-form-urlencoded"}))
    # GET /e/?data=... (image-pixel style).
    get_body = {"api_key": stack.api_key, **event(ids[4])}
    data = quote_plus(base64.b64encode(json.dumps(get_body).encode()).decode())
    reply = http(f"{stack.gateway_url}/e/?data={data}")
    assert (reply.status, reply.json()) == (200, {"status": 1})
    # compression=base64 on the query string.
    b64_body = {"api_key": stack.api_key, "batch": [event(ids[5])]}
    assert_ok(*stack.post("/batch/?compression=base64",
                          base64.b64encode(json.dumps(b64_body).encode()), text_plain))
    # sendBeacon: ?beacon=1 is answered 204 with no body.
    beacon = {"api_key": stack.api_key, "batch": [event(ids[6])]}
    reply = http(f"{stack.gateway_url}/e/?beacon=1", "POST", json.dumps(beacon).encode(),
                 text_plain)
    assert (reply.status, reply.body) == (204, b"")
    wait_landed(stack, ids)


def test_sent_at_corrects_client_clock_skew(stack: Stack, unique: str) -> None:
    distinct_id = f"skew-{unique}"
    # The client's clock runs a day fast: without correction the event lands in the future.
    ahead = time.time() + 86_400
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ahead)) + "Z"
    body = {"api_key": stack.api_key, "sent_at": stamp, "batch": [event(distinct_id, timestamp=stamp)]}
    assert_ok(*stack.post("/batch/", body))
    wait_landed(stack, [distinct_id])
    (row,) = stack.query(
        "SELECT toUnixTimestamp(timestamp) AS t FROM product_analytics.events "
        f"WHERE distinct_id = {sql_list([distinct_id])} LIMIT 1")
    assert abs(int(row["t"]) - time.time()) < 120


# SDK start-up calls, CORS, health -----------------------------------------------------------

@pytest.mark.parametrize("path", ["/decide/?v=3", "/decide", "/flags/?v=2&config=true", "/flags"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_flags_answer_a_minimal_valid_response(stack: Stack, path: str, method: str) -> None:
    body = json.dumps({"token": stack.api_key, "distinct_id": "x"}).encode() if method == "POST" else None
    reply = http(stack.gateway_url + path, method, body, {"content-type": "application/json"})
    assert reply.status == 200
    answer = reply.json()
    assert answer["featureFlags"] == {}
    assert answer["flags"] == {}
    assert answer["errorsWhileComputingFlags"] is False


def test_remote_config(stack: Stack) -> None:
    reply = http(f"{stack.gateway_url}/array/{stack.api_key}/config")
    assert reply.status == 200
    assert reply.json()["token"] == stack.api_key
    script = http(f"{stack.gateway_url}/array/{stack.api_key}/config.js")
    assert script.status == 200
    assert script.headers["content-type"].startswith("application/javascript")
    assert stack.api_key in script.body.decode()


def test_cors_preflight_and_exposed_retry_after(stack: Stack, unique: str) -> None:
    origin = "https://shop.example"
    preflight = http(f"{stack.gateway_url}/batch/", "OPTIONS", headers={
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-custom",
    })
    assert preflight.status == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "content-type,x-custom"
    # Expose-Headers belongs on the answer itself: that is where a browser reads Retry-After.
    body = {"api_key": stack.api_key, "batch": [event(f"cors-{unique}")]}
    reply = http(f"{stack.gateway_url}/batch/", "POST", json.dumps(body).encode(),
                 {"Origin": origin, "content-type": "text/plain"})
    assert reply.status == 200
    assert reply.headers["access-control-allow-origin"] == origin
    assert reply.headers["access-control-expose-headers"] == "Retry-After"
    refused = http(f"{stack.gateway_url}/batch/", "POST", b"{", {"Origin": origin})
    assert refused.status == 400
    assert refused.headers["access-control-allow-origin"] == origin


def test_plain_options_on_a_capture_path(stack: Stack) -> None:
    assert http(f"{stack.gateway_url}/e/", "OPTIONS").status == 200


def test_health_ready_metrics(stack: Stack, unique: str) -> None:
    health = http(f"{stack.gateway_url}/_health")
    assert (health.status, health.json()) == (200, {"status": "ok"})
    ready = http(f"{stack.gateway_url}/_ready")
    assert (ready.status, ready.json()) == (200, {"status": "ready"})
    stack.send([event(f"metrics-{unique}")])
    metrics = http(f"{stack.gateway_url}/metrics")
    assert metrics.status == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    lines = metrics.body.decode().splitlines()
    assert "# TYPE pa_gateway_events_accepted_total counter" in lines
    (accepted,) = [line for line in lines if line.startswith("pa_gateway_events_accepted_total ")]
    assert float(accepted.split()[1]) >= 1


# Bad input ----------------------------------------------------------------------------------

def gzip_bomb() -> bytes:
    """About 40 MB of JSON-looking zeros in about 40 KB of gzip."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(b'{"a":"' if i == 0 else b"0" * 1024 * 1024) for i in range(41)]
    return b"".join([*parts, compressor.flush()])


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def batch_bytes(key: str, *events: dict[str, Any]) -> bytes:
    return json.dumps({"api_key": key, "batch": list(events)}).encode()


KEY = "local_dev_key"
BAD_INPUT: list[tuple[str, str, bytes, int, str, str]] = [
    # (case, path, body, status, error kind, fragment of the message)
    ("malformed-json", "/batch/", b'{"api_key": "local_dev_key", "batch": [', 400, "invalid",
     "malformed JSON"),
    ("not-json", "/e/", b"hello there", 400, "invalid", "malformed JSON"),
    ("empty-body", "/e/", b"", 400, "invalid", "empty body"),
    ("event-not-a-string", "/batch/", batch_bytes(KEY, {"event": 42, "distinct_id": "x"}), 400,
     "invalid", "Expected `str`, got `int` - at `$.batch[0].event`"),
    ("properties-not-an-object", "/batch/",
     batch_bytes(KEY, {"event": "x", "distinct_id": "x", "properties": [1]}), 400, "invalid",
     "at `$.batch[0].properties`"),
    ("missing-event", "/batch/", batch_bytes(KEY, {"distinct_id": "x"}), 400, "invalid",
     "Object missing required field `event` - at `$.batch[0]`"),
    ("missing-distinct-id", "/batch/",
     batch_bytes(KEY, {"event": "x", "distinct_id": "a"}, {"event": "x"}), 400, "invalid",
     "at `$.batch[1].distinct_id`"),
    ("invalid-uuid", "/batch/", batch_bytes(KEY, {"event": "x", "distinct_id": "a", "uuid": "nope"}),
     400, "invalid", "at `$.batch[0].uuid`"),
    ("empty-batch", "/batch/", batch_bytes(KEY), 400, "invalid", "empty"),
    ("unknown-api-key", "/batch/", batch_bytes("not_a_key", {"event": "x", "distinct_id": "a"}),
     401, "unauthorized", "unknown api_key"),
    ("mismatched-keys", "/e/", json.dumps([{"event": "x", "distinct_id": "a", "token": KEY},
                                            {"event": "x", "distinct_id": "a", "token": "other"}]).encode(),
     401, "unauthorized", "several api keys"),
    ("deep-nesting-json", "/batch/",
     b'{"api_key":"local_dev_key","batch":[' + b"[" * 50_000 + b"]" * 50_000 + b"]}", 400,
     "invalid", "nested deeper"),
    ("deep-nesting-properties", "/batch/",
     batch_bytes(KEY, {"event": "x", "distinct_id": "a", "properties": {"p": nested(200)}}), 400,
     "invalid", "at `$.batch[0].properties`"),
    ("oversized-batch", "/batch/",
     b'{"api_key":"local_dev_key","batch":[{"event":"x","distinct_id":"a","properties":{"p":"'
     + b"x" * (21 * 1024 * 1024) + b'"}}]}', 413, "too_large", "body larger than"),
    ("oversized-single-event-path", "/e/",
     json.dumps({"api_key": KEY, "event": "x", "distinct_id": "a",
                 "properties": {"p": "x" * (3 * 1024 * 1024)}}).encode(), 413, "too_large",
     "body larger than"),
    ("event-over-kafka-record-limit", "/batch/",
     batch_bytes(KEY, {"event": "x", "distinct_id": "a", "properties": {"p": "x" * 1_500_000}}),
     413, "too_large", "one event must stay under"),
    ("gzip-bomb", "/batch/", gzip_bomb(), 413, "too_large", "decompressed body is larger"),
    ("lz64", "/e/?compression=lz64", b"N4IgdghgtgpiBcIDCAbA", 400, "invalid", "lz64"),
]


@pytest.mark.parametrize(("path", "body", "status", "kind", "fragment"),
                         [case[1:] for case in BAD_INPUT], ids=[case[0] for case in BAD_INPUT])
def test_bad_input_gets_a_clear_4xx_and_good_events_keep_flowing(
    stack: Stack, unique: str, path: str, body: bytes, status: int, kind: str, fragment: str,
) -> None:
    reply = http(stack.gateway_url + path, "POST", body, {"content-type": "text/plain"}, timeout=60)
    assert reply.status == status, reply.body[:500]
    assert reply.headers["content-type"] == "application/json"
    answer = reply.json()
    assert set(answer) == {"error", "message"}
    assert answer["error"] == kind
    assert fragment in answer["message"]
    good = f"after-bad-{unique}"
    stack.send([event(good)])
    wait_landed(stack, [good])


# Kafka unavailable --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_dead_kafka_gives_503_with_retry_after(stack: Stack, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**stack.env, "KAFKA_BOOTSTRAP": "127.0.0.1:1"}  # nothing listens on port 1
    with (tmp_path / "gateway.log").open("wb") as log:
        gateway = subprocess.Popen(
            [sys.executable, "-m", "product_analytics.cli", "gateway", "--port", str(port)],
            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if http(f"{url}/_health", timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert gateway.poll() is None, (tmp_path / "gateway.log").read_text()
            assert time.monotonic() < deadline, "the dead-Kafka gateway did not start"
            time.sleep(0.2)

        started = time.monotonic()
        body = {"api_key": stack.api_key, "batch": [event("never-lands")]}
        reply = http(f"{url}/batch/", "POST", json.dumps(body).encode(),
                     {"content-type": "application/json"}, timeout=UNAVAILABLE_WITHIN_S + 15)
        elapsed = time.monotonic() - started
        assert reply.status == 503, reply.body
        assert elapsed < UNAVAILABLE_WITHIN_S
        assert int(reply.headers["retry-after"]) > 0
        assert reply.json()["error"] == "unavailable"

        ready = http(f"{url}/_ready")
        assert ready.status == 503
        assert int(ready.headers["retry-after"]) > 0
    finally:
        gateway.terminate()
        try:
            gateway.wait(timeout=20)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait()
