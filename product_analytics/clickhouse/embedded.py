"""chDB: the ClickHouse engine inside this process, over one data directory."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from product_analytics.clickhouse import ClickHouseError

_encoder = msgspec.json.Encoder()
_row_decoder = msgspec.json.Decoder(list[Any])


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
        # One connection, used from the loader thread and the SQL server's threads.
        self._lock = threading.Lock()

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
        result = self._query(
            f"{sql} SETTINGS output_format_json_quote_64bit_integers=0", "JSONCompactEachRow"
        )
        return [tuple(_row_decoder.decode(line)) for line in result.bytes().splitlines() if line]

    def text(self, sql: str, fmt: str) -> bytes:
        return bytes(self._query(sql, fmt).bytes())

    def close(self) -> None:
        with self._lock:
            self._conn.close()
