"""Capture bodies -> validated events: shapes, keys, ids, encodings, limits, event time."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from ingest_gateway.errors import GatewayError
from ingest_gateway.payload import (
    MAX_DECOMPRESSED_BYTES,
    MAX_EVENTS_PER_REQUEST,
    MAX_NESTING,
    Request,
    decode_body,
    parse_request,
)
from ingest_gateway.timestamps import iso

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
KEY = "key_a"
KEYS = frozenset({KEY, "key_b"})
FORM = "application/x-www-form-urlencoded"


def event(**fields: Any) -> dict[str, Any]:
    return {"event": "$pageview", "distinct_id": "user_1", **fields}


def batch(*events: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"api_key": KEY, "batch": list(events), **fields}


def parse(obj: Any, **params: str) -> Request:
    return parse_request(obj, params, NOW, KEYS)


def capture(body: bytes, content_type: str = "application/json", **params: str) -> Request:
    """decode_body then parse_request, as the app chains them."""
    return parse(decode_body(body, content_type, params), **params)


def refused(call: Any, *args: Any, **kwargs: Any) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        call(*args, **kwargs)
    return info.value


def to_json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


# Shapes -----------------------------------------------------------------------------------

def test_batch_shape() -> None:
    req = parse(batch(
        event(uuid="0190a4a0-0000-7000-8000-000000000001", properties={"$current_url": "/"},
              timestamp="2024-05-01T11:00:00Z"),
        event(event="signed_up", distinct_id="user_2", **{"$set": {"plan": "pro"}},
              **{"$set_once": {"first": "x"}}),
    ))
    assert req.api_key == KEY
    first, second = req.events
    assert first.uuid == "0190a4a0-0000-7000-8000-000000000001"
    assert (first.event, first.distinct_id, first.api_key) == ("$pageview", "user_1", KEY)
    assert first.properties == {"$current_url": "/"}
    assert first.timestamp == "2024-05-01T11:00:00.000000Z"
    assert first.now == iso(NOW)
    assert first.sent_at is None
    assert (second.event, second.distinct_id) == ("signed_up", "user_2")
    assert second.set == {"plan": "pro"}
    assert second.set_once == {"first": "x"}
    assert second.timestamp == iso(NOW)


def test_single_event() -> None:
    req = parse(event(api_key=KEY, properties={"a": 1}))
    assert [(e.event, e.distinct_id, e.properties) for e in req.events] == [("$pageview", "user_1", {"a": 1})]


def test_bare_array() -> None:
    req = parse([event(token=KEY), event(distinct_id="user_2", token=KEY)])
    assert [e.distinct_id for e in req.events] == ["user_1", "user_2"]


def test_engage_object_without_event_becomes_identify() -> None:
    req = parse({"$token": KEY, "$distinct_id": "user_1", "$set": {"plan": "pro"}})
    (only,) = req.events
    assert (only.event, only.distinct_id, only.set) == ("$identify", "user_1", {"plan": "pro"})


def test_performance_events_are_dropped() -> None:
    req = parse(batch(event(event="$performance_event"), event(event="kept")))
    assert [e.event for e in req.events] == ["kept"]


@pytest.mark.parametrize("body", [batch(), [], {"token": KEY, "batch": []}])
def test_empty_batch_is_refused(body: Any) -> None:
    err = refused(parse, body)
    assert err.status == 400
    assert "empty" in err.message


def test_too_many_events_is_too_large() -> None:
    err = refused(parse, batch(*[event()] * (MAX_EVENTS_PER_REQUEST + 1)))
    assert err.status == 413


@pytest.mark.parametrize("body", [42, "text", None, True])
def test_body_must_be_object_or_array(body: Any) -> None:
    assert refused(parse, body).status == 400


# API keys ---------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"api_key": KEY, "batch": [event()]},
    {"token": KEY, "batch": [event()]},
    {"batch": [event(api_key=KEY)]},
    {"batch": [event(token=KEY)]},
    {"batch": [event(**{"$token": KEY})]},
    {"batch": [event(properties={"token": KEY})]},
    event(api_key=KEY),
    event(token=KEY),
    event(properties={"token": KEY}),
    [event(properties={"token": KEY}), event(token=KEY)],
    {"api_key": f"  {KEY} ", "batch": [event()]},  # trimmed
])
def test_key_sources(body: Any) -> None:
    assert parse(body).api_key == KEY


def test_event_key_beats_properties_token() -> None:
    assert parse(event(token=KEY, properties={"token": "key_b"})).api_key == KEY


def test_batch_key_wins_over_per_event_keys() -> None:
    assert parse(batch(event(token="key_b"))).api_key == KEY


@pytest.mark.parametrize("body", [
    [event(token=KEY), event(token="key_b")],
    {"batch": [event(token=KEY), event(api_key="key_b")]},
    [event(token=KEY), event(properties={"token": "key_b"})],
])
def test_mismatched_keys_are_unauthorized(body: Any) -> None:
    err = refused(parse, body)
    assert err.status == 401
    assert "several api keys" in err.message


@pytest.mark.parametrize("body", [
    {"api_key": "nope", "batch": [event()]},
    event(token="phx_personal"),
    {"api_key": "   ", "batch": [event(token=KEY)]},
])
def test_unknown_key_is_unauthorized(body: Any) -> None:
    err = refused(parse, body)
    assert err.status == 401
    assert "unknown api_key" in err.message


@pytest.mark.parametrize("body", [{"batch": [event()]}, event(), [event()], event(token="")])
def test_missing_key_is_unauthorized(body: Any) -> None:
    err = refused(parse, body)
    assert err.status == 401
    assert "missing api_key" in err.message


# Distinct ids -----------------------------------------------------------------------------

def test_missing_distinct_id_names_the_path() -> None:
    events = [event(), event(), event(), {"event": "x", "properties": {}}]
    err = refused(parse, batch(*events))
    assert err.status == 400
    assert "at `$.batch[3].distinct_id`" in err.message


@pytest.mark.parametrize(("body", "path"), [
    ({"event": "x", "token": KEY}, "$.distinct_id"),
    ([event(token=KEY), {"event": "x", "token": KEY}], "$[1].distinct_id"),
    (batch(event(distinct_id="")), "$.batch[0].distinct_id"),
    (batch(event(distinct_id="   ")), "$.batch[0].distinct_id"),
    (batch(event(distinct_id=None)), "$.batch[0].distinct_id"),
])
def test_missing_or_blank_distinct_id(body: Any, path: str) -> None:
    err = refused(parse, body)
    assert err.status == 400
    assert f"at `{path}`" in err.message


@pytest.mark.parametrize(("fields", "expected"), [
    ({"distinct_id": 23}, "23"),
    ({"distinct_id": 23.0}, "23"),
    ({"distinct_id": None, "$distinct_id": "alias_id"}, "alias_id"),
    ({"distinct_id": None, "properties": {"distinct_id": "from_props"}}, "from_props"),
    ({"distinct_id": None, "properties": {"distinct_id": 7}}, "7"),
    ({"distinct_id": "top", "properties": {"distinct_id": "from_props"}}, "top"),
    ({"distinct_id": "top", "$distinct_id": "alias_id"}, "top"),
])
def test_distinct_id_sources(fields: dict[str, Any], expected: str) -> None:
    (only,) = parse(batch(event(**fields))).events
    assert only.distinct_id == expected


# Event fields -----------------------------------------------------------------------------

def test_missing_event_gives_msgspecs_path() -> None:
    err = refused(parse, batch(event(), {"distinct_id": "u"}))
    assert err.status == 400
    assert "Object missing required field `event` - at `$.batch[1]`" in err.message


def test_empty_event_name_is_refused() -> None:
    err = refused(parse, batch(event(event="")))
    assert err.status == 400
    assert "at `$.batch[0].event`" in err.message


@pytest.mark.parametrize(("body", "fragment"), [
    (batch(event(event=42)), "Expected `str`, got `int` - at `$.batch[0].event`"),
    (batch(event(properties="x")), "Expected `object`, got `str` - at `$.batch[0].properties`"),
    (batch(event(uuid=5)), "at `$.batch[0].uuid`"),
    ({"api_key": KEY, "batch": {"event": "x"}}, "Expected `array`, got `object` - at `$.batch`"),
    ({"api_key": 5, "batch": [event()]}, "at `$.api_key`"),
    ([event(token=KEY), "x"], "at `$[1]`"),
])
def test_wrong_types_give_msgspecs_path(body: Any, fragment: str) -> None:
    err = refused(parse, body)
    assert err.status == 400
    assert fragment in err.message


@pytest.mark.parametrize("value", ["not-a-uuid", "1234", "0190a4a0-0000-7000-8000-00000000000g"])
def test_invalid_uuid_is_refused(value: str) -> None:
    err = refused(parse, batch(event(), event(uuid=value)))
    assert err.status == 400
    assert "at `$.batch[1].uuid`" in err.message


def test_uuid_is_normalised() -> None:
    (only,) = parse(batch(event(uuid="{0190A4A0-0000-7000-8000-000000000001}"))).events
    assert only.uuid == "0190a4a0-0000-7000-8000-000000000001"


@pytest.mark.parametrize("fields", [{}, {"uuid": ""}, {"uuid": None}])
def test_uuid_is_generated_when_absent(fields: dict[str, Any]) -> None:
    first, second = parse(batch(event(**fields), event(**fields))).events
    assert first.uuid != second.uuid
    generated = uuid.UUID(first.uuid)
    assert generated.version == 7
    assert generated.variant == uuid.RFC_4122
    assert generated.int >> 80 == int(NOW.timestamp() * 1000)


# Encodings --------------------------------------------------------------------------------

BODY = batch(event(properties={"x": ">>>", "text": "€ é"}))


def assert_decoded(req: Request) -> None:
    (only,) = req.events
    assert only.properties == {"x": ">>>", "text": "€ é"}


def test_plain_json() -> None:
    assert_decoded(capture(to_json(BODY)))


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", ""])
def test_gzip_detected_by_magic_bytes_without_a_hint(content_type: str) -> None:
    assert_decoded(capture(gzip.compress(to_json(BODY)), content_type))


@pytest.mark.parametrize("hint", ["gzip", "gzip-js", "GZIP"])
def test_gzip_with_a_hint(hint: str) -> None:
    # The app turns `Content-Encoding: gzip` into compression=gzip.
    assert_decoded(capture(gzip.compress(to_json(BODY)), "text/plain", compression=hint))


def test_form_data_base64_with_plus_turned_into_spaces() -> None:
    encoded = base64.b64encode(to_json(BODY))
    assert b"+" in encoded
    # Sent unescaped, as old SDKs did, so form decoding turns every '+' into a space.
    assert_decoded(capture(b"data=" + encoded, FORM))


def test_form_data_base64_escaped() -> None:
    encoded = base64.b64encode(to_json(BODY)).decode()
    assert_decoded(capture(f"data={quote_plus(encoded)}&compression=base64".encode(), FORM))


def test_form_data_plain_json_keeps_utf8() -> None:
    body = f"data={quote(to_json(BODY).decode())}".encode()
    assert_decoded(capture(body, FORM + "; charset=UTF-8"))


def test_form_data_base64_of_gzip() -> None:
    encoded = base64.b64encode(gzip.compress(to_json(BODY))).decode()
    assert_decoded(capture(f"data={quote_plus(encoded)}".encode(), FORM))


def test_get_with_data_in_the_query_string() -> None:
    encoded = base64.b64encode(to_json(BODY)).decode()
    assert_decoded(capture(b"", "", data=encoded))


def test_json_labelled_as_a_form_is_json() -> None:
    # `curl -d '{...}'` without a content-type header sends exactly this.
    assert_decoded(capture(to_json(BODY), FORM))


@pytest.mark.parametrize("hint", ["base64", "b64", "BASE64"])
def test_compression_base64_param(hint: str) -> None:
    assert_decoded(capture(base64.b64encode(to_json(BODY)), "text/plain", compression=hint))


def test_whole_body_base64_without_a_hint() -> None:
    assert_decoded(capture(base64.b64encode(to_json(BODY)), "text/plain"))


def test_base64_layer_inside_gzip() -> None:
    assert_decoded(capture(gzip.compress(base64.b64encode(to_json(BODY))), "text/plain"))


def test_lz64_is_refused_with_advice() -> None:
    err = refused(decode_body, b"N4Ig", "text/plain", {"compression": "lz64"})
    assert err.status == 400
    assert "gzip" in err.message


def gzip_of_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"0" * (1024 * 1024)
    parts = [compressor.compress(chunk) for _ in range(size // len(chunk))]
    return b"".join([*parts, compressor.flush()])


def test_gzip_bomb_is_too_large() -> None:
    bomb = gzip_of_zeros(MAX_DECOMPRESSED_BYTES + 1024 * 1024)
    assert len(bomb) < 100_000
    err = refused(decode_body, bomb, "text/plain", {})
    assert err.status == 413


def test_gzip_bomb_inside_base64_is_too_large() -> None:
    bomb = base64.b64encode(gzip_of_zeros(MAX_DECOMPRESSED_BYTES + 1024 * 1024))
    assert refused(decode_body, bomb, "text/plain", {}).status == 413


@pytest.mark.parametrize(("body", "fragment"), [
    (gzip.compress(to_json(BODY))[:-12], "gzip body is truncated"),
    (b"\x1f\x8b\x08garbage", "not valid gzip"),
])
def test_broken_gzip_is_invalid(body: bytes, fragment: str) -> None:
    err = refused(decode_body, body, "text/plain", {})
    assert err.status == 400
    assert fragment in err.message


@pytest.mark.parametrize("body", [
    b'{"api_key": "key_a", "batch": [', b"{'a': 1}", b"hello world", b"hello", b"a", b"[1,]",
])
def test_malformed_json_is_invalid(body: bytes) -> None:
    err = refused(decode_body, body, "application/json", {})
    assert err.status == 400
    assert "malformed JSON" in err.message


@pytest.mark.parametrize("body", [b"", b"   \n", b"data=", b"compression=gzip"])
def test_empty_body_is_invalid(body: bytes) -> None:
    err = refused(decode_body, body, FORM if b"=" in body else "application/json", {})
    assert err.status == 400
    assert "empty body" in err.message


# Nesting ----------------------------------------------------------------------------------

def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


def test_nesting_beyond_the_json_parsers_reach_is_invalid() -> None:
    body = b'{"api_key":"key_a","batch":[' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    err = refused(decode_body, body, "application/json", {})
    assert err.status == 400
    assert "nested deeper" in err.message


@pytest.mark.parametrize(("fields", "path"), [
    ({"properties": nested(MAX_NESTING + 1)}, "$.batch[0].properties"),
    ({"$set": nested(MAX_NESTING + 1)}, "$.batch[0].$set"),
    ({"$set_once": {"a": [nested(MAX_NESTING)]}}, "$.batch[0].$set_once"),
])
def test_deep_nesting_in_an_event_is_invalid(fields: dict[str, Any], path: str) -> None:
    body = to_json(batch(event(**fields)))
    err = refused(capture, body)
    assert err.status == 400
    assert f"at `{path}`" in err.message


def test_nesting_up_to_the_limit_is_accepted() -> None:
    (only,) = parse(batch(event(properties=nested(MAX_NESTING - 1)))).events
    assert only.properties == nested(MAX_NESTING - 1)


# Event time -------------------------------------------------------------------------------

def test_sent_at_in_the_body_corrects_skew() -> None:
    # The client's clock runs 1 h fast.
    sent_at = iso(NOW + timedelta(hours=1))
    (only,) = parse(batch(event(timestamp="2024-05-01T11:30:00Z"), sent_at=sent_at)).events
    assert only.timestamp == "2024-05-01T10:30:00.000000Z"
    assert only.sent_at == sent_at


def test_offset_wins_over_timestamp() -> None:
    body = batch(event(timestamp="2024-05-01T11:30:00Z", offset=2000), sent_at=iso(NOW))
    (only,) = parse(body).events
    assert only.timestamp == iso(NOW - timedelta(seconds=2))


def test_ignore_sent_at_property() -> None:
    body = batch(event(timestamp="2024-05-01T11:30:00Z", properties={"$ignore_sent_at": True}),
                 sent_at=iso(NOW + timedelta(hours=1)))
    (only,) = parse(body).events
    assert only.timestamp == "2024-05-01T11:30:00.000000Z"


def test_future_beyond_23_hours_is_clamped_to_now() -> None:
    body = batch(event(timestamp=iso(NOW + timedelta(hours=24))),
                 event(timestamp=iso(NOW + timedelta(hours=22))))
    clamped, kept = parse(body).events
    assert clamped.timestamp == iso(NOW)
    assert kept.timestamp == iso(NOW + timedelta(hours=22))


@pytest.mark.parametrize("name", ["sent_at", "_"])
def test_sent_at_query_param_in_milliseconds(name: str) -> None:
    millis = str(int((NOW + timedelta(hours=1)).timestamp() * 1000))
    (only,) = parse(batch(event(timestamp="2024-05-01T11:30:00Z")), **{name: millis}).events
    assert only.timestamp == "2024-05-01T10:30:00.000000Z"
    assert only.sent_at == iso(NOW + timedelta(hours=1))


@pytest.mark.parametrize("value", [
    str(int((NOW + timedelta(hours=1)).timestamp())),  # seconds: before 2021 as ms, ignored
    "99999999999999999999",  # beyond year 9999
    "soon",
])
def test_sent_at_query_param_ignored(value: str) -> None:
    (only,) = parse(batch(event(timestamp="2024-05-01T11:30:00Z")), sent_at=value).events
    assert only.timestamp == "2024-05-01T11:30:00.000000Z"
    assert only.sent_at is None


def test_body_sent_at_wins_over_query_param() -> None:
    millis = str(int((NOW + timedelta(hours=5)).timestamp() * 1000))
    body = batch(event(timestamp="2024-05-01T11:30:00Z"), sent_at=iso(NOW + timedelta(hours=1)))
    (only,) = parse(body, _=millis).events
    assert only.timestamp == "2024-05-01T10:30:00.000000Z"


@pytest.mark.parametrize("timestamp", ["garbage", 1714557600, None])
def test_unusable_timestamp_is_now(timestamp: Any) -> None:
    (only,) = parse(batch(event(timestamp=timestamp))).events
    assert only.timestamp == iso(NOW)
