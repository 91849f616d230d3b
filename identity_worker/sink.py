"""Writing the identity core's changes to ClickHouse (shared by the loader and replay)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from identity_worker.identity import Link
from identity_worker.persons import Changes, IdStateRow, PersonResolver, WrittenPerson
from product_analytics.clickhouse import ClickHouse
from schemas.times import from_micros


class Versioner:
    """Versions for ReplacingMergeTree rows: microseconds of wall time, strictly increasing.

    Every flush writes a key at most once, with a version above every earlier one, so FINAL
    always shows the newest state, also after a restart or a replay into used tables.
    """

    def __init__(self, floor: int = 0) -> None:
        self._last = floor

    def next(self, now_us: int) -> int:
        self._last = max(self._last + 1, now_us)
        return self._last


class RecentUuids:
    """Event uuids written lately, so a redelivered or re-sent event is not written twice."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()

    def add(self, uuids: Iterable[str]) -> None:
        for u in uuids:
            self._seen[u] = None
            self._seen.move_to_end(u)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)

    def __contains__(self, uuid: str) -> bool:
        return uuid in self._seen

    def __len__(self) -> int:
        return len(self._seen)


def write_changes(ch: ClickHouse, db: str, changes: Changes, version: int,
                  recent: RecentUuids) -> int:
    """Insert everything `changes` holds; returns how many event rows were new.

    Order matters for restarts: the resolver's own state goes last, so a crash part-way
    leaves state that is at most as new as the tables, and redelivery rewrites the rest.
    """
    events, seen = [], set()
    for e in changes.events:
        if e.uuid not in recent and e.uuid not in seen:
            seen.add(e.uuid)
            events.append(e)
    ch.insert(
        f"{db}.events",
        ["uuid", "event", "distinct_id", "person_id", "properties", "timestamp"],
        [(e.uuid, e.event, e.distinct_id, e.person_id, e.properties, from_micros(e.timestamp_us))
         for e in events],
    )
    # Remembered at once: a retry of this flush after a later insert failed must not
    # insert the events again.
    recent.add(seen)
    ch.insert(
        f"{db}.ingestion_warnings",
        ["type", "event_uuid", "distinct_id", "details", "timestamp"],
        [(w.type, w.event_uuid, w.distinct_id, w.details, from_micros(w.timestamp_us))
         for w in changes.warnings],
    )
    ch.insert(
        f"{db}.persons",
        ["id", "distinct_id", "properties", "is_identified", "is_deleted", "created_at",
         "version"],
        [(p.id, p.distinct_id, p.properties, p.is_identified, p.is_deleted,
          from_micros(p.created_at_us), version) for p in changes.persons],
    )
    ch.insert(
        f"{db}.person_distinct_ids",
        ["distinct_id", "person_id", "is_deleted", "version"],
        [(m.distinct_id, m.person_id, m.is_deleted, version) for m in changes.mappings],
    )
    ch.insert(
        f"{db}.identity_links",
        ["uuid", "kind", "target", "source", "time_us"],
        [(lk.uuid, lk.kind, lk.target, lk.source, lk.time_us) for lk in changes.links],
    )
    ch.insert(
        f"{db}.person_property_state",
        ["distinct_id", "first_seen_us", "state", "version"],
        [(s.distinct_id, s.first_seen_us, s.state, version) for s in changes.id_states],
    )
    return len(events)


def restore(ch: ClickHouse, db: str) -> tuple[PersonResolver, int]:
    """A resolver rebuilt from the state tables, and the highest version written so far."""
    resolver = PersonResolver()
    links = [
        Link(int(t), str(u), k, tg, src)
        for u, k, tg, src, t in ch.rows(
            f"SELECT uuid, kind, target, source, time_us FROM {db}.identity_links FINAL")
    ]
    links.sort()
    states = [
        IdStateRow(d, int(f), s)
        for d, f, s in ch.rows(
            f"SELECT distinct_id, first_seen_us, state FROM {db}.person_property_state FINAL")
    ]
    persons = [
        WrittenPerson(d, p, int(i), int(c))
        for d, p, i, c in ch.rows(
            f"SELECT distinct_id, properties, is_identified, toUnixTimestamp64Micro(created_at) "
            f"FROM {db}.persons FINAL WHERE is_deleted = 0")
    ]
    mappings = [
        (str(d), str(p)) for d, p in ch.rows(
            f"SELECT distinct_id, toString(person_id) FROM {db}.person_distinct_ids FINAL "
            f"WHERE is_deleted = 0")
    ]
    resolver.restore(links, states, persons, mappings)
    floor = max(
        int(ch.rows(f"SELECT max(version) FROM {db}.{table}")[0][0] or 0)
        for table in ("persons", "person_distinct_ids", "person_property_state")
    )
    return resolver, floor
