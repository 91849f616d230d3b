"""Build captured events and run them through the pure core, as the pipeline does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from identity_worker.normalize import normalize
from identity_worker.persons import Changes, PersonResolver
from schemas.ids import person_id_for
from schemas.records import CapturedEvent, EventFact

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(name: str, distinct_id: str, t: int, uuid: str | None = None,
          **properties: Any) -> CapturedEvent:
    """An event `t` seconds after T0; uuid defaults to one derived from t and the id."""
    return CapturedEvent(
        uuid=uuid or f"00000000-0000-4000-8000-{t:06d}{abs(hash(distinct_id)) % 10**6:06d}",
        event=name,
        distinct_id=distinct_id,
        timestamp=(T0 + timedelta(seconds=t)).isoformat(),
        api_key="k",
        properties=properties,
    )


def identify(distinct_id: str, anon: str, t: int, **properties: Any) -> CapturedEvent:
    return event("$identify", distinct_id, t, **{"$anon_distinct_id": anon, **properties})


def alias(distinct_id: str, alias_id: str, t: int, **properties: Any) -> CapturedEvent:
    return event("$create_alias", distinct_id, t, alias=alias_id, **properties)


def facts(events: list[CapturedEvent]) -> list[EventFact]:
    return [normalize(e) for e in events]


def run(events: list[CapturedEvent], resolver: PersonResolver | None = None
        ) -> tuple[PersonResolver, Changes]:
    resolver = resolver or PersonResolver()
    return resolver, resolver.apply(facts(events))


def persons_of(resolver: PersonResolver, ids: list[str]) -> dict[str, str]:
    """distinct id -> person id."""
    return {i: person_id_for(resolver.graph.root(i)) for i in ids}


def live_state(resolver: PersonResolver, ids: list[str]) -> tuple[Any, ...]:
    """What a user sees: each id's person, and each person's row content."""
    roots = sorted({resolver.graph.root(i) for i in ids})
    return (
        tuple(sorted((i, resolver.graph.root(i)) for i in ids)),
        tuple((r, resolver.graph.is_identified(r), tuple(sorted(
            resolver.person_properties(r).items()))) for r in roots),
    )
