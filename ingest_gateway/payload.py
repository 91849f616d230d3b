"""Capture request bodies -> validated events. Pure: bytes and a clock reading in.

Accepted shapes, as PostHog capture accepts them: a batch object `{"api_key"|"token",
"batch": [...], "sent_at"}`, a single event object (an `/engage`-style object without
`event` but with `$set`/`$set_once` becomes `$identify`), or a bare JSON array of events; the
body may be gzip (detected by its magic bytes whatever the hint says), form-encoded `data=`
with base64, or base64 alone, and a base64 layer left inside gzip is unwrapped too.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid as uuidlib
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import msgspec

from ingest_gateway import errors, timestamps
from schemas.ids import as_distinct_id
from schemas.records import CapturedEvent

MAX_DECOMPRESSED_BYTES = 32 * 1024 * 1024
"""Bound on a decompressed body: a 20 MB batch limit must not become a gzip bomb."""

MAX_NESTING = 64
"""Deepest object/array nesting accepted in an event; deeper JSON is an attack, not data."""

MAX_EVENTS_PER_REQUEST = 10_000

SENT_AT_PARAM_MIN_MS = 1_609_459_200_000
"""2021-01-01 in ms: a smaller `sent_at`/`_` query value was sent in seconds and is ignored."""

DROPPED_EVENTS = frozenset({"$performance_event"})
"""Accepted but never stored, as PostHog capture filters them."""

_GZIP_MAGIC = b"\x1f\x8b\x08"
_JSON_START = (b"{", b"[")


class RawEvent(msgspec.Struct, kw_only=True):
    event: str
    distinct_id: Any = None
    dollar_distinct_id: Any = msgspec.field(default=None, name="$distinct_id")
    properties: dict[str, Any] = {}
    uuid: str | None = None
    timestamp: Any = None
    offset: Any = None
    set: dict[str, Any] | None = msgspec.field(default=None, name="$set")
    set_once: dict[str, Any] | None = msgspec.field(default=None, name="$set_once")
    api_key: str | None = None
    token: str | None = None
    dollar_token: str | None = msgspec.field(default=None, name="$token")


class BatchBody(msgspec.Struct, kw_only=True):
    batch: list[RawEvent]
    api_key: str | None = None
    token: str | None = None
    sent_at: str | None = None
    historical_migration: bool = False


@dataclass(frozen=True, slots=True)
class Request:
    api_key: str
    events: list[CapturedEvent]


def _looks_like_json(body: bytes) -> bool:
    return body.lstrip()[:1] in _JSON_START


def _gunzip(body: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        # One byte over the bound tells "exactly at the bound" from "beyond it".
        out = inflater.decompress(body, MAX_DECOMPRESSED_BYTES + 1)
    except zlib.error as exc:
        raise errors.invalid(f"body is not valid gzip: {exc}") from None
    if len(out) > MAX_DECOMPRESSED_BYTES or inflater.unconsumed_tail:
        raise errors.too_large(
            f"decompressed body is larger than {MAX_DECOMPRESSED_BYTES} bytes"
        )
    if not inflater.eof:
        raise errors.invalid("gzip body is truncated: send the whole compressed stream")
    return out


def _b64(text: bytes) -> bytes:
    # Form decoding turned the '+' of base64 into spaces.
    cleaned = text.strip().replace(b" ", b"+")
    try:
        return base64.b64decode(cleaned + b"=" * (-len(cleaned) % 4), validate=False)
    except (binascii.Error, ValueError):
        raise errors.invalid("body is not valid base64") from None


def _is_form(body: bytes, content_type: str, params: dict[str, str]) -> bool:
    if not body:
        return "data" in params  # GET /e/?data=...
    # `curl -d` labels raw JSON as a form; a real form body starts with a field name.
    return (
        content_type.startswith("application/x-www-form-urlencoded")
        and not _looks_like_json(body)
        and body[:3] != _GZIP_MAGIC
    )


def _form_data(body: bytes, params: dict[str, str], compression: str) -> tuple[bytes, str]:
    """The `data` field's bytes and the compression hint of a form body or a query string."""
    if not body:
        return params.get("data", "").encode(), compression
    # latin-1 both ways keeps every byte, percent-escaped or not, exactly as sent.
    form = parse_qs(body.decode("latin-1"), encoding="latin-1")
    data = form["data"][0].encode("latin-1") if "data" in form else params.get("data", "").encode()
    return data, form.get("compression", [compression])[0].lower()


def _optimistic_b64(body: bytes) -> bytes:
    """A whole body in base64 (older SDKs; a layer left inside gzip), else the body as is."""
    try:
        decoded = _b64(body)
    except errors.GatewayError:
        return body
    if decoded[:3] == _GZIP_MAGIC:
        decoded = _gunzip(decoded)
    return decoded if _looks_like_json(decoded) else body


def decode_body(body: bytes, content_type: str, params: dict[str, str]) -> Any:
    """Undo form encoding, base64 and gzip, then parse JSON."""
    compression = params.get("compression", "").lower()
    if _is_form(body, content_type, params):
        body, compression = _form_data(body, params, compression)
        if not _looks_like_json(body):
            body = _b64(body)
    elif compression in {"base64", "b64"}:
        body = _b64(body)
    if compression in {"lz64", "lz-string"}:
        raise errors.invalid("lz64 compression is not supported; send gzip or plain JSON")
    if body[:3] == _GZIP_MAGIC:
        body = _gunzip(body)
    if body.strip() and not _looks_like_json(body):
        body = _optimistic_b64(body)
    if not body.strip():
        raise errors.invalid("empty body: send a JSON batch or event")
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise errors.invalid(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise errors.invalid(f"JSON nested deeper than {MAX_NESTING} levels") from None


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _convert(obj: Any, kind: type[Any]) -> Any:
    try:
        return msgspec.convert(obj, kind)
    except msgspec.ValidationError as exc:
        raise errors.invalid(f"invalid event: {exc}") from None


def _engage_as_identify(obj: dict[str, Any]) -> dict[str, Any]:
    # Legacy `/engage` bodies carry person properties and no event name.
    if "event" not in obj and ("$set" in obj or "$set_once" in obj):
        return {**obj, "event": "$identify"}
    return obj


def parse_request(
    obj: Any, params: dict[str, str], now: datetime, api_keys: frozenset[str]
) -> Request:
    """Validate a decoded body; every event must be valid or the whole request is refused."""
    sent_at_text: str | None = None
    batch_key: str | None = None
    if isinstance(obj, list):
        raw = _convert(obj, list[RawEvent])
        prefix = "$"
    elif isinstance(obj, dict) and "batch" in obj:
        body = _convert(obj, BatchBody)
        raw, prefix = body.batch, "$.batch"
        batch_key = body.api_key or body.token
        sent_at_text = body.sent_at
    elif isinstance(obj, dict):
        raw, prefix = [_convert(_engage_as_identify(obj), RawEvent)], ""
    else:
        raise errors.invalid("body must be a JSON object or array of events")
    if not raw:
        raise errors.invalid(f"no events at `{prefix or '$'}`: the batch is empty")
    if len(raw) > MAX_EVENTS_PER_REQUEST:
        raise errors.too_large(f"more than {MAX_EVENTS_PER_REQUEST} events in one request")

    sent_at = timestamps.parse(sent_at_text) or _sent_at_param(params)
    api_key = _api_key(batch_key, raw)
    if api_key not in api_keys:
        raise errors.unauthorized("unknown api_key: use a project API key this gateway knows")

    events = []
    for index, event in enumerate(raw):
        if event.event in DROPPED_EVENTS:
            continue
        path = f"{prefix}[{index}]" if prefix != "" else "$"
        events.append(_captured(event, path, api_key, sent_at, now))
    return Request(api_key=api_key, events=events)


def _sent_at_param(params: dict[str, str]) -> datetime | None:
    raw = params.get("sent_at") or params.get("_")
    if not raw:
        return None
    try:
        millis = int(raw)
    except ValueError:
        return timestamps.parse(raw)
    if millis < SENT_AT_PARAM_MIN_MS:
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):  # beyond year 9999
        return None


def _api_key(batch_key: str | None, events: list[RawEvent]) -> str:
    keys = {batch_key} if batch_key else set()
    for event in events:
        key = event.api_key or event.token or event.dollar_token
        if key is None and isinstance(event.properties.get("token"), str):
            key = event.properties["token"]
        if key and not batch_key:
            keys.add(key)
    keys = {k.strip() for k in keys}
    if not keys:
        raise errors.unauthorized("missing api_key: send it as api_key or token")
    if len(keys) > 1:
        raise errors.unauthorized("one request carries several api keys; send one per request")
    return keys.pop()


def _uuid7(now: datetime) -> str:
    """A time-ordered UUIDv7 (RFC 9562), as PostHog gives events sent without one."""
    millis = int(now.timestamp() * 1000) & ((1 << 48) - 1)
    rand_a = int.from_bytes(os.urandom(2), "big") & 0xFFF
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    # 48 bits of ms | version 7 | 12 random bits | variant 0b10 | 62 random bits
    value = millis << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return str(uuidlib.UUID(int=value))


def _captured(
    event: RawEvent, path: str, api_key: str, sent_at: datetime | None, now: datetime
) -> CapturedEvent:
    if not event.event.strip():
        raise errors.invalid(f"event name is empty - at `{path}.event`")
    raw_id = event.distinct_id
    if raw_id is None:
        raw_id = event.dollar_distinct_id
    if raw_id is None:
        raw_id = event.properties.get("distinct_id")
    distinct_id = as_distinct_id(raw_id)
    if distinct_id is None:
        raise errors.invalid(f"event submitted without a distinct_id - at `{path}.distinct_id`")
    for field, value in (("properties", event.properties), ("$set", event.set),
                         ("$set_once", event.set_once)):
        if _depth_exceeds(value, MAX_NESTING):
            raise errors.invalid(
                f"{field} nested deeper than {MAX_NESTING} levels - at `{path}.{field}`"
            )
    if event.uuid:
        try:
            event_uuid = str(uuidlib.UUID(event.uuid))
        except ValueError:
            raise errors.invalid(f"invalid uuid {event.uuid!r} - at `{path}.uuid`") from None
    else:
        event_uuid = _uuid7(now)
    moment = timestamps.event_time(
        now, event.timestamp, sent_at, event.offset,
        ignore_sent_at=event.properties.get("$ignore_sent_at") is True,
    )
    return CapturedEvent(
        uuid=event_uuid,
        event=event.event,
        distinct_id=distinct_id,
        timestamp=timestamps.iso(moment),
        api_key=api_key,
        properties=event.properties,
        set=event.set,
        set_once=event.set_once,
        sent_at=timestamps.iso(sent_at) if sent_at else None,
        now=timestamps.iso(now),
    )
