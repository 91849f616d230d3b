"""The user documentation's backend examples, verbatim, against the running stack."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import Stack

pytestmark = pytest.mark.e2e

IDENTIFY_BODY = b"""{
    "api_key": "local_dev_key",
    "batch": [
      {
        "event": "$identify",
        "distinct_id": "user_123",
        "properties": {
          "$anon_distinct_id": "anonymous_device_abc",
          "$set": {
            "email": "user@example.com",
            "plan": "pro"
          },
          "$set_once": {
            "first_seen_source": "pricing_page"
          }
        }
      }
    ]
  }"""

ALIAS_BODY = b"""{
    "api_key": "local_dev_key",
    "batch": [
      {
        "event": "$create_alias",
        "distinct_id": "frontend_user_123",
        "properties": {
          "alias": "backend_user_123"
        }
      }
    ]
  }"""

PERSON_QUERY = """SELECT
    distinct_id,
    JSONExtractString(properties, 'email') AS email,
    JSONExtractString(properties, 'plan') AS plan,
    JSONExtractString(properties, 'first_seen_source') AS first_seen_source
FROM product_analytics.persons FINAL
WHERE distinct_id = 'user_123'
  AND is_deleted = 0;"""

DISTINCT_IDS_QUERY = """SELECT
    person_id,
    groupArray(distinct_id) AS distinct_ids
FROM product_analytics.person_distinct_ids FINAL
WHERE is_deleted = 0
GROUP BY person_id
HAVING has(distinct_ids, 'user_123');"""

JOIN_QUERY = """WITH latest_people AS (
    SELECT
        id,
        properties
    FROM product_analytics.persons FINAL
    WHERE is_deleted = 0
)
SELECT
    e.timestamp,
    e.event,
    e.distinct_id,
    JSONExtractString(p.properties, 'email') AS email,
    JSONExtractString(e.properties, 'plan') AS event_plan
FROM product_analytics.events AS e
LEFT JOIN latest_people AS p ON p.id = e.person_id
WHERE e.timestamp >= now() - INTERVAL 7 DAY
ORDER BY e.timestamp DESC
LIMIT 100;"""


def curl(stack: Stack, body: bytes) -> str:
    """The documentation's curl command, pointed at the test gateway."""
    result = subprocess.run(
        ["curl", "-sS", "-X", "POST", f"{stack.gateway_url}/batch/",
         "-H", "content-type: application/json", "-d", body.decode()],
        capture_output=True, text=True, check=True, timeout=60,
    )
    return result.stdout


def tsv(stack: Stack, sql: str) -> list[list[str]]:
    out = stack.cli("query", sql).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_seed_curl_and_queries(stack: Stack) -> None:
    assert '"status":1' in curl(stack, IDENTIFY_BODY)
    assert '"status":1' in curl(stack, ALIAS_BODY)

    stack.wait_for("SELECT 1 FROM product_analytics.person_distinct_ids FINAL "
                   "WHERE distinct_id IN ('anonymous_device_abc', 'backend_user_123')",
                   lambda rows: len(rows) == 2)

    assert tsv(stack, PERSON_QUERY) == [
        ["user_123", "user@example.com", "pro", "pricing_page"]]

    ((_person_id, ids),) = tsv(stack, DISTINCT_IDS_QUERY)
    assert sorted(ids.strip("[]").replace("'", "").split(",")) == [
        "anonymous_device_abc", "user_123"]

    alias_rows = stack.query(
        "SELECT distinct_id, person_id FROM product_analytics.person_distinct_ids FINAL "
        "WHERE distinct_id IN ('backend_user_123', 'frontend_user_123') AND is_deleted = 0")
    assert len(alias_rows) == 2
    assert len({r["person_id"] for r in alias_rows}) == 1

    joined = tsv(stack, JOIN_QUERY)
    identify_rows = [r for r in joined if r[1] == "$identify" and r[2] == "user_123"]
    assert identify_rows and identify_rows[0][3] == "user@example.com"
    assert any(r[1] == "$create_alias" and r[2] == "frontend_user_123" for r in joined)


def test_later_set_overwrites_and_set_once_does_not(stack: Stack) -> None:
    stack.send([{"event": "$identify", "distinct_id": "user_123",
                 "properties": {"$anon_distinct_id": "anonymous_device_abc",
                                "$set": {"email": "user@example.com", "plan": "pro"},
                                "$set_once": {"first_seen_source": "pricing_page"}}}])
    stack.send([{"event": "$set", "distinct_id": "user_123",
                 "properties": {"$set": {"plan": "enterprise"},
                                "$set_once": {"first_seen_source": "invite"}}}])
    rows = stack.wait_for(
        "SELECT JSONExtractString(properties, 'plan') AS plan, "
        "JSONExtractString(properties, 'first_seen_source') AS source "
        "FROM product_analytics.persons FINAL WHERE distinct_id = 'user_123' AND is_deleted = 0",
        lambda rows: rows and rows[0]["plan"] == "enterprise")
    assert rows == [{"plan": "enterprise", "source": "pricing_page"}]


def test_query_cli_formats_and_errors(stack: Stack) -> None:
    out = stack.cli("query", "SELECT 1 AS x, 'a' AS y", "--format", "JSONEachRow").stdout
    assert out.strip() == '{"x":1,"y":"a"}'
    assert stack.cli("query", "SELECT 2 FORMAT CSV").stdout.strip() == "2"
    failed = stack.cli("query", "SELECT 1 +", check=False)
    assert failed.returncode == 1 and "Syntax error" in failed.stderr
    refused = stack.cli("query", "DROP TABLE product_analytics.events", check=False)
    assert refused.returncode == 1 and "read-only" in refused.stderr.lower()


def test_restart_keeps_every_row(stack: Stack) -> None:
    counts = ("SELECT (SELECT count() FROM product_analytics.events) AS events, "
              "(SELECT count() FROM product_analytics.persons FINAL) AS persons, "
              "(SELECT count() FROM product_analytics.person_distinct_ids FINAL) AS ids")
    before = stack.query(counts)
    assert before[0]["events"] > 0
    stack.down()
    stack.up()
    assert stack.query(counts) == before
