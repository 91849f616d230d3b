"""Captured event -> normalised fact for the identity core. Pure: no I/O, no clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.ids import as_distinct_id, is_placeholder
from schemas.records import CapturedEvent, EventFact, LinkFact, WarningFact
from schemas.times import to_micros

PERSON_EVENTS = {"$identify": "identify", "$create_alias": "alias",
                 "$merge_dangerously": "merge_dangerously"}


class NormalizeError(ValueError):
    """The record cannot become a fact; it goes to the dead-letter topic with this reason."""


def timestamp_us(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise NormalizeError(f"invalid timestamp {text!r}") from exc
    if moment.tzinfo is None:
        raise NormalizeError(f"timestamp without time zone {text!r}")
    return to_micros(moment)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _unset_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        value = list(value)
    if isinstance(value, list):
        return [k for k in value if isinstance(k, str)]
    return []


def normalize(record: CapturedEvent) -> EventFact:
    distinct_id = as_distinct_id(record.distinct_id)
    if distinct_id is None:
        raise NormalizeError("event without a distinct_id")
    if not record.event:
        raise NormalizeError("event without a name")
    properties = dict(record.properties)
    set_ = {**_object(properties.get("$set")), **(record.set or {})}
    set_once = {**_object(properties.get("$set_once")), **(record.set_once or {})}
    if record.set is not None:
        properties["$set"] = set_
    if record.set_once is not None:
        properties["$set_once"] = set_once
    unset = _unset_keys(properties.get("$unset"))

    warnings: list[WarningFact] = []
    process_person = properties.get("$process_person_profile", True)
    if not isinstance(process_person, bool):
        warnings.append(WarningFact("invalid_process_person_profile",
                                    {"$process_person_profile": str(process_person)}))
        process_person = True

    link = _link(record.event, distinct_id, properties, record.uuid, warnings)
    if link is not None and not process_person:
        warnings.append(WarningFact("invalid_event_when_process_person_profile_is_false",
                                    {"event": record.event, "eventUuid": record.uuid}))
        link = None

    return EventFact(
        uuid=record.uuid,
        event=record.event,
        distinct_id=distinct_id,
        timestamp_us=timestamp_us(record.timestamp),
        properties=properties,
        set=set_ if process_person else {},
        set_once=set_once if process_person else {},
        unset=unset if process_person else [],
        link=link,
        warnings=warnings,
        process_person=process_person,
    )


def _link(
    event: str,
    distinct_id: str,
    properties: dict[str, Any],
    uuid: str,
    warnings: list[WarningFact],
) -> LinkFact | None:
    kind = PERSON_EVENTS.get(event)
    if kind is None:
        return None
    if kind == "identify":
        if "$anon_distinct_id" not in properties:
            return None  # an identify without an anonymous id only updates properties
        raw = properties["$anon_distinct_id"]
    else:
        if "alias" not in properties:
            return None
        raw = properties["alias"]
    # A null claim still names an id ("null"), which the guard below refuses loudly.
    other = as_distinct_id(raw) or ("null" if raw is None else str(raw))
    if other == distinct_id:
        return None
    for illegal, peer in ((other, distinct_id), (distinct_id, other)):
        if is_placeholder(illegal):
            warnings.append(WarningFact("cannot_merge_with_illegal_distinct_id",
                                        {"illegalDistinctId": illegal,
                                         "otherDistinctId": peer, "eventUuid": uuid}))
            return None
    return LinkFact(kind=kind, target=distinct_id, source=other)  # type: ignore[arg-type]
