"""Read-only access to an embedded database through the SQL port of the process owning it."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from product_analytics.clickhouse import ClickHouseError, decode_rows


class HttpClickHouse:
    def __init__(self, url: str, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def reachable(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/ping", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def text(self, sql: str, fmt: str) -> bytes:
        request = urllib.request.Request(
            f"{self.url}/?default_format={fmt}", data=sql.encode(), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            raise ClickHouseError(exc.read().decode().strip(), retryable=exc.code >= 500) from None
        except OSError as exc:
            raise ClickHouseError(f"SQL endpoint {self.url} unreachable: {exc}",
                                  retryable=True) from None

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return decode_rows(self.text(sql, "JSONCompactEachRow"))

    def command(self, sql: str) -> None:
        raise ClickHouseError("the SQL endpoint is read-only", retryable=False)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        raise ClickHouseError("the SQL endpoint is read-only", retryable=False)

    def close(self) -> None:
        pass
