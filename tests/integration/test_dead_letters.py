"""A record the workers cannot process goes to the dead-letter topic; the rest flows on."""

from __future__ import annotations

import time

import msgspec
import pytest
from confluent_kafka import Consumer, Producer

from tests.conftest import Stack

pytestmark = pytest.mark.integration


def test_poison_record_is_dead_lettered_with_its_reason(stack: Stack, unique: str) -> None:
    bootstrap = stack.env["KAFKA_BOOTSTRAP"]
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    poison = f"not json {unique}".encode()
    no_id = msgspec.json.encode({"uuid": "00000000-0000-4000-8000-000000000001", "event": "x",
                                 "distinct_id": "", "timestamp": "2026-01-01T00:00:00Z",
                                 "api_key": "k", "properties": {"tag": unique}})
    producer.produce("events", poison, key=b"poison")
    producer.produce("events", no_id, key=b"poison")
    assert producer.flush(30) == 0
    stack.send([{"event": "after_poison", "distinct_id": f"good-{unique}"}])
    stack.wait_for(f"SELECT 1 FROM product_analytics.events WHERE distinct_id = 'good-{unique}'",
                   lambda rows: len(rows) == 1)

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"dlq-check-{unique}",
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    consumer.subscribe(["events_dlq"])
    found: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while len(found) < 2 and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None or message.error():
            continue
        letter = msgspec.json.decode(message.value())
        if unique in letter["value"]:
            found[letter["value"]] = letter["reason"]
    consumer.close()
    assert found[poison.decode()].startswith("undecodable record")
    assert found[no_id.decode()] == "event without a distinct_id"


def test_an_event_near_the_size_limit_is_loaded_not_stuck(stack: Stack, unique: str) -> None:
    """Its fact repeats the $set beside the properties, twice the record: still loaded."""
    big = "x" * 600_000
    stack.send([{"event": "big", "distinct_id": f"big-{unique}",
                 "properties": {"$set": {"blob": big}}}])
    rows = stack.wait_for(
        f"SELECT length(JSONExtractString(properties, 'blob')) AS n "
        f"FROM product_analytics.persons FINAL WHERE distinct_id = 'big-{unique}'",
        lambda rows: len(rows) == 1)
    assert rows == [{"n": 600_000}]
