"""Rebuild persons from the events topic into fresh tables, with a progress bar.

Replay runs the same pure core as the live pipeline (normalise, then resolve) over every
record of the events topic. Partitions interleave differently on every run; the result does
not depend on it, which `live_checksums` lets anyone check.
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from identity_worker.loader import RECENT_UUIDS, relax_gc
from identity_worker.persons import PersonResolver
from identity_worker.sink import RecentUuids, Versioner, write_changes
from identity_worker.worker import Fact, process
from product_analytics.clickhouse import ClickHouse, ClickHouseError, apply_schema
from product_analytics.config import Settings
from product_analytics.kafka import all_partitions, consumer_config, records
from schemas.records import EventFact

CHUNK = 20_000
"""Events folded and written per step: bounded memory for the rows of one step."""


@dataclass(frozen=True, slots=True)
class ReplayResult:
    events: int
    dead: int
    persons_checksum: str
    mappings_checksum: str


def live_checksums(ch: ClickHouse, db: str) -> tuple[str, str]:
    """count:sum-of-hashes of live persons and live distinct-id mappings."""
    persons = ch.rows(
        f"SELECT count(), sum(cityHash64(id, distinct_id, properties, is_identified)) "
        f"FROM {db}.persons FINAL WHERE is_deleted = 0")[0]
    mappings = ch.rows(
        f"SELECT count(), sum(cityHash64(distinct_id, person_id)) "
        f"FROM {db}.person_distinct_ids FINAL WHERE is_deleted = 0")[0]
    return f"{persons[0]}:{persons[1]}", f"{mappings[0]}:{mappings[1]}"


class _Bar:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.started, self.last = total, enabled, time.monotonic(), 0.0

    def show(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self.last < 0.2):
            return
        self.last = now
        share = done / self.total if self.total else 1.0
        width = 30
        filled = int(width * share)
        rate = done / max(now - self.started, 1e-6)
        sys.stderr.write(f"\rreplay [{'#' * filled}{'.' * (width - filled)}] "
                         f"{done}/{self.total} events {share:6.1%} {rate:,.0f}/s")
        if final:
            sys.stderr.write("\n")
        sys.stderr.flush()


def replay(settings: Settings, ch: ClickHouse, database: str, *, force: bool = False,
           progress: bool = True) -> ReplayResult:
    exists = ch.rows(f"SELECT count() FROM system.databases WHERE name = '{database}'")[0][0]
    if exists:
        if not force:
            raise ClickHouseError(
                f"database {database} exists: pass --force to drop it and rebuild, or choose "
                "another --database", retryable=False)
        ch.command(f"DROP DATABASE {database}")
    apply_schema(ch, database)

    consumer = Consumer(consumer_config(
        settings.kafka_bootstrap, f"pa-replay-{uuid.uuid4()}", **{"client.id": "replay"}))
    topic = settings.events_topic
    ends: dict[int, int] = {}
    starts = []
    for p in all_partitions(consumer, topic):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        if high > low:
            ends[p] = high
            starts.append(TopicPartition(topic, p, low))
    total = sum(ends[tp.partition] - tp.offset for tp in starts)
    consumer.assign(starts)

    relax_gc()
    resolver, versions = PersonResolver(), Versioner()
    recent = RecentUuids(RECENT_UUIDS)
    bar = _Bar(total, progress)
    done = dead = 0
    facts: list[EventFact] = []
    try:
        while ends:
            batch, _problems = records(consumer.consume(CHUNK, 1.0))
            if not batch:
                # Offsets past the last record (aborted or compacted away) end a partition too.
                for tp in consumer.position([TopicPartition(topic, p) for p in ends]):
                    if tp.offset >= ends[tp.partition]:
                        del ends[tp.partition]
            for record in batch:
                end = ends.get(record.partition)
                if end is None or record.offset >= end:
                    continue
                if record.offset == end - 1:
                    del ends[record.partition]
                done += 1
                outcome = process(record.value)
                if isinstance(outcome, Fact):
                    facts.append(outcome.fact)
                else:
                    dead += 1
            if len(facts) >= CHUNK or (facts and not ends):
                write_changes(ch, database, resolver.apply(facts),
                              versions.next(time.time_ns() // 1000), recent)
                facts = []
            bar.show(done)
        bar.show(done, final=True)
    finally:
        consumer.close()
    persons, mappings = live_checksums(ch, database)
    return ReplayResult(done, dead, persons, mappings)
