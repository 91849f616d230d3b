"""Create the Kafka topics the pipeline uses, idempotently."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from identity_worker.worker import FACT_RECORD_MAX_BYTES
from product_analytics.config import Settings

log = logging.getLogger(__name__)

KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}
"""Raw events are the source of truth that `replay` rebuilds persons from."""

FACTS_CONFIG = {
    # Facts are the loader's input and can be derived again from the events (replay), so a
    # week covers any loader outage worth waiting out.
    "retention.ms": str(7 * 24 * 3600 * 1000),
    # A fact can be twice its event's size (identity_worker.worker.FACT_RECORD_MAX_BYTES).
    "max.message.bytes": str(FACT_RECORD_MAX_BYTES + 64 * 1024),
}


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    rf = settings.replication_factor
    wanted = {
        settings.events_topic: NewTopic(settings.events_topic, settings.partitions, rf,
                                        config=KEEP_FOREVER),
        settings.facts_topic: NewTopic(settings.facts_topic, settings.partitions, rf,
                                       config=FACTS_CONFIG),
        settings.dlq_topic: NewTopic(settings.dlq_topic, 1, rf, config=KEEP_FOREVER),
    }
    existing = admin.list_topics(timeout=timeout_s).topics
    missing = [topic for name, topic in wanted.items() if name not in existing]
    created = admin.create_topics(missing, operation_timeout=timeout_s) if missing else {}
    for name, future in created.items():
        try:
            future.result()
            log.info("created topic=%s", name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
    # Topics made by an older version get today's settings too.
    facts = ConfigResource(ConfigResource.Type.TOPIC, settings.facts_topic, incremental_configs=[
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
        for key, value in FACTS_CONFIG.items()
    ])
    for future in admin.incremental_alter_configs([facts]).values():
        future.result()
