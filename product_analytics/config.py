"""Settings, read once from the environment at each entry point into a frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting has a value the program cannot use; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    api_keys: frozenset[str]
    gateway_host: str
    gateway_port: int
    kafka_bootstrap: str
    events_topic: str
    facts_topic: str
    dlq_topic: str
    partitions: int
    replication_factor: int
    clickhouse_url: str | None
    chdb_path: Path
    database: str
    sql_host: str
    sql_port: int
    sdk_dist: Path
    data_dir: Path

    @property
    def sql_url(self) -> str:
        return f"http://{self.sql_host}:{self.sql_port}"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None


def load(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    keys = frozenset(k.strip() for k in env.get("PA_API_KEYS", "local_dev_key").split(",") if k.strip())
    if not keys:
        raise ConfigError("PA_API_KEYS is empty: set at least one project API key")
    partitions = _int(env, "PA_PARTITIONS", 8)
    if partitions < 1:
        raise ConfigError("PA_PARTITIONS must be at least 1")
    return Settings(
        api_keys=keys,
        gateway_host=env.get("PA_GATEWAY_HOST", "127.0.0.1"),
        gateway_port=_int(env, "PA_GATEWAY_PORT", 8080),
        kafka_bootstrap=env.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        events_topic=env.get("PA_EVENTS_TOPIC", "events"),
        facts_topic=env.get("PA_FACTS_TOPIC", "identity_facts"),
        dlq_topic=env.get("PA_DLQ_TOPIC", "events_dlq"),
        partitions=partitions,
        replication_factor=_int(env, "PA_REPLICATION_FACTOR", 1),
        clickhouse_url=env.get("CLICKHOUSE_URL") or None,
        chdb_path=Path(env.get("PA_CHDB_PATH", str(REPO_ROOT / "data" / "clickhouse"))),
        database=env.get("PA_DATABASE", "product_analytics"),
        sql_host=env.get("PA_SQL_HOST", "127.0.0.1"),
        sql_port=_int(env, "PA_SQL_PORT", 8123),
        sdk_dist=Path(env.get("PA_SDK_DIST", str(REPO_ROOT / "sdk" / "browser" / "dist"))),
        data_dir=Path(env.get("PA_DATA_DIR", str(REPO_ROOT / "data"))),
    )
