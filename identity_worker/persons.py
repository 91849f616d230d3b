"""The identity core: normalised events in, rows for ClickHouse out. No I/O, no clock.

`PersonResolver.apply(facts)` folds a batch of events into the state (identity links and
per-distinct-id property registers) and returns the rows that changed: events with their
person id, persons, distinct-id mappings, ingestion warnings, and the state rows that let
a restarted loader resume. Applying the same facts again returns no person or mapping rows,
and the final persons depend only on the set of facts, not on their order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec

from identity_worker.identity import ClusterChange, IdentityGraph, Link
from identity_worker.properties import (
    PropertyState,
    apply_updates,
    canonical,
    decode_state,
    encode_state,
    merge_into,
    resolve,
)
from schemas.ids import person_id_for
from schemas.records import EventFact

_json = msgspec.json.Encoder()
_NEW, _MOVED = "new", "moved"


class EventRow(NamedTuple):
    uuid: str
    event: str
    distinct_id: str
    person_id: str
    properties: str
    timestamp_us: int


class PersonRow(NamedTuple):
    id: str
    distinct_id: str
    properties: str
    is_identified: int
    is_deleted: int
    created_at_us: int


class MappingRow(NamedTuple):
    distinct_id: str
    person_id: str
    is_deleted: int


class WarningRow(NamedTuple):
    type: str
    event_uuid: str
    distinct_id: str
    details: str
    timestamp_us: int


class IdStateRow(NamedTuple):
    """Everything the resolver knows of one distinct id, enough to restore it."""

    distinct_id: str
    first_seen_us: int
    state: str


@dataclass(slots=True)
class Changes:
    events: list[EventRow] = field(default_factory=list)
    persons: list[PersonRow] = field(default_factory=list)
    mappings: list[MappingRow] = field(default_factory=list)
    warnings: list[WarningRow] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    id_states: list[IdStateRow] = field(default_factory=list)


class _Shown(NamedTuple):
    """The content of the live persons row last written for a root."""

    properties_hash: int  # hash() of the properties text; only compared within a process
    is_identified: int
    created_at_us: int


class WrittenPerson(NamedTuple):
    """A live persons row as read back from ClickHouse."""

    distinct_id: str
    properties: str
    is_identified: int
    created_at_us: int


class PersonResolver:
    def __init__(self) -> None:
        self.graph = IdentityGraph()
        self._props: dict[str, PropertyState] = {}
        self._first_seen: dict[str, int] = {}
        # What the tables hold: the live persons row per root, the person id per distinct id.
        self._shown_person: dict[str, _Shown] = {}
        self._shown_person_id: dict[str, str] = {}
        # Rows the tables hold that disagree with the restored state (see _reconcile).
        self._pending_roots: set[str] = set()
        self._pending_ids: set[str] = set()
        # Folded properties of persons with several ids, kept up to date event by event.
        self._merged: dict[str, PropertyState] = {}

    # -- restore -------------------------------------------------------------------------

    def restore(
        self,
        links: Iterable[Link],
        id_states: Iterable[IdStateRow],
        persons: Iterable[WrittenPerson] | None = None,
        mappings: Iterable[tuple[str, str]] | None = None,
    ) -> None:
        """Rebuild from persisted state.

        `persons` and `mappings` are the live rows the tables hold: what later rows are
        compared with. A loader that died part-way through a flush may have written rows its
        state does not reflect yet, so the tables, not the state, say what is written. Without
        them (tests), the rows the state implies count as written.
        """
        for row in id_states:
            self._first_seen[row.distinct_id] = row.first_seen_us
            self._props[row.distinct_id] = decode_state(row.state)
        links = list(links)
        for link in links:
            for i in (link.target, link.source):
                self._first_seen.setdefault(i, link.time_us)
        for link in links:
            self.graph.add(link, self._first_seen)
            for i in (link.target, link.source):
                self._props.setdefault(i, {})
        if persons is not None and mappings is not None:
            self._shown_person = {
                p.distinct_id: _Shown(hash(p.properties), p.is_identified, p.created_at_us)
                for p in persons
            }
            self._shown_person_id = dict(mappings)
            self._reconcile()
            return
        for distinct_id in self._first_seen:
            root = self.graph.root(distinct_id)
            self._shown_person_id[distinct_id] = person_id_for(root)
            if root not in self._shown_person:
                self._shown_person[root] = self._materialize(root)[0]

    def _reconcile(self) -> None:
        """Note every row where the tables and the restored state disagree; the next apply
        rewrites them (after folding its facts, which usually are the redelivered ones)."""
        roots: set[str] = set()
        for distinct_id in self._first_seen:
            root = self.graph.root(distinct_id)
            roots.add(root)
            if self._shown_person_id.get(distinct_id) != person_id_for(root):
                self._pending_ids.add(distinct_id)
        self._pending_roots.update(r for r in roots
                                   if self._materialize(r)[0] != self._shown_person.get(r))
        self._pending_roots.update(r for r in self._shown_person if self.graph.root(r) != r)

    @property
    def distinct_id_count(self) -> int:
        return len(self._first_seen)

    # -- apply ---------------------------------------------------------------------------

    def apply(self, facts: Iterable[EventFact]) -> Changes:
        changes = Changes()
        events = list(facts)
        mapping_ids: set[str] = set()  # ids whose mapping may be new or changed
        dirty_roots: set[str] = set()  # persons a link changed
        state_dirty: set[str] = set()  # ids whose properties or first-seen time changed
        earlier: set[str] = set()  # ids whose first-seen time moved back

        for fact in events:
            d = fact.distinct_id
            self._sight(d, fact.timestamp_us, state_dirty, mapping_ids, earlier)
            if fact.process_person and (fact.set or fact.set_once or fact.unset):
                stamp = (fact.timestamp_us, fact.uuid)
                if apply_updates(self._props[d], stamp, fact.set, fact.set_once, fact.unset):
                    state_dirty.add(d)
                    merged = self._merged.get(self.graph.root(d))
                    if merged is not None:
                        apply_updates(merged, stamp, fact.set, fact.set_once, fact.unset)
            changes.warnings.extend(
                WarningRow(w.type, fact.uuid, d, _details(w.details), fact.timestamp_us)
                for w in fact.warnings
            )
            if fact.link is None:
                continue
            link = Link(fact.timestamp_us, fact.uuid, fact.link.kind, d, fact.link.source)
            self._sight(link.source, fact.timestamp_us, state_dirty, mapping_ids, earlier)
            change = self.graph.add(link, self._first_seen)
            if change is not None:
                changes.links.append(link)
                self._take(change, changes, mapping_ids, dirty_roots)

        # A late event can make an id older than a link that named it: fold its links again.
        refolded: set[int] = set()
        for d in sorted(earlier):
            if self.graph.in_cluster(d) and self.graph.cluster_key(d) not in refolded:
                refolded.add(self.graph.cluster_key(d))
                self._take(self.graph.refold(d, self._first_seen), changes, mapping_ids,
                           dirty_roots)

        dirty_roots |= self._pending_roots
        mapping_ids |= self._pending_ids
        self._pending_roots, self._pending_ids = set(), set()
        for root in sorted({self.graph.root(i) for i in state_dirty} | dirty_roots):
            self._emit_person(root, changes)
        for distinct_id in sorted(mapping_ids):
            person_id = person_id_for(self.graph.root(distinct_id))
            if self._shown_person_id.get(distinct_id) != person_id:
                self._shown_person_id[distinct_id] = person_id
                changes.mappings.append(MappingRow(distinct_id, person_id, 0))
        for fact in events:
            person_id = person_id_for(self.graph.root(fact.distinct_id))
            changes.events.append(
                EventRow(
                    fact.uuid,
                    fact.event,
                    fact.distinct_id,
                    person_id,
                    _json.encode(fact.properties).decode(),
                    fact.timestamp_us,
                )
            )
        changes.id_states.extend(
            IdStateRow(i, self._first_seen[i], encode_state(self._props[i]))
            for i in sorted(state_dirty)
        )
        return changes

    def person_properties(self, distinct_id: str) -> dict[str, Any]:
        """Current properties of the person `distinct_id` belongs to."""
        return resolve(self._merged_state(self.graph.root(distinct_id)))

    # -- internals -----------------------------------------------------------------------

    def _sight(self, distinct_id: str, time_us: int, state_dirty: set[str],
               mapping_ids: set[str], earlier: set[str]) -> None:
        seen = self._see(distinct_id, time_us)
        if seen is not None:
            state_dirty.add(distinct_id)
            (mapping_ids if seen is _NEW else earlier).add(distinct_id)

    def _take(self, change: ClusterChange, changes: Changes, mapping_ids: set[str],
              dirty_roots: set[str]) -> None:
        """Note what a cluster change touched, and warn about links it newly refused."""
        mapping_ids.update(change.moved)
        dirty_roots.update(change.dirty_roots)
        for root in change.dirty_roots:
            self._merged.pop(root, None)
        for refusal in change.new_refusals:
            changes.warnings.append(
                WarningRow(
                    "cannot_merge_already_identified",
                    refusal.link.uuid,
                    refusal.link.target,
                    _details(
                        {
                            "sourcePersonDistinctId": refusal.source_root,
                            "targetPersonDistinctId": refusal.target_root,
                            "eventUuid": refusal.link.uuid,
                        }
                    ),
                    refusal.link.time_us,
                )
            )

    def _see(self, distinct_id: str, time_us: int) -> str | None:
        """Record a sighting: _NEW for an unknown id, _MOVED when it is now older, else None."""
        first = self._first_seen.get(distinct_id)
        if first is not None and first <= time_us:
            return None
        self._first_seen[distinct_id] = time_us
        if first is None:
            self._props[distinct_id] = {}
            return _NEW
        return _MOVED

    def _merged_state(self, root: str) -> PropertyState:
        members = self.graph.members(root)
        if len(members) == 1:
            return self._props.get(root, {})
        merged = self._merged.get(root)
        if merged is None:
            merged = {}
            for member in sorted(members):
                merge_into(merged, self._props.get(member, {}))
            self._merged[root] = merged
        return merged

    def _materialize(self, root: str) -> tuple[_Shown, str]:
        """The persons row content of a root, and its properties text."""
        members = self.graph.members(root)
        created = min(self._first_seen.get(m, 0) for m in members)
        properties = canonical(resolve(self._merged_state(root)))
        shown = _Shown(hash(properties), int(self.graph.is_identified(root)), created)
        return shown, properties

    def _emit_person(self, root: str, changes: Changes) -> None:
        shown = self._shown_person.get(root)
        if self.graph.root(root) != root:
            # Merged into another person: its row is deleted (once).
            self._merged.pop(root, None)
            if shown is not None:
                del self._shown_person[root]
                own = canonical(resolve(self._props.get(root, {})))
                changes.persons.append(PersonRow(person_id_for(root), root, own,
                                                 shown.is_identified, 1, shown.created_at_us))
            return
        current, properties = self._materialize(root)
        if current != shown:
            self._shown_person[root] = current
            changes.persons.append(PersonRow(person_id_for(root), root, properties,
                                             current.is_identified, 0, current.created_at_us))


def _details(details: dict[str, Any]) -> str:
    return canonical(details)
