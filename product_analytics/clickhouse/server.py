"""A ClickHouse server over the native protocol (clickhouse-driver)."""

from __future__ import annotations

import math
import re
import struct
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
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


def _server_message(exc: errors.ServerException) -> str:
    """`Code: 60. DB::Exception: Table default.nope doesn't exist.`, without the stack trace."""
    message = str(exc.message).split(". Stack trace:", 1)[0].strip()
    return f"Code: {exc.code}. {message}"


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
                _server_message(exc), retryable=exc.code in _RETRYABLE_SERVER_CODES
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
        data, columns = self._execute(sql, with_column_types=True)
        return render(fmt, [name for name, _ in columns], [tuple(map(_plain, r)) for r in data],
                      [type_ for _, type_ in columns])

    def close(self) -> None:
        self._client.disconnect()


# Rendering. ClickHouse writes each value the same way in TSV, CSV and JSON apart from quoting and
# escaping; these helpers follow it byte for byte for the types the schema and its queries use
# (integers, floats, strings, UUIDs, dates, DateTime and DateTime64, NULL, arrays).

_DATETIME64 = re.compile(r"^(?:Nullable\()?DateTime64\((\d+)")
_ESCAPES = {"\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\0": "\\0", "'": "\\'"}
_NEEDS_ESCAPE = re.compile("[\\\\\b\f\n\r\t\0']")
_MIN_INT, _MAX_INT = -(2**63), 2**64 - 1


def _escape(text: str) -> str:
    """ClickHouse's escaping in TabSeparated and inside quoted literals."""
    return _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group()], text)


def _float(value: float) -> str:
    """Shortest round-trip digits, positional from 1e-6 up to 1e21, as ClickHouse prints floats."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        power = int(exponent)
        text = (format(Decimal(text), "f") if -7 < power < 21
                else f"{mantissa}e{power}")
    return text[:-2] if text.endswith(".0") else text


def _float32(value: Any) -> Any:
    """A Float32 as the float64 of its shortest digits (0.1, not 0.10000000149011612)."""
    if isinstance(value, list | tuple):
        return type(value)(map(_float32, value))
    if not isinstance(value, float) or math.isnan(value) or math.isinf(value):
        return value
    for digits in range(1, 10):
        shortest = float(f"{value:.{digits}g}")
        if struct.unpack("f", struct.pack("f", shortest))[0] == value:
            return shortest
    return value


def _datetime(value: datetime, type_: str | None) -> str:
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    match = _DATETIME64.match(type_ or "")
    if match:  # a DateTime64(p) always shows p digits
        digits = int(match.group(1))
        return text + ("." + f"{value.microsecond:06d}".ljust(digits, "0")[:digits] if digits else "")
    return text + (f".{value.microsecond:06d}" if value.microsecond else "")


def _bare(value: Any, type_: str | None) -> str | None:
    """The text of a value that ClickHouse writes without quotes or escapes, else None."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, datetime):
        return _datetime(value, type_)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return None


def _literal(value: Any) -> str:
    """A value inside an array or tuple: [1,2], ['a','it\\'s'], (1,'x'), [NULL]."""
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "[" + ",".join(map(_literal, value)) + "]"
    if isinstance(value, tuple):
        return "(" + ",".join(map(_literal, value)) + ")"
    if isinstance(value, bool | int | float):
        return str(_bare(value, None))
    return "'" + _escape(_bare(value, None) or str(value)) + "'"


def _tsv(value: Any, type_: str | None) -> str:
    if isinstance(value, list | tuple):
        return _literal(value)
    bare = _bare(value, type_)
    return bare if bare is not None else _escape(str(value))


def _csv(value: Any, type_: str | None) -> str:
    """Numbers, booleans and NULL bare; everything else in double quotes."""
    if value is None or isinstance(value, int | float):
        return str(_bare(value, type_))
    text = _literal(value) if isinstance(value, list | tuple) else _bare(value, type_) or str(value)
    return '"' + text.replace('"', '""') + '"'


def _json(value: Any, type_: str | None = None) -> Any:
    """A value msgspec encodes as ClickHouse's JSON formats write it (64-bit integers unquoted)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if _MIN_INT <= value <= _MAX_INT else msgspec.Raw(str(value).encode())
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else msgspec.Raw(_float(value).encode())
    if isinstance(value, Decimal):
        return msgspec.Raw(str(value).encode())
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    bare = _bare(value, type_)
    return bare if bare is not None else value


def render(fmt: str, names: list[str], rows: list[tuple[Any, ...]],
           types: list[str] | None = None) -> bytes:
    """Render typed rows in the ClickHouse output formats the native protocol lacks.

    `types` are the columns' ClickHouse types; they say how many digits a DateTime64 shows.
    """
    kind = fmt.lower()
    column_types: list[str | None] = list(types) if types is not None else [None] * len(names)

    float32 = [i for i, t in enumerate(column_types) if t and "Float32" in t]

    def typed(row: tuple[Any, ...]) -> list[tuple[Any, str | None]]:
        if float32:
            row = tuple(_float32(v) if i in float32 else v for i, v in enumerate(row))
        return list(zip(row, column_types, strict=True))

    if kind in {"tabseparated", "tsv", "tabseparatedwithnames", "tsvwithnames"}:
        lines = [[_tsv(v, t) for v, t in typed(row)] for row in rows]
        if kind.endswith("withnames"):
            lines.insert(0, [_escape(name) for name in names])
        return "".join("\t".join(line) + "\n" for line in lines).encode()
    if kind in {"csv", "csvwithnames"}:
        lines = [[_csv(v, t) for v, t in typed(row)] for row in rows]
        if kind == "csvwithnames":
            lines.insert(0, [_csv(name, None) for name in names])
        return "".join(",".join(line) + "\n" for line in lines).encode()
    if kind == "jsoneachrow":
        return b"".join(
            msgspec.json.encode({n: _json(v, t) for n, (v, t) in zip(names, typed(row), strict=True)})
            + b"\n"
            for row in rows
        )
    if kind in {"json", "jsoncompact"}:
        data: list[Any] = [
            {n: _json(v, t) for n, (v, t) in zip(names, typed(row), strict=True)}
            if kind == "json" else [_json(v, t) for v, t in typed(row)]
            for row in rows
        ]
        return msgspec.json.encode({"data": data, "rows": len(rows)}) + b"\n"
    raise ClickHouseError(
        f"format {fmt} is not available through the native protocol; use TabSeparated, "
        "TabSeparatedWithNames, CSV, CSVWithNames, JSONEachRow, JSON or JSONCompact",
        retryable=False,
    )
