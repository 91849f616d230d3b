"""Kafka plumbing shared by the worker, the loader and replay. Vendor objects stop here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def records(messages: list[Message]) -> tuple[list[Record], list[str]]:
    """Split a consume() result into records and error texts (partition EOF is not an error)."""
    out: list[Record] = []
    problems: list[str] = []
    for m in messages:
        err = m.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                problems.append(err.str())
            continue
        topic, partition, offset = m.topic(), m.partition(), m.offset()
        assert topic is not None and partition is not None and offset is not None
        out.append(Record(topic, partition, offset, m.key(), m.value() or b""))
    return out, problems


def consumer_config(bootstrap: str, group: str, **extra: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        **extra,
    }


def next_offsets(batch: list[Record]) -> list[TopicPartition]:
    """Offsets to commit after `batch`: one past the last record of each partition."""
    last: dict[tuple[str, int], int] = {}
    for r in batch:
        last[(r.topic, r.partition)] = max(last.get((r.topic, r.partition), -1), r.offset)
    return [TopicPartition(t, p, o + 1) for (t, p), o in sorted(last.items())]


def first_offsets(batch: list[Record]) -> list[TopicPartition]:
    first: dict[tuple[str, int], int] = {}
    for r in batch:
        key = (r.topic, r.partition)
        first[key] = min(first.get(key, r.offset), r.offset)
    return [TopicPartition(t, p, o) for (t, p), o in sorted(first.items())]


def all_partitions(consumer: Consumer, topic: str, timeout_s: float = 30.0) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise RuntimeError(
            f"Kafka topic {topic!r} is missing: run `product-analytics topics` (make up does)"
        )
    return sorted(metadata.partitions)
