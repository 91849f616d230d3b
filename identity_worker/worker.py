"""Identity worker: events topic -> normalised facts, exactly once, scaled by partition.

Each batch is one Kafka transaction holding the produced facts (and dead letters) together
with the consumed offsets, so a worker killed at any point either published a batch whole,
offsets included, or not at all; the next owner of the partition resumes after the last
committed batch. The loader reads the facts topic with isolation.level=read_committed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass

import msgspec
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from identity_worker.normalize import NormalizeError, normalize
from product_analytics.config import Settings
from product_analytics.kafka import Record, consumer_config, first_offsets, next_offsets, records
from schemas.records import CapturedEvent, DeadLetter, EventFact

log = logging.getLogger("identity_worker.worker")

GROUP = "pa-identity-workers"
BATCH_MAX = 2000
POLL_TIMEOUT_S = 0.5
REPORT_INTERVAL_S = 30.0
COMMIT_ATTEMPTS = 3
FACT_RECORD_MAX_BYTES = 4 * 1024 * 1024
"""A fact repeats the event's $set/$set_once beside its properties, so it can be twice the
size of the (at most ~1 MB) captured record; the facts topic admits records this large."""
DEAD_LETTER_VALUE_MAX = 512 * 1024
"""Dead letters keep at most this much of the original record, so they always fit."""
TRANSACTION_TIMEOUT_MS = 15_000
"""A worker killed mid-transaction blocks read_committed readers of its partitions until the
broker aborts it; 15 s keeps that pause short (a restarted worker with the same name fences
its predecessor at once)."""

_decode = msgspec.json.Decoder(CapturedEvent).decode
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Fact:
    fact: EventFact


@dataclass(frozen=True, slots=True)
class Dead:
    reason: str


Outcome = Fact | Dead


def process(value: bytes) -> Outcome:
    """What becomes of one record of the events topic."""
    try:
        return Fact(normalize(_decode(value)))
    except msgspec.DecodeError as exc:
        return Dead(f"undecodable record: {exc}")
    except NormalizeError as exc:
        return Dead(str(exc))


class Worker:
    def __init__(self, settings: Settings, name: str | None = None) -> None:
        self.settings = settings
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self._running = True
        self._consumer = Consumer(
            consumer_config(
                settings.kafka_bootstrap,
                GROUP,
                **{
                    "partition.assignment.strategy": "cooperative-sticky",
                    "client.id": f"worker-{self.name}",
                    "session.timeout.ms": 10_000,
                    "heartbeat.interval.ms": 1_000,
                },
            )
        )
        self._producer = Producer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "transactional.id": f"pa-worker-{self.name}",
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
                "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
                "message.max.bytes": FACT_RECORD_MAX_BYTES + 64 * 1024,
            }
        )
        self.processed = 0
        self.dead_lettered = 0
        self._reported_at = time.monotonic()
        self._reported_processed = 0

    def stop(self, *_args: object) -> None:
        self._running = False

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self._producer.init_transactions(30)
        self._consumer.subscribe(
            [self.settings.events_topic],
            on_assign=lambda _c, parts: log.info(
                "assigned partitions=%s", [p.partition for p in parts]),
            on_revoke=lambda _c, parts: log.info(
                "revoked partitions=%s", [p.partition for p in parts]),
            on_lost=lambda _c, parts: log.warning(
                "lost partitions=%s", [p.partition for p in parts]),
        )
        log.info("worker started name=%s topic=%s", self.name, self.settings.events_topic)
        try:
            while self._running:
                batch, problems = records(self._consumer.consume(BATCH_MAX, POLL_TIMEOUT_S))
                for problem in problems:
                    log.warning("consume error=%s", problem)
                if batch:
                    self._publish(batch)
        finally:
            self._consumer.close()
            log.info("worker stopped name=%s processed=%d dead_lettered=%d",
                     self.name, self.processed, self.dead_lettered)

    def _report(self) -> None:
        now = time.monotonic()
        if now - self._reported_at >= REPORT_INTERVAL_S:
            log.info("progress processed=%d dead_lettered=%d rate=%.0f/s", self.processed,
                     self.dead_lettered,
                     (self.processed - self._reported_processed) / (now - self._reported_at))
            self._reported_at, self._reported_processed = now, self.processed

    def _publish(self, batch: list[Record]) -> None:
        """1. produce facts and dead letters, 2. add the offsets, 3. commit, all in one txn."""
        try:
            self._producer.begin_transaction()
            for record in batch:
                self._produce(record, process(record.value))
            self._producer.send_offsets_to_transaction(
                next_offsets(batch), self._consumer.consumer_group_metadata(), 30
            )
        except KafkaException as exc:
            self._abort(batch, exc.args[0])
            return
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                self._producer.commit_transaction(30)
                break
            except KafkaException as exc:
                error = exc.args[0]
                if error.retriable() and attempt + 1 < COMMIT_ATTEMPTS:
                    log.warning("transaction commit failed, retrying: %s", error.str())
                    continue
                self._abort(batch, error)
                return
        self.processed += len(batch)
        self._report()

    def _produce(self, record: Record, outcome: Outcome) -> None:
        if isinstance(outcome, Fact):
            try:
                self._producer.produce(self.settings.facts_topic, _encode(outcome.fact),
                                       record.key)
                self._producer.poll(0)
                return
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                    raise
                outcome = Dead("fact larger than the facts topic's record limit")
        self.dead_lettered += 1
        log.warning("dead letter partition=%d offset=%d reason=%s",
                    record.partition, record.offset, outcome.reason)
        letter = DeadLetter(reason=outcome.reason, topic=record.topic,
                            partition=record.partition, offset=record.offset,
                            value=record.value[:DEAD_LETTER_VALUE_MAX].decode("utf-8", "replace"))
        self._producer.produce(self.settings.dlq_topic, _encode(letter), record.key,
                               headers={"reason": outcome.reason.encode()})
        self._producer.poll(0)

    def _abort(self, batch: list[Record], error: KafkaError) -> None:
        """Abort the transaction and rewind, so the batch is done again; fatal errors raise."""
        if error.fatal():
            log.error("fatal Kafka error, stopping: %s", error.str())
            raise KafkaException(error)
        log.warning("transaction aborted, batch will be redone: %s", error.str())
        self._producer.abort_transaction(30)
        for tp in first_offsets(batch):
            # A partition revoked meanwhile is resumed by its new owner instead.
            with contextlib.suppress(KafkaException):
                self._consumer.seek(tp)
