"""Kafka records exchanged between the gateway, the identity workers and the loader.

Records evolve by appending fields with defaults; a field's type never changes.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class CapturedEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One accepted event, as the gateway writes it to the events topic (key: distinct_id).

    `timestamp` is already corrected for client clock skew; `properties` is the client's
    object untouched, so the identity workers can re-derive everything on replay.
    """

    uuid: str
    event: str
    distinct_id: str
    timestamp: str
    api_key: str
    properties: dict[str, Any] = {}
    set: dict[str, Any] | None = msgspec.field(default=None, name="$set")
    set_once: dict[str, Any] | None = msgspec.field(default=None, name="$set_once")
    sent_at: str | None = None
    now: str | None = None


LinkKind = Literal["identify", "alias", "merge_dangerously"]


class LinkFact(msgspec.Struct, frozen=True):
    """An identity claim: `source` should belong to the same person as `target`."""

    kind: LinkKind
    target: str
    source: str


class WarningFact(msgspec.Struct, frozen=True):
    type: str
    details: dict[str, Any]


class EventFact(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A normalised event, as identity workers hand it to the loader (topic identity_facts).

    Everything the identity core needs is here; the loader never re-reads raw payloads.
    """

    uuid: str
    event: str
    distinct_id: str
    timestamp_us: int
    properties: dict[str, Any] = {}
    set: dict[str, Any] = {}
    set_once: dict[str, Any] = {}
    unset: list[str] = []
    link: LinkFact | None = None
    warnings: list[WarningFact] = []
    # False for PostHog "personless" events: they map to a person but never change one.
    process_person: bool = True


class DeadLetter(msgspec.Struct, kw_only=True):
    """A record the worker could not process, with the reason (topic events_dlq)."""

    reason: str
    topic: str
    partition: int
    offset: int
    value: str
