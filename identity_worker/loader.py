"""Loader: the identity facts topic -> persons, mappings and events in ClickHouse.

The single process that resolves persons and writes ClickHouse. It reads every partition of
the facts topic (read_committed, so only whole worker transactions), folds each flush of
facts through the identity core, and follows one durability protocol per flush:

1. fold the facts into the resolver and take the rows that changed;
2. insert them into ClickHouse (events, warnings, persons, mappings, then resolver state),
   retrying with back-off while ClickHouse is unavailable;
3. only then commit the consumed offsets.

A crash between 2 and 3 redelivers facts the resolver (restored from its state tables)
folds to the same rows; event rows already written are recognised by uuid.
"""

from __future__ import annotations

import gc
import logging
import signal
import time
from dataclasses import dataclass

import msgspec
from confluent_kafka import Consumer, KafkaException, TopicPartition

from identity_worker.persons import Changes, PersonResolver
from identity_worker.sink import RecentUuids, Versioner, restore, write_changes
from product_analytics.clickhouse import ClickHouse, ClickHouseError, apply_schema
from product_analytics.config import Settings
from product_analytics.kafka import Record, all_partitions, consumer_config, next_offsets, records
from product_analytics.metrics import Metrics
from schemas.records import EventFact

log = logging.getLogger("identity_worker.loader")

GROUP = "pa-loader"
FLUSH_MAX_FACTS = 20_000
FLUSH_INTERVAL_S = 0.5
"""A flush every half second keeps events queryable within about a second of capture while
batching enough rows per INSERT for ClickHouse to stay efficient."""
CONSUME_BATCH = 5_000
RECENT_UUIDS = 2_000_000
"""Event uuids remembered for de-duplication (~200 MB at most); older duplicates are left to
ReplacingMergeTree's background merges."""
RECENT_WINDOW_SQL = "INTERVAL 6 HOUR"
BACKOFF_MAX_S = 30.0
COORDINATOR_WAIT_S = 60.0
REPORT_INTERVAL_S = 30.0

_decode_fact = msgspec.json.Decoder(EventFact).decode

GC_THRESHOLDS = (100_000, 50, 1_000)
"""The resolver keeps millions of small long-lived objects; with CPython's default
thresholds (700, 10, 10) full collections rescan them all the time and halve throughput."""


def relax_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


@dataclass(slots=True)
class Progress:
    facts: int = 0
    events_written: int = 0


class Loader:
    def __init__(self, settings: Settings, ch: ClickHouse) -> None:
        self.settings = settings
        self.ch = ch
        self.db = settings.database
        self.metrics = Metrics("pa_loader")
        self.progress = Progress()
        self._running = True
        self._consumer = Consumer(
            consumer_config(settings.kafka_bootstrap, GROUP, **{"client.id": "loader"})
        )
        # Both replaced by prepare(), from what ClickHouse holds.
        self.resolver = PersonResolver()
        self._versions = Versioner()
        self._recent = RecentUuids(RECENT_UUIDS)
        self._position: dict[int, int] = {}
        self._reported_at = time.monotonic()
        self._reported_facts = 0

    def stop(self, *_args: object) -> None:
        self._running = False

    def prepare(self) -> None:
        """Schema, resolver state and recent uuids from ClickHouse; partitions from Kafka."""
        apply_schema(self.ch, self.db)
        relax_gc()
        started = time.monotonic()
        self.resolver, floor = restore(self.ch, self.db)
        self._versions = Versioner(floor)
        self._recent.add(
            str(r[0]) for r in self.ch.rows(
                f"SELECT uuid FROM {self.db}.events "
                f"WHERE inserted_at > now64(6) - {RECENT_WINDOW_SQL}")
        )
        partitions = all_partitions(self._consumer, self.settings.facts_topic)
        self._consumer.assign(self._committed(partitions))
        log.info(
            "loader restored distinct_ids=%d recent_uuids=%d partitions=%d in %.1fs",
            self.resolver.distinct_id_count, len(self._recent), len(partitions),
            time.monotonic() - started,
        )

    def _committed(self, partitions: list[int]) -> list[TopicPartition]:
        """The group's committed offsets; a fresh broker needs a moment to elect a coordinator."""
        wanted = [TopicPartition(self.settings.facts_topic, p) for p in partitions]
        deadline = time.monotonic() + COORDINATOR_WAIT_S
        while True:
            try:
                return list(self._consumer.committed(wanted, timeout=10))
            except KafkaException as exc:
                # NOT_COORDINATOR and friends are not flagged retriable, yet pass in seconds.
                if time.monotonic() > deadline:
                    raise
                log.info("waiting for the group coordinator: %s", exc.args[0].str())
                time.sleep(0.5)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        pending: list[Record] = []
        first_at = 0.0
        try:
            while self._running:
                batch, problems = records(self._consumer.consume(CONSUME_BATCH, 0.1))
                for problem in problems:
                    log.warning("consume error=%s", problem)
                if batch and not pending:
                    first_at = time.monotonic()
                pending.extend(batch)
                if pending and (len(pending) >= FLUSH_MAX_FACTS
                                or time.monotonic() - first_at >= FLUSH_INTERVAL_S):
                    self.flush(pending)
                    pending = []
            if pending:
                self.flush(pending)
        finally:
            self._consumer.close()
            log.info("loader stopped facts=%d events_written=%d", self.progress.facts,
                     self.progress.events_written)

    def flush(self, batch: list[Record]) -> None:
        facts = [_decode_fact(r.value) for r in batch]
        changes = self.resolver.apply(facts)  # step 1
        version = self._versions.next(time.time_ns() // 1000)
        written = self._write(changes, version)  # step 2
        self._commit(batch)  # step 3
        self.progress.facts += len(facts)
        self.progress.events_written += written
        self.metrics.inc("facts_total", len(facts), help="Facts folded into persons")
        self.metrics.inc("events_written_total", written, help="Event rows inserted")
        self.metrics.inc("persons_written_total", len(changes.persons), help="Person rows")
        self.metrics.inc("warnings_total", len(changes.warnings), help="Ingestion warnings")
        log.debug("flushed facts=%d events=%d persons=%d mappings=%d", len(facts), written,
                  len(changes.persons), len(changes.mappings))
        self._report(batch)

    def _report(self, batch: list[Record]) -> None:
        """Every REPORT_INTERVAL_S: throughput and how far behind the facts topic we are."""
        for r in batch:
            self._position[r.partition] = r.offset + 1
        now = time.monotonic()
        if now - self._reported_at < REPORT_INTERVAL_S:
            return
        lag = 0
        for partition, position in self._position.items():
            # Cached: the watermarks ride along with fetch responses, no extra request.
            _low, high = self._consumer.get_watermark_offsets(
                TopicPartition(self.settings.facts_topic, partition), cached=True)
            lag += max(high - position, 0)
        rate = (self.progress.facts - self._reported_facts) / (now - self._reported_at)
        self.metrics.set("lag_facts", lag, help="Facts in Kafka not yet loaded (approximate)")
        log.info("progress facts=%d events_written=%d rate=%.0f/s lag=%d distinct_ids=%d",
                 self.progress.facts, self.progress.events_written, rate, lag,
                 self.resolver.distinct_id_count)
        self._reported_at, self._reported_facts = now, self.progress.facts

    def _write(self, changes: Changes, version: int) -> int:
        delay = 0.5
        while True:
            try:
                return write_changes(self.ch, self.db, changes, version, self._recent)
            except ClickHouseError as exc:
                if not exc.retryable:
                    raise
                self.metrics.inc("clickhouse_retries_total", help="Failed ClickHouse writes")
                log.warning("clickhouse write failed, retrying in %.1fs: %s", delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)

    def _commit(self, batch: list[Record]) -> None:
        offsets = next_offsets(batch)
        while True:
            try:
                self._consumer.commit(offsets=offsets, asynchronous=False)
                return
            except KafkaException as exc:
                if not exc.args[0].retriable():
                    raise
                log.warning("offset commit failed, retrying: %s", exc)
                time.sleep(1)
