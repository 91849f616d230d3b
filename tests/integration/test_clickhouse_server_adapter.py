"""ServerClickHouse (clickhouse-driver, native protocol) against a real, killable ClickHouse server.

The server is Debian's clickhouse-server 18.16, run by deploy/clickhouse-server.sh on free ports in
a temporary directory. It is too old for the project's schema (no DateTime64, JSONExtract*,
CODEC), so these tests use tables of their own: they cover the adapter's plumbing (connection,
inserts, types, rendering of text formats, errors, reconnection), and compare its text formats
byte for byte with what the server itself writes through its HTTP interface.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import msgspec
import pytest

from product_analytics.clickhouse import ClickHouseError
from product_analytics.clickhouse.server import ServerClickHouse

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "clickhouse-server.sh"
BINARY = Path("/usr/sbin/clickhouse-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Server:
    data: Path
    port: int
    http_port: int

    @property
    def url(self) -> str:
        return f"clickhouse://default:@127.0.0.1:{self.port}/default"

    def script(self, action: str) -> None:
        env = {**os.environ, "CH_SERVER_DATA": str(self.data), "CH_SERVER_PORT": str(self.port),
               "CH_SERVER_HTTP_PORT": str(self.http_port)}
        result = subprocess.run(["bash", str(SCRIPT), action], env=env, capture_output=True,
                                text=True, timeout=600, check=False)
        assert result.returncode == 0, f"clickhouse-server.sh {action}: {result.stderr}"

    def kill(self) -> None:
        """SIGKILL, then wait until the native port refuses connections."""
        pid = int((self.data / "clickhouse-server.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _accepts(self.port):
            assert time.monotonic() < deadline, "the killed server still accepts connections"
            time.sleep(0.05)

    def http(self, sql: str, fmt: str) -> bytes:
        """The server's own rendering of `sql`, with 64-bit integers unquoted as today's servers do."""
        query = urllib.parse.urlencode(
            {"default_format": fmt, "output_format_json_quote_64bit_integers": 0})
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}/?{query}",
                                         data=sql.encode(), method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not BINARY.exists() and os.geteuid() != 0:
        pytest.skip("Debian's clickhouse-server is not installed: run `make clickhouse-server-deps` "
                    "as root")
    running = Server(tmp_path_factory.mktemp("clickhouse-server"), _free_port(), _free_port())
    running.script("start")  # installs the package first when it is missing
    yield running
    running.script("stop")


@pytest.fixture
def ch(server: Server) -> Iterator[ServerClickHouse]:
    client = ServerClickHouse(server.url)
    yield client
    client.close()


@pytest.fixture
def table(ch: ServerClickHouse) -> Iterator[str]:
    name = f"default.adapter_{uuid.uuid4().hex[:10]}"
    ch.command(
        f"CREATE TABLE {name} (id UInt64, name String, uid UUID, at DateTime, score Float64) "
        "ENGINE = MergeTree ORDER BY id"
    )
    yield name
    ch.command(f"DROP TABLE IF EXISTS {name}")


UID_1 = "61f0c404-5cb3-11e7-907b-a6006ad3dba0"
UID_2 = "00000000-0000-0000-0000-000000000002"
ROWS = [
    (1, "plain", UID_1, datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), 1.5),
    # Tabs, newlines, quotes, backslashes, commas and non-ASCII; a time given in UTC+02:00.
    (2, "tab\tnew\nline \"q\" 'a' back\\slash, comma é",
     UID_2, datetime(2024, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))), -0.25),
    (3, "", str(uuid.UUID(int=3)), datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), 1e20),
]


def test_connects_and_answers(ch: ServerClickHouse) -> None:
    assert ch.rows("SELECT 1 + 1, 'x'") == [(2, "x")]
    ((version,),) = ch.rows("SELECT version()")
    assert version.startswith("18.16")


def test_inserted_rows_come_back_as_plain_python_values(ch: ServerClickHouse, table: str) -> None:
    ch.insert(table, ["id", "name", "uid", "at", "score"], ROWS)
    ch.insert(table, ["id", "name", "uid", "at", "score"], [])  # nothing to do, no error

    got = ch.rows(f"SELECT id, name, uid, at, score FROM {table} ORDER BY id")

    # DateTime comes back naive, in the server's time zone (UTC): the same instants as inserted.
    assert got == [(i, n, u, at.astimezone(UTC).replace(tzinfo=None), s) for i, n, u, at, s in ROWS]
    assert [tuple(type(v) for v in row) for row in got] == [(int, str, str, datetime, float)] * 3
    assert ch.rows(f"SELECT count(), sum(id) FROM {table}") == [(3, 6)]


# Columns of the test table plus computed ones: NULL, arrays, a tuple-free mix of numbers.
TEXT_QUERY = (
    "SELECT id, name, uid, at, score, toDate(at) AS day, toNullable(NULL) AS nothing, "
    "[name, 'it''s'] AS names, [id, id * 2] AS ids, toFloat32(score / 10) AS f32, "
    "toInt64(-id) AS negative FROM {table} ORDER BY id"
)


@pytest.mark.parametrize("fmt", ["TabSeparated", "TabSeparatedWithNames", "CSV", "CSVWithNames",
                                 "JSONEachRow"])
def test_text_renders_formats_as_the_server_does(
    ch: ServerClickHouse, server: Server, table: str, fmt: str
) -> None:
    ch.insert(table, ["id", "name", "uid", "at", "score"], ROWS)
    sql = TEXT_QUERY.format(table=table)

    assert ch.text(sql, fmt) == server.http(sql, fmt)


def test_text_formats_by_example(ch: ServerClickHouse, table: str) -> None:
    ch.insert(table, ["id", "name", "uid", "at", "score"], ROWS[:2])
    sql = f"SELECT id, name, at, score FROM {table} ORDER BY id"

    assert ch.text(sql, "TabSeparatedWithNames") == (
        b"id\tname\tat\tscore\n"
        b"1\tplain\t2024-01-02 03:04:05\t1.5\n"
        b"2\ttab\\tnew\\nline \"q\" \\'a\\' back\\\\slash, comma \xc3\xa9\t2024-01-02 03:04:05\t-0.25\n"
    )
    assert ch.text(sql, "CSV") == (
        b'1,"plain","2024-01-02 03:04:05",1.5\n'
        b'2,"tab\tnew\nline ""q"" \'a\' back\\slash, comma \xc3\xa9","2024-01-02 03:04:05",-0.25\n'
    )
    decoded = [msgspec.json.decode(line) for line in ch.text(sql, "JSONEachRow").splitlines()]
    assert decoded == [
        {"id": 1, "name": "plain", "at": "2024-01-02 03:04:05", "score": 1.5},
        {"id": 2, "name": ROWS[1][1], "at": "2024-01-02 03:04:05", "score": -0.25},
    ]
    assert ch.text(f"SELECT id FROM {table} WHERE id > 100", "JSONEachRow") == b""


def test_a_format_clause_in_the_sql_wins(ch: ServerClickHouse, server: Server, table: str) -> None:
    ch.insert(table, ["id", "name", "uid", "at", "score"], ROWS)
    sql = f"SELECT id, name, score FROM {table} ORDER BY id"

    assert ch.text(f"{sql} FORMAT CSVWithNames", "JSONEachRow") == server.http(sql, "CSVWithNames")
    assert ch.text(f"{sql}\nformat JSONEachRow ;", "TabSeparated") == server.http(sql, "JSONEachRow")


def test_a_format_the_adapter_cannot_render_is_refused(ch: ServerClickHouse) -> None:
    with pytest.raises(ClickHouseError) as caught:
        ch.text("SELECT 1", "Pretty")
    assert caught.value.retryable is False
    assert "Pretty" in str(caught.value)


def test_server_errors_are_not_retryable_and_name_the_problem(ch: ServerClickHouse) -> None:
    with pytest.raises(ClickHouseError) as caught:
        ch.rows("SELECT * FROM default.no_such_table_here")
    assert caught.value.retryable is False
    message = str(caught.value)
    assert "Code: 60." in message and "no_such_table_here" in message and "doesn't exist" in message
    assert "Stack trace" not in message and "\n" not in message

    with pytest.raises(ClickHouseError) as caught:
        ch.command("CREATE TABLE default.broken (")
    assert caught.value.retryable is False
    assert "Syntax error" in str(caught.value)

    with pytest.raises(ClickHouseError) as caught:
        ch.insert("default.no_such_table_here", ["a"], [(1,)])
    assert caught.value.retryable is False

    assert ch.rows("SELECT 1") == [(1,)]  # the same client goes on after errors


def test_reconnects_after_the_server_is_killed_and_restarted(
    ch: ServerClickHouse, server: Server, table: str
) -> None:
    ch.insert(table, ["id", "name", "uid", "at", "score"], ROWS)
    assert ch.rows("SELECT 1") == [(1,)]  # an open connection, about to break

    server.kill()
    try:
        for attempt in (lambda: ch.rows("SELECT 1"),  # the broken connection
                        lambda: ch.rows("SELECT 1"),  # a refused new one
                        lambda: ch.command("SELECT 1"),
                        lambda: ch.insert(table, ["id"], [(9,)]),
                        lambda: ch.text("SELECT 1", "CSV")):
            with pytest.raises(ClickHouseError) as caught:
                attempt()
            assert caught.value.retryable is True
            assert "unreachable" in str(caught.value)
    finally:
        server.script("start")

    # The same object, not a new one, works again, and sees the rows written before the kill.
    assert ch.rows(f"SELECT count() FROM {table}") == [(3,)]
    ch.insert(table, ["id", "name", "uid", "at", "score"], [ROWS[0]])
    assert ch.rows(f"SELECT count() FROM {table}") == [(4,)]
