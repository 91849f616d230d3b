"""The loader's SQL port serves reads only: no writes, no files, no other hosts."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.conftest import Stack

pytestmark = pytest.mark.e2e


def ask(stack: Stack, sql: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(stack.sql_url + "/", data=sql.encode(), method="POST",
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.parametrize("sql", [
    "SELECT * FROM file('/etc/hostname', 'LineAsString')",
    "SELECT * FROM url('http://127.0.0.1:1/x', 'CSV', 'a String')",
    "WITH 1 AS x SELECT x INTO OUTFILE '/tmp/pa-should-not-exist'",
    "INSERT INTO product_analytics.events (event) VALUES ('x')",
    "DROP TABLE product_analytics.events",
])
def test_writes_and_host_access_are_refused(stack: Stack, sql: str) -> None:
    status, body = ask(stack, sql)
    assert status in (400, 403), body
    assert ("readonly" in body.lower() or "read-only" in body.lower()
            or "INTO OUTFILE" in body), body


def test_reads_still_work_with_formats(stack: Stack) -> None:
    assert ask(stack, "SELECT count() > -1 FROM product_analytics.events FORMAT CSV") == (
        200, "1\n")
