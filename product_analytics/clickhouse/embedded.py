"""chDB: the ClickHouse engine inside this process, over one data directory."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from product_analytics.clickhouse import ClickHouseError, decode_rows

_encoder = msgspec.json.Encoder()
_INTO_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.IGNORECASE)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


class EmbeddedClickHouse:
    def __init__(self, path: str | Path) -> None:
        import chdb  # imported here: loading the engine costs ~0.3 s and 300 MB of address space

        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = chdb.connect(str(self.path))
        except Exception as exc:
            raise ClickHouseError(
                f"cannot open chDB data directory {self.path}: {exc}. Another process (the "
                "loader of a running stack?) may own it; query through its SQL port instead",
                retryable=False,
            ) from exc
        # chDB runs one query at a time here: the loader's writes and the SQL port's reads
        # (on a second, read-only connection) take turns.
        self._lock = threading.Lock()
        self._chdb = chdb

    def _query(self, sql: str, fmt: str) -> Any:
        with self._lock:
            try:
                return self._conn.query(sql, fmt)
            except Exception as exc:
                raise ClickHouseError(str(exc).strip(), retryable=False) from exc

    def command(self, sql: str) -> None:
        self._query(sql, "TabSeparated")

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        lines = b"\n".join(
            _encoder.encode(dict(zip(columns, map(_jsonable, row), strict=True))) for row in rows
        )
        self.command(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            "SETTINGS date_time_input_format='best_effort' FORMAT JSONEachRow\n" + lines.decode()
        )

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return decode_rows(self._query(sql, "JSONCompactEachRow").bytes())

    def reader(self) -> ReadOnlyClickHouse:
        """A second connection to the same data with `readonly = 1` (no writes, no DDL, no
        file()/url() table functions), for serving other processes' queries."""
        with self._lock:
            conn = self._chdb.connect(str(self.path))
            conn.query("SET readonly = 1")
        return ReadOnlyClickHouse(conn, self._lock)

    def text(self, sql: str, fmt: str) -> bytes:
        return bytes(self._query(sql, fmt).bytes())

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class ReadOnlyClickHouse:
    """The read-only connection `EmbeddedClickHouse.reader` opens."""

    def __init__(self, conn: Any, lock: threading.Lock) -> None:
        self._conn = conn
        self._lock = lock

    def text(self, sql: str, fmt: str) -> bytes:
        if _INTO_OUTFILE.search(sql):  # readonly = 1 still lets SELECT write files
            raise ClickHouseError("INTO OUTFILE is not served: save the result on your side",
                                  retryable=False)
        with self._lock:
            try:
                return bytes(self._conn.query(sql, fmt).bytes())
            except Exception as exc:
                raise ClickHouseError(str(exc).strip(), retryable=False) from exc

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return decode_rows(self.text(sql, "JSONCompactEachRow"))

    def command(self, sql: str) -> None:
        raise ClickHouseError("this connection is read-only", retryable=False)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        raise ClickHouseError("this connection is read-only", retryable=False)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
