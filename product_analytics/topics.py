"""Create the Kafka topics the pipeline uses, idempotently."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from product_analytics.config import Settings

log = logging.getLogger(__name__)

KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}
"""Raw events are the source of truth that `replay` rebuilds persons from."""

KEEP_A_WEEK = {"retention.ms": str(7 * 24 * 3600 * 1000)}
"""Facts are the loader's input and can be derived again from the events (replay), so a
week covers any loader outage worth waiting out."""


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    wanted = {
        settings.events_topic: NewTopic(settings.events_topic, settings.partitions, 1,
                                        config=KEEP_FOREVER),
        settings.facts_topic: NewTopic(settings.facts_topic, settings.partitions, 1,
                                       config=KEEP_A_WEEK),
        settings.dlq_topic: NewTopic(settings.dlq_topic, 1, 1, config=KEEP_FOREVER),
    }
    existing = admin.list_topics(timeout=timeout_s).topics
    missing = [topic for name, topic in wanted.items() if name not in existing]
    if not missing:
        return
    for name, future in admin.create_topics(missing, operation_timeout=timeout_s).items():
        try:
            future.result()
            log.info("created topic=%s", name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
