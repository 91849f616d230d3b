"""Table-driven scenarios and property tests through the pure identity core."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from identity_worker.persons import Changes, PersonResolver
from schemas.ids import person_id_for
from tests.unit._events import alias, event, facts, identify, persons_of, run


class Tables:
    """What ClickHouse shows after FINAL: the last row written per key."""

    def __init__(self) -> None:
        self.persons: dict[str, Any] = {}
        self.mappings: dict[str, str] = {}
        self.warnings: list[Any] = []

    def write(self, changes: Changes) -> None:
        for p in changes.persons:
            self.persons[p.id] = p
        for m in changes.mappings:
            self.mappings[m.distinct_id] = m.person_id
        self.warnings.extend(changes.warnings)

    def live(self) -> tuple[Any, ...]:
        persons = sorted((p.id, p.distinct_id, p.properties, p.is_identified)
                         for p in self.persons.values() if not p.is_deleted)
        return tuple(persons), tuple(sorted(self.mappings.items()))

    def props(self, distinct_id: str) -> dict[str, Any]:
        return json.loads(self.persons[self.mappings[distinct_id]].properties)


def load(batches: list[list[Any]]) -> tuple[PersonResolver, Tables]:
    resolver, tables = PersonResolver(), Tables()
    for batch in batches:
        tables.write(resolver.apply(facts(batch)))
    return resolver, tables


# -- scenarios --------------------------------------------------------------------------------

def test_seed_identify_links_anonymous_id_and_sets_properties() -> None:
    _, tables = load([[identify("user_123", "anonymous_device_abc", 1,
                                **{"$set": {"email": "user@example.com", "plan": "pro"},
                                   "$set_once": {"first_seen_source": "pricing_page"}})]])
    pid = person_id_for("user_123")
    assert tables.mappings == {"user_123": pid, "anonymous_device_abc": pid}
    person = tables.persons[pid]
    assert (person.distinct_id, person.is_identified, person.is_deleted) == ("user_123", 1, 0)
    assert json.loads(person.properties) == {
        "email": "user@example.com", "plan": "pro", "first_seen_source": "pricing_page"}


def test_anonymous_person_merges_into_identified_and_is_deleted() -> None:
    _, tables = load([
        [event("$pageview", "anon", 1, **{"$set": {"landing": "/pricing"}})],
        [identify("user", "anon", 2, **{"$set": {"email": "u@x"}})],
    ])
    anon_person = tables.persons[person_id_for("anon")]
    assert anon_person.is_deleted == 1
    assert tables.mappings["anon"] == tables.mappings["user"] == person_id_for("user")
    assert tables.props("anon") == {"landing": "/pricing", "email": "u@x"}


def test_same_batch_pageview_and_identify_end_on_one_person_in_any_order() -> None:
    pageview = event("$pageview", "anon", 1, **{"$set": {"a": 1}})
    ident = identify("user", "anon", 2, **{"$set": {"b": 2}})
    for batches in ([[pageview, ident]], [[ident, pageview]], [[pageview], [ident]],
                    [[ident], [pageview]]):
        _, tables = load(batches)
        assert tables.mappings["anon"] == tables.mappings["user"]
        assert tables.props("anon") == {"a": 1, "b": 2}


def test_alias_chain_puts_every_id_on_one_person() -> None:
    _, tables = load([[alias("c", "b", 2)], [alias("b", "a", 1)], [event("e", "a", 3)]])
    assert len({tables.mappings[i] for i in "abc"}) == 1
    # b -> a made b's person (identified); c is a new name for it, so it joins.
    assert tables.mappings["a"] == person_id_for("b")


def test_alias_of_a_known_id_into_an_identified_person_is_refused() -> None:
    _, tables = load([[event("$pageview", "c", 0)], [alias("b", "a", 1)], [alias("c", "b", 2)]])
    assert tables.mappings["c"] != tables.mappings["b"]
    assert [w.type for w in tables.warnings] == ["cannot_merge_already_identified"]


def test_merging_merged_persons_with_merge_dangerously() -> None:
    _resolver, tables = load([
        [identify("u1", "a1", 1, **{"$set": {"plan": "free"}})],
        [identify("u2", "a2", 2, **{"$set": {"plan": "pro", "seat": 3}})],
        [event("$merge_dangerously", "u1", 3, alias="u2")],
    ])
    survivor = person_id_for("u1")
    assert {tables.mappings[i] for i in ("u1", "a1", "u2", "a2")} == {survivor}
    assert tables.persons[person_id_for("u2")].is_deleted == 1
    assert tables.props("a2") == {"plan": "pro", "seat": 3}


def test_identified_person_is_not_merged_in_and_a_warning_is_written() -> None:
    _, tables = load([[identify("u1", "device", 1)], [identify("u2", "device", 2)]])
    assert tables.mappings["device"] == person_id_for("u1")
    assert tables.mappings["u2"] == person_id_for("u2")
    assert tables.persons[person_id_for("u2")].is_identified == 1
    (warning,) = tables.warnings
    assert warning.type == "cannot_merge_already_identified"
    assert json.loads(warning.details)["sourcePersonDistinctId"] == "u1"


def test_conflicting_claims_resolve_to_the_earlier_event_whatever_arrives_first() -> None:
    first, second = identify("u1", "device", 1), identify("u2", "device", 2)
    _, in_order = load([[first], [second]])
    _, reversed_ = load([[second], [first]])
    assert in_order.live() == reversed_.live()
    assert reversed_.mappings["device"] == person_id_for("u1")
    assert [w.type for w in reversed_.warnings] == ["cannot_merge_already_identified"]


def test_placeholder_ids_never_link_but_their_events_are_ingested() -> None:
    _, tables = load([[identify("user", "anonymous", 1), alias("user", "null", 2),
                       event("$pageview", "anonymous", 3)]])
    assert tables.mappings["anonymous"] == person_id_for("anonymous")
    assert "null" not in tables.mappings
    assert tables.persons[person_id_for("user")].is_identified == 0
    assert [w.type for w in tables.warnings] == ["cannot_merge_with_illegal_distinct_id"] * 2


def test_identify_without_anonymous_id_only_updates_properties() -> None:
    _, tables = load([[event("$identify", "user", 1, **{"$set": {"x": 1}})]])
    person = tables.persons[person_id_for("user")]
    assert (person.is_identified, json.loads(person.properties)) == (0, {"x": 1})


def test_set_once_across_merged_ids_keeps_the_earliest_whatever_the_order() -> None:
    late_once = event("$set", "user", 5, **{"$set_once": {"src": "late"}})
    early_once = event("$pageview", "anon", 1, **{"$set_once": {"src": "early"}})
    link = identify("user", "anon", 3)
    for batches in ([[late_once], [link], [early_once]], [[early_once, link, late_once]]):
        _, tables = load(batches)
        assert tables.props("user") == {"src": "early"}


def test_top_level_set_and_unset() -> None:
    ev = event("$set", "user", 2, **{"$unset": ["old"]})
    ev.set = {"plan": "team"}
    _, tables = load([[event("$set", "user", 1, **{"$set": {"old": 1}})], [ev]])
    assert tables.props("user") == {"plan": "team"}


def test_personless_events_map_but_never_change_a_person() -> None:
    _, tables = load([[event("$pageview", "anon", 1, **{"$process_person_profile": False,
                                                         "$set": {"x": 1}})]])
    assert tables.props("anon") == {}


def test_redelivery_writes_no_person_or_mapping_rows() -> None:
    batch = [event("$pageview", "anon", 1, **{"$set": {"a": 1}}), identify("user", "anon", 2)]
    resolver, _ = run(batch)
    again = resolver.apply(facts(batch))
    assert (again.persons, again.mappings, again.links, again.warnings, again.id_states) == (
        [], [], [], [], [])


def test_restore_resumes_without_rewriting() -> None:
    batch = [event("$pageview", "anon", 1, **{"$set": {"a": 1}}), identify("user", "anon", 2),
             identify("other", "anon", 3)]
    resolver, changes = run(batch)
    restored = PersonResolver()
    restored.restore(changes.links, changes.id_states)
    again = restored.apply(facts(batch))
    assert (again.persons, again.mappings) == ([], [])
    assert persons_of(restored, ["anon", "user", "other"]) == persons_of(
        resolver, ["anon", "user", "other"])


# -- properties -------------------------------------------------------------------------------

IDS = ["a0", "a1", "a2", "u0", "u1", "u2", "null"]

event_specs = st.tuples(
    st.sampled_from(["$pageview", "$identify", "$create_alias", "$merge_dangerously", "$set"]),
    st.sampled_from(IDS),
    st.sampled_from(IDS),
    st.integers(0, 6),  # time: collisions exercise the uuid tie-break
    st.dictionaries(st.sampled_from("pq"), st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from("qr"), st.integers(0, 3), max_size=2),
    st.lists(st.sampled_from("pqr"), max_size=1),
)


def build(specs: list[tuple[Any, ...]]) -> list[Any]:
    out = []
    for n, (name, d, other, t, set_, once, unset) in enumerate(specs):
        props: dict[str, Any] = {"$set": set_, "$set_once": once, "$unset": unset}
        if name == "$identify":
            props["$anon_distinct_id"] = other
        elif name in ("$create_alias", "$merge_dangerously"):
            props["alias"] = other
        out.append(event(name, d, t, uuid=f"00000000-0000-4000-8000-{n:012d}", **props))
    return out


def split(events: list[Any], cuts: list[int]) -> list[list[Any]]:
    bounds = sorted({c % (len(events) + 1) for c in cuts} | {0, len(events)})
    return [events[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None)
@given(st.lists(event_specs, min_size=1, max_size=14), st.randoms(use_true_random=False),
       st.lists(st.integers(0, 20), max_size=4))
def test_any_interleaving_converges_to_the_same_persons(specs, rnd, cuts) -> None:  # type: ignore[no-untyped-def]
    events = build(specs)
    _, reference = load([events])
    shuffled = events[:]
    rnd.shuffle(shuffled)
    _, other = load(split(shuffled, cuts))
    assert other.live() == reference.live()


@settings(max_examples=200, deadline=None)
@given(st.lists(event_specs, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_redelivering_any_events_changes_nothing_visible(specs, rnd) -> None:  # type: ignore[no-untyped-def]
    events = build(specs)
    resolver, tables = load([events])
    before = tables.live()
    replayed = [e for e in events if rnd.random() < 0.6]
    tables.write(resolver.apply(facts(replayed)))
    assert tables.live() == before


@settings(max_examples=200, deadline=None)
@given(st.lists(event_specs, min_size=1, max_size=12), st.lists(st.integers(0, 20), max_size=3))
def test_written_rows_match_the_resolvers_state(specs, cuts) -> None:  # type: ignore[no-untyped-def]
    events = build(specs)
    resolver, tables = load(split(events, cuts))
    for d, person_id in tables.mappings.items():
        root = resolver.graph.root(d)
        assert person_id == person_id_for(root)
        row = tables.persons[person_id]
        assert row.is_deleted == 0 and row.distinct_id == root
        assert json.loads(row.properties) == resolver.person_properties(d)
