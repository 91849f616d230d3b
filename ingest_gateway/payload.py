"""Capture request bodies -> validated events. Pure: bytes and a clock reading in.

Accepted shapes, as PostHog capture accepts them: a batch object `{"api_key"|"token",
"batch": [...], "sent_at"}`, a single event object, or a bare JSON array of events; the body
may be gzip (detected by its magic bytes whatever the hint says), form-encoded `data=` with
base64, or base64 alone.
"""

from __future__ import annotations

import base64
import binascii
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

_GZIP_MAGIC = b"\x1f\x8b\x08"


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


def _gunzip(body: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, MAX_DECOMPRESSED_BYTES)
    except zlib.error as exc:
        raise errors.invalid(f"body is not valid gzip: {exc}") from None
    if inflater.unconsumed_tail:
        raise errors.too_large(
            f"decompressed body is larger than {MAX_DECOMPRESSED_BYTES} bytes"
        )
    return out


def _b64(text: bytes) -> bytes:
    # Form decoding turned the '+' of base64 into spaces.
    cleaned = text.strip().replace(b" ", b"+")
    try:
        return base64.b64decode(cleaned + b"=" * (-len(cleaned) % 4), validate=False)
    except (binascii.Error, ValueError):
        raise errors.invalid("body is not valid base64") from None


def decode_body(body: bytes, content_type: str, params: dict[str, str]) -> Any:
    """Undo form encoding, base64 and gzip, then parse JSON."""
    compression = params.get("compression", "").lower()
    if content_type.startswith("application/x-www-form-urlencoded") or (
        not body and "data" in params
    ):
        form = parse_qs(body.decode("latin-1")) if body else {}
        data = form.get("data", [params.get("data", "")])[0].encode("latin-1")
        compression = form.get("compression", [compression])[0].lower()
        body = data if data[:1] in (b"{", b"[") else _b64(data)
    elif compression in {"base64", "b64"}:
        body = _b64(body)
    if compression in {"lz64", "lz-string"}:
        raise errors.invalid("lz64 compression is not supported; send gzip or plain JSON")
    if body[:3] == _GZIP_MAGIC:
        body = _gunzip(body)
    elif body[:1] not in (b"{", b"[") and body.strip()[:1] not in (b"{", b"["):
        # Optimistic base64 of a whole body (older SDKs), then maybe gzip inside.
        decoded = _b64(body) if body.strip() else body
        if decoded[:3] == _GZIP_MAGIC:
            decoded = _gunzip(decoded)
        if decoded.strip()[:1] in (b"{", b"["):
            body = decoded
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
        raw, prefix = [_convert(obj, RawEvent)], ""
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
    if millis < 1_609_459_200_000:  # before 2021: seconds, not milliseconds; ignored
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


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
    if _depth_exceeds(event.properties, MAX_NESTING):
        raise errors.invalid(
            f"properties nested deeper than {MAX_NESTING} levels - at `{path}.properties`"
        )
    if event.uuid:
        try:
            event_uuid = str(uuidlib.UUID(event.uuid))
        except ValueError:
            raise errors.invalid(f"invalid uuid {event.uuid!r} - at `{path}.uuid`") from None
    else:
        event_uuid = str(uuidlib.uuid4())
    try:
        moment = timestamps.event_time(
            now, event.timestamp, sent_at, event.offset,
            ignore_sent_at=event.properties.get("$ignore_sent_at") is True,
        )
    except (OverflowError, ValueError):
        moment = now
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
