"""Identity under real traffic: two workers on eight partitions, real Kafka, real chDB."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.conftest import Stack

pytestmark = pytest.mark.integration

PAIRS = 200


def pairs_batch(tag: str, start: int, count: int) -> list[dict[str, Any]]:
    """The browser's race: an anonymous pageview and the identify naming it, in one request."""
    events: list[dict[str, Any]] = []
    for i in range(start, start + count):
        events.append({"event": "$pageview", "distinct_id": f"anon-{tag}-{i}",
                       "properties": {"$set_once": {"landing": f"/p/{i}"}}})
        events.append({"event": "$identify", "distinct_id": f"user-{tag}-{i}",
                       "properties": {"$anon_distinct_id": f"anon-{tag}-{i}",
                                      "$set": {"email": f"u{i}@example.com"}}})
    return events


def test_same_request_pageview_and_identify_always_end_on_one_person(
        stack: Stack, unique: str) -> None:
    for start in range(0, PAIRS, 50):
        stack.send(pairs_batch(unique, start, 50))
    stack.drain()
    rows = stack.query(f"""
        SELECT m.distinct_id AS d, m.person_id AS person,
               JSONExtractString(p.properties, 'email') AS email,
               JSONExtractString(p.properties, 'landing') AS landing,
               p.distinct_id AS person_distinct_id, p.is_identified AS identified
        FROM (SELECT * FROM product_analytics.person_distinct_ids FINAL WHERE is_deleted = 0) AS m
        JOIN (SELECT * FROM product_analytics.persons FINAL WHERE is_deleted = 0) AS p
          ON p.id = m.person_id
        WHERE m.distinct_id LIKE '%-{unique}-%'""")
    by_id = {r["d"]: r for r in rows}
    assert len(by_id) == 2 * PAIRS
    for i in range(PAIRS):
        anon, user = by_id[f"anon-{unique}-{i}"], by_id[f"user-{unique}-{i}"]
        assert anon["person"] == user["person"]
        assert (user["email"], user["landing"]) == (f"u{i}@example.com", f"/p/{i}")
        assert (user["person_distinct_id"], user["identified"]) == (f"user-{unique}-{i}", 1)
    # The anonymous persons that existed before the merge are deleted, not left behind.
    live = stack.query(f"SELECT count() AS n FROM product_analytics.persons FINAL "
                       f"WHERE is_deleted = 0 AND distinct_id LIKE '%-{unique}-%'")
    assert live[0]["n"] == PAIRS


def test_history_follows_merges_through_the_current_person_view(stack: Stack, unique: str) -> None:
    anon, user = f"anon-{unique}", f"user-{unique}"
    stack.send([{"event": "$pageview", "distinct_id": anon}])
    stack.drain()
    stack.send([{"event": "$identify", "distinct_id": user,
                 "properties": {"$anon_distinct_id": anon}}])
    stack.drain()
    rows = stack.query(f"""
        SELECT event, toString(person_id_at_ingestion) AS then, toString(person_id) AS now
        FROM product_analytics.events_with_current_person
        WHERE distinct_id IN ('{anon}', '{user}') ORDER BY timestamp""")
    assert [r["event"] for r in rows] == ["$pageview", "$identify"]
    pageview, ident = rows
    assert pageview["then"] != pageview["now"]  # written before the merge, on the anon person
    assert pageview["now"] == ident["now"] == ident["then"]


def test_refused_links_are_queryable_warnings(stack: Stack, unique: str) -> None:
    device = f"shared-device-{unique}"
    stack.send([{"event": "$identify", "distinct_id": f"alice-{unique}",
                 "properties": {"$anon_distinct_id": device}}])
    stack.drain()
    stack.send([{"event": "$identify", "distinct_id": f"bob-{unique}",
                 "properties": {"$anon_distinct_id": device}},
                {"event": "$identify", "distinct_id": f"carol-{unique}",
                 "properties": {"$anon_distinct_id": "null"}}])
    stack.drain()
    warnings = stack.query(f"""
        SELECT type, distinct_id, details FROM product_analytics.ingestion_warnings FINAL
        WHERE distinct_id IN ('bob-{unique}', 'carol-{unique}') ORDER BY type""")
    assert [(w["type"], w["distinct_id"]) for w in warnings] == [
        ("cannot_merge_already_identified", f"bob-{unique}"),
        ("cannot_merge_with_illegal_distinct_id", f"carol-{unique}"),
    ]
    owners = stack.query(f"""
        SELECT distinct_id, toString(person_id) AS person
        FROM product_analytics.person_distinct_ids FINAL
        WHERE distinct_id IN ('{device}', 'alice-{unique}', 'bob-{unique}')""")
    person = {r["distinct_id"]: r["person"] for r in owners}
    assert person[device] == person[f"alice-{unique}"] != person[f"bob-{unique}"]


def _send_stream(stack: Stack, tag: str, requests: int, errors: list[str]) -> None:
    for n in range(requests):
        events = [{"event": "stream", "distinct_id": f"s-{tag}-{n}-{k}",
                   "uuid": str(uuid.uuid4()), "properties": {"$set": {"n": n}}}
                  for k in range(20)]
        status, body = stack.post("/batch/", {"api_key": stack.api_key, "batch": events})
        if status != 200:
            errors.append(f"{status} {body}")
        time.sleep(0.01)


def stream_counts(stack: Stack, tag: str) -> dict[str, int]:
    """Rows and distinct uuids of one test's stream events: equal means no duplicates."""
    return stack.query(f"""
        SELECT count() AS rows, uniqExact(uuid) AS uuids FROM product_analytics.events
        WHERE event = 'stream' AND distinct_id LIKE 's-{tag}-%'""")[0]


def test_sigkill_of_a_worker_mid_stream_loses_and_duplicates_nothing(
        stack: Stack, unique: str) -> None:
    errors: list[str] = []
    sender = threading.Thread(target=_send_stream, args=(stack, unique, 150, errors))
    sender.start()
    time.sleep(1.5)
    os.kill(stack.pid("worker-1"), signal.SIGKILL)
    sender.join()
    assert errors == []
    stack.drain(timeout=180)  # worker-2 takes over once the group notices worker-1 is gone
    assert stream_counts(stack, unique) == {"rows": 150 * 20, "uuids": 150 * 20}
    stack.up()  # restarts the killed worker; it fences its own unfinished transaction


def test_sigkill_of_the_loader_mid_stream_loses_and_duplicates_nothing(
        stack: Stack, unique: str) -> None:
    errors: list[str] = []
    sender = threading.Thread(target=_send_stream, args=(stack, unique, 100, errors))
    sender.start()
    time.sleep(1.5)
    os.kill(stack.pid("loader"), signal.SIGKILL)
    time.sleep(1)
    stack.up()
    sender.join()
    assert errors == []
    stack.drain(timeout=180)
    assert stream_counts(stack, unique) == {"rows": 100 * 20, "uuids": 100 * 20}
    persons = stack.query(f"""
        SELECT count() AS n FROM product_analytics.persons FINAL
        WHERE is_deleted = 0 AND distinct_id LIKE 's-{unique}-%'
          AND JSONExtractInt(properties, 'n') = toInt64(splitByChar('-', distinct_id)[3])""")
    assert persons == [{"n": 100 * 20}]


def _rewind(bootstrap: str, group: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p, 0) for p in partitions])
    for future in admin.alter_consumer_group_offsets([request]).values():
        future.result()


def visible_state(stack: Stack) -> Any:
    """Everything the documented queries show, drain markers aside."""
    return stack.query("""
        SELECT
          (SELECT count() FROM product_analytics.events
             WHERE event != 'drain_marker') AS events,
          (SELECT uniqExact(uuid) FROM product_analytics.events
             WHERE event != 'drain_marker') AS uuids,
          (SELECT (count(), groupBitXor(cityHash64(id, distinct_id, properties, is_identified)))
             FROM product_analytics.persons FINAL
             WHERE is_deleted = 0 AND distinct_id NOT LIKE 'drain-%') AS persons,
          (SELECT (count(), groupBitXor(cityHash64(distinct_id, person_id)))
             FROM product_analytics.person_distinct_ids FINAL
             WHERE is_deleted = 0 AND distinct_id NOT LIKE 'drain-%') AS ids""")[0]


def test_reprocessing_every_offset_again_changes_nothing_visible(stack: Stack) -> None:
    stack.send(pairs_batch(uuid.uuid4().hex[:8], 0, 20))
    stack.drain()
    before = visible_state(stack)
    assert before["events"] == before["uuids"] > 0
    stack.down()
    bootstrap = stack.env["KAFKA_BOOTSTRAP"]
    _rewind(bootstrap, "pa-identity-workers", "events")
    _rewind(bootstrap, "pa-loader", "identity_facts")
    stack.up()
    stack.drain(timeout=300)
    assert visible_state(stack) == before
