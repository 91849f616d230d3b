"""A ClickHouse server over the native protocol (clickhouse-driver)."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import msgspec
from clickhouse_driver import Client, errors

from product_analytics.clickhouse import ClickHouseError

CONNECT_TIMEOUT_S = 5
"""Fail fast so the loader's back-off, not a hung socket, decides how long to wait."""

_FORMAT_CLAUSE = re.compile(r"\s+FORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_RETRYABLE_SERVER_CODES = {
    159,  # TIMEOUT_EXCEEDED
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    242,  # TABLE_IS_READ_ONLY
    252,  # TOO_MANY_PARTS
    319,  # UNKNOWN_STATUS_OF_INSERT
}


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


class ServerClickHouse:
    def __init__(self, url: str) -> None:
        self.url = url
        self._client = Client.from_url(url)
        self._client.connection.connect_timeout = CONNECT_TIMEOUT_S

    def _execute(self, sql: str, params: Any = None, **kwargs: Any) -> Any:
        try:
            return self._client.execute(sql, params, **kwargs)
        except errors.ServerException as exc:
            raise ClickHouseError(
                str(exc).strip(), retryable=exc.code in _RETRYABLE_SERVER_CODES
            ) from exc
        except (errors.NetworkError, errors.SocketTimeoutError, EOFError, OSError) as exc:
            self._client.disconnect()
            raise ClickHouseError(
                f"ClickHouse server unreachable ({exc}); check CLICKHOUSE_URL and the server",
                retryable=True,
            ) from exc
        except errors.Error as exc:
            raise ClickHouseError(str(exc).strip(), retryable=False) from exc

    def command(self, sql: str) -> None:
        self._execute(sql)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES", list(rows))

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(map(_plain, row)) for row in self._execute(sql)]

    def text(self, sql: str, fmt: str) -> bytes:
        match = _FORMAT_CLAUSE.search(sql)
        if match:
            sql, fmt = sql[: match.start()], match.group(1)
        data, types = self._execute(sql, with_column_types=True)
        return render(fmt, [name for name, _ in types], [tuple(map(_plain, r)) for r in data])

    def close(self) -> None:
        self._client.disconnect()


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f" if value.microsecond else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return msgspec.json.encode([_jsonable(v) for v in value]).decode()
    return str(value)


def _jsonable(value: Any) -> Any:
    return _text(value) if isinstance(value, datetime | date) else value


def _tsv_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def render(fmt: str, names: list[str], rows: list[tuple[Any, ...]]) -> bytes:
    """Render typed rows in the ClickHouse output formats the native protocol lacks."""
    kind = fmt.lower()
    if kind in {"tabseparated", "tsv", "tabseparatedwithnames", "tsvwithnames"}:
        lines = [[_tsv_escape(_text(v)) for v in row] for row in rows]
        if kind.endswith("withnames"):
            lines.insert(0, names)
        return "".join("\t".join(line) + "\n" for line in lines).encode()
    if kind in {"csv", "csvwithnames"}:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if kind == "csvwithnames":
            writer.writerow(names)
        writer.writerows([[_text(v) for v in row] for row in rows])
        return out.getvalue().encode()
    if kind == "jsoneachrow":
        return b"".join(
            msgspec.json.encode({n: _jsonable(v) for n, v in zip(names, row, strict=True)}) + b"\n"
            for row in rows
        )
    if kind in {"json", "jsoncompact"}:
        data: list[Any] = [
            {n: _jsonable(v) for n, v in zip(names, row, strict=True)}
            if kind == "json" else [_jsonable(v) for v in row]
            for row in rows
        ]
        return msgspec.json.encode({"data": data, "rows": len(rows)}) + b"\n"
    raise ClickHouseError(
        f"format {fmt} is not available through the native protocol; use TabSeparated, "
        "TabSeparatedWithNames, CSV, CSVWithNames, JSONEachRow, JSON or JSONCompact",
        retryable=False,
    )
