"""Session fixtures: a real Kafka broker and the real stack, started by the test run itself.

They use their own ports and a temporary data directory, so `make test` runs beside a stack
started with `make up` without touching it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

REPO = Path(__file__).resolve().parent.parent
KAFKA_SH = REPO / "deploy" / "kafka" / "kafka.sh"
# PA_TEST_PORT_OFFSET moves every port, so two test runs can share a machine.
_OFFSET = int(os.environ.get("PA_TEST_PORT_OFFSET", "0"))
TEST_KAFKA_PORT = 19092 + _OFFSET
TEST_CONTROLLER_PORT = 19093 + _OFFSET
TEST_GATEWAY_PORT = 18080 + _OFFSET
TEST_SQL_PORT = 18123 + _OFFSET
API_KEY = "local_dev_key"


def _kafka(action: str, data: Path) -> None:
    env = {**os.environ, "KAFKA_PORT": str(TEST_KAFKA_PORT),
           "KAFKA_CONTROLLER_PORT": str(TEST_CONTROLLER_PORT), "KAFKA_DATA": str(data)}
    subprocess.run(["bash", str(KAFKA_SH), action], env=env, check=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("kafka")
    _kafka("start", data)
    yield f"127.0.0.1:{TEST_KAFKA_PORT}"
    _kafka("stop", data)


@dataclass
class Stack:
    data_dir: Path
    env: dict[str, str]
    gateway_url: str = f"http://127.0.0.1:{TEST_GATEWAY_PORT}"
    sql_url: str = f"http://127.0.0.1:{TEST_SQL_PORT}"
    api_key: str = API_KEY
    workers: int = 2
    _decoder: Any = field(default_factory=lambda: msgspec.json.Decoder(dict[str, Any]))

    def cli(self, *args: str, check: bool = True, timeout: float = 300,
            **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "product_analytics.cli", *args],
            env={**self.env, **env}, capture_output=True, text=True, timeout=timeout,
            check=check, cwd=REPO,
        )

    def query(self, sql: str) -> list[dict[str, Any]]:
        request = urllib.request.Request(
            f"{self.sql_url}/?default_format=JSONEachRow", data=sql.encode(), method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
        return [self._decoder.decode(line) for line in body.splitlines() if line.strip()]

    def wait_for(self, sql: str, predicate: Callable[[list[dict[str, Any]]], bool],
                 timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        rows = self.query(sql)
        while not predicate(rows):
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout}s waiting on: {sql}\nlast rows: {rows}")
            time.sleep(0.3)
            rows = self.query(sql)
        return rows

    def post(self, path: str, body: bytes | dict[str, Any] | list[Any],
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else msgspec.json.encode(body)
        request = urllib.request.Request(
            self.gateway_url + path, data=data, method="POST",
            headers={"content-type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, msgspec.json.decode(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, msgspec.json.decode(exc.read() or b"{}")

    def send(self, events: list[dict[str, Any]]) -> None:
        status, body = self.post("/batch/", {"api_key": self.api_key, "batch": events})
        assert status == 200, body

    def drain(self, timeout: float = 120) -> None:
        """Wait until everything sent so far is in ClickHouse.

        Partitions keep order from gateway to loader, so once a marker event sent now is
        loaded on every partition, everything sent before it is too. 100 random ids reach
        all 8 partitions except with negligible probability. The loader writes the resolver
        state last in each flush, so a marker's state row means its whole flush is visible.
        """
        marker = uuid.uuid4().hex
        self.send([{"event": "drain_marker", "distinct_id": f"drain-{marker}-{i}"}
                   for i in range(100)])
        self.wait_for(
            f"SELECT count() AS n FROM product_analytics.person_property_state "
            f"WHERE distinct_id LIKE 'drain-{marker}-%'",
            lambda rows: rows[0]["n"] == 100, timeout=timeout)

    def pid(self, name: str) -> int:
        return int((self.data_dir / "run" / f"{name}.pid").read_text())

    def up(self) -> None:
        result = self.cli("stack", "up", "--workers", str(self.workers), check=False)
        assert result.returncode == 0, result.stdout + result.stderr

    def down(self) -> None:
        self.cli("stack", "down", check=False)


def stack_env(kafka_bootstrap: str, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP": kafka_bootstrap,
        "PA_DATA_DIR": str(data_dir),
        "PA_CHDB_PATH": str(data_dir / "clickhouse"),
        "PA_GATEWAY_PORT": str(TEST_GATEWAY_PORT),
        "PA_SQL_PORT": str(TEST_SQL_PORT),
        "PA_API_KEYS": API_KEY,
        "PA_PARTITIONS": "8",
    }


@pytest.fixture(scope="session")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    running = Stack(data_dir=data_dir, env=stack_env(kafka_bootstrap, data_dir))
    running.cli("topics")
    running.up()
    yield running
    running.down()


@pytest.fixture
def unique() -> str:
    """A suffix that keeps one test's ids apart from every other test's and run's."""
    return uuid.uuid4().hex[:10]
