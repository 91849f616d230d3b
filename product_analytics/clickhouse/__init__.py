"""ClickHouse access behind one narrow interface, with two backends.

* `EmbeddedClickHouse`: chDB in this process (the single-machine default, and the tests).
  A chDB directory admits one process; the process that owns it serves read-only SQL to
  the others over HTTP (`product_analytics.sqlserver`), which `HttpClickHouse` reads.
* `ServerClickHouse`: a ClickHouse server over the native protocol (clickhouse-driver).

The same DDL (schemas/clickhouse/tables.sql) and the same queries run on all of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from typing import Any, Protocol

import msgspec


class ClickHouseError(Exception):
    """A ClickHouse operation failed. `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class ClickHouse(Protocol):
    def command(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL)."""

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows; values are str, int, float or aware datetime."""

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Run a SELECT; UUIDs come back as str, DateTime64 as datetime or str."""

    def text(self, sql: str, fmt: str) -> bytes:
        """Run any query and return its result rendered in a ClickHouse output format."""

    def close(self) -> None: ...


_row_decoder = msgspec.json.Decoder(list[Any])


def decode_rows(text: bytes) -> list[tuple[Any, ...]]:
    """Rows of a JSONCompactEachRow result."""
    return [tuple(_row_decoder.decode(line)) for line in text.splitlines() if line]


def schema_statements(database: str) -> list[str]:
    sql = resources.files("schemas").joinpath("clickhouse/tables.sql").read_text()
    sql = re.sub(r"--[^\n]*", "", sql).replace("{db}", database)
    return [s.strip() for s in sql.split(";") if s.strip()]


def apply_schema(ch: ClickHouse, database: str) -> None:
    """Create the database, tables and views if missing (safe to run any number of times)."""
    for statement in schema_statements(database):
        ch.command(statement)
