"""What every writable ClickHouse backend promises the pipeline, run on each of them.

Always on chDB (EmbeddedClickHouse, in this process); also on a ClickHouse server when
CLICKHOUSE_URL names one (clickhouse://user:password@host:9000/default). That server must be
recent enough for schemas/clickhouse/tables.sql (DateTime64, now64, CODEC): Debian's 18.16, which
tests/integration/test_clickhouse_server_adapter.py runs, is not.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from product_analytics.clickhouse import ClickHouse, ClickHouseError, apply_schema

pytestmark = pytest.mark.integration

TABLES = ["events", "events_with_current_person", "identity_links", "ingestion_warnings",
          "person_distinct_ids", "person_property_state", "persons"]
PERSON_COLUMNS = ["id", "distinct_id", "properties", "is_identified", "is_deleted", "created_at",
                  "version"]


@pytest.fixture(scope="module", params=["chdb", "server"])
def backend(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    ch: ClickHouse
    if request.param == "chdb":
        from product_analytics.clickhouse.embedded import EmbeddedClickHouse

        ch = EmbeddedClickHouse(tmp_path_factory.mktemp("chdb"))
    else:
        url = os.environ.get("CLICKHOUSE_URL")
        if not url:
            pytest.skip("CLICKHOUSE_URL is not set: no ClickHouse server to hold to the contract "
                        "(set it to clickhouse://default:@host:9000/default to include one)")
        from product_analytics.clickhouse.server import ServerClickHouse

        ch = ServerClickHouse(url)
    yield ch
    ch.close()


@pytest.fixture(scope="module")
def database(backend: ClickHouse) -> Iterator[str]:
    """The schema, applied twice, in a database of this run's own."""
    name = f"pa_contract_{uuid.uuid4().hex[:10]}"
    apply_schema(backend, name)
    apply_schema(backend, name)
    yield name
    backend.command(f"DROP DATABASE IF EXISTS {name}")


def _as_datetime(value: Any) -> datetime:
    """A DateTime64(6, 'UTC') as a naive UTC datetime: the server returns an aware datetime, chDB
    its text."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _person(person_id: str, version: int, properties: dict[str, Any]) -> tuple[Any, ...]:
    created = datetime(2024, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    return (person_id, f"d-{person_id[:8]}", msgspec.json.encode(properties).decode(),
            int(version > 1), 0, created, version)


def test_apply_schema_is_idempotent(backend: ClickHouse, database: str) -> None:
    apply_schema(backend, database)  # a third time, over the tables the fixture made

    rows = backend.rows(
        f"SELECT name FROM system.tables WHERE database = '{database}' ORDER BY name")
    assert [name for (name,) in rows] == TABLES


def test_final_returns_the_latest_version_of_a_person(backend: ClickHouse, database: str) -> None:
    person = str(uuid.uuid4())
    # Two inserts, so two parts: FINAL, not a merge that may or may not have run, picks the row.
    backend.insert(f"{database}.persons", PERSON_COLUMNS, [_person(person, 2, {"plan": "pro"})])
    backend.insert(f"{database}.persons", PERSON_COLUMNS, [_person(person, 1, {"plan": "free"})])

    rows = backend.rows(
        f"SELECT id, distinct_id, properties, is_identified, is_deleted, created_at, version "
        f"FROM {database}.persons FINAL WHERE id = '{person}'")

    assert len(rows) == 1
    person_id, distinct_id, properties, is_identified, is_deleted, created_at, version = rows[0]
    assert (person_id, distinct_id, version) == (person, f"d-{person[:8]}", 2)
    assert msgspec.json.decode(properties) == {"plan": "pro"}
    assert (is_identified, is_deleted) == (1, 0)
    assert _as_datetime(created_at) == datetime(2024, 3, 4, 5, 6, 7, 123456)


def test_rows_returns_plain_python_types(backend: ClickHouse, database: str) -> None:
    person = str(uuid.uuid4())
    backend.insert(f"{database}.persons", PERSON_COLUMNS, [_person(person, 7, {})])

    ((person_id, version, flag, text, created_at, share),) = backend.rows(
        f"SELECT id, version, is_identified, distinct_id, created_at, 0.5 "
        f"FROM {database}.persons FINAL WHERE id = '{person}'")
    ((count,),) = backend.rows(f"SELECT count() FROM {database}.persons WHERE id = '{person}'")

    assert (person_id, version, flag, text, count, share) == (person, 7, 1, f"d-{person[:8]}", 1, 0.5)
    assert [type(v) for v in (person_id, version, flag, text, count, share)] == \
        [str, int, int, str, int, float]
    assert isinstance(created_at, datetime | str)
    assert backend.rows(f"SELECT id FROM {database}.persons WHERE id = '{uuid.uuid4()}'") == []


def test_text_renders_json_each_row(backend: ClickHouse, database: str) -> None:
    person = str(uuid.uuid4())
    backend.insert(f"{database}.persons", PERSON_COLUMNS, [_person(person, 3, {"a": "b\tc"})])
    sql = (f"SELECT id, distinct_id, properties, version, created_at "
           f"FROM {database}.persons FINAL WHERE id = '{person}'")

    expected = msgspec.json.encode({
        "id": person, "distinct_id": f"d-{person[:8]}", "properties": '{"a":"b\\tc"}',
        "version": 3, "created_at": "2024-03-04 05:06:07.123456",
    }) + b"\n"
    assert backend.text(sql, "JSONEachRow") == expected
    assert backend.text(f"{sql} FORMAT JSONEachRow", "TabSeparated") == expected


def test_errors_raise_clickhouse_error(backend: ClickHouse, database: str) -> None:
    with pytest.raises(ClickHouseError) as caught:
        backend.rows(f"SELECT * FROM {database}.no_such_table")
    assert caught.value.retryable is False
    assert "no_such_table" in str(caught.value)

    with pytest.raises(ClickHouseError) as caught:
        backend.command(f"CREATE TABLE {database}.broken (")
    assert caught.value.retryable is False

    with pytest.raises(ClickHouseError) as caught:
        backend.text(f"SELECT nonexistent_column FROM {database}.persons", "JSONEachRow")
    assert caught.value.retryable is False

    assert backend.rows("SELECT 1") == [(1,)]  # the backend is still usable
