"""Kafka producer for the gateway: idempotent, acks=all, one delivery report per event.

A request is answered only after every one of its events has been acknowledged by the
broker; the producer is never flushed per request (that would serialise all requests).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from ingest_gateway import errors

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_MS = 10_000
"""How long librdkafka keeps retrying an event before reporting failure; the request then
gets 503 and the client retries, so this bounds how long a client waits on a dead broker."""

POLL_INTERVAL_S = 0.05


class EventProducer:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "client.id": "ingest-gateway",
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
                "message.timeout.ms": DELIVERY_TIMEOUT_MS,
                "queue.buffering.max.kbytes": 262_144,
            }
        )
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(POLL_INTERVAL_S)

    async def send_all(self, records: Sequence[tuple[str, bytes]]) -> None:
        """Produce every (key, value) and wait until the broker has acknowledged all."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []

        def reporter(future: asyncio.Future[None]) -> Callable[[KafkaError | None, Message], None]:
            def report(err: KafkaError | None, _msg: Message) -> None:
                loop.call_soon_threadsafe(_settle, future, err)

            return report

        for key, value in records:
            future = loop.create_future()
            try:
                self._producer.produce(self.topic, value, key.encode(), on_delivery=reporter(future))
            except BufferError:
                raise errors.unavailable("the gateway's Kafka queue is full; retry shortly") from None
            except KafkaException as exc:
                raise errors.unavailable(f"Kafka refused the event: {exc}") from None
            futures.append(future)
        self._producer.poll(0)
        await asyncio.gather(*futures)

    def ready(self, timeout_s: float = 2.0) -> bool:
        try:
            metadata = self._producer.list_topics(self.topic, timeout=timeout_s)
        except KafkaException:
            return False
        topic = metadata.topics.get(self.topic)
        return topic is not None and topic.error is None and bool(topic.partitions)

    def close(self, timeout_s: float = 10.0) -> None:
        remaining = self._producer.flush(timeout_s)
        self._stop.set()
        self._poller.join()
        if remaining:
            log.error("gateway stopped with undelivered=%d events", remaining)


def _settle(future: asyncio.Future[None], err: KafkaError | None) -> None:
    if future.done():
        return
    if err is None:
        future.set_result(None)
    else:
        future.set_exception(errors.unavailable(f"Kafka did not acknowledge the event: {err.str()}"))
