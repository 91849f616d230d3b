"""The browser SDK end to end: Chromium runs the bundle the gateway serves, ClickHouse shows it.

sdk/browser/test/e2e/drive.mjs walks the scenario in a real browser (anonymous pageviews,
identify, person properties, alias, reloads, reset, an offline spell) and prints the ids it
saw; these tests check the events, persons and distinct-id links those calls produced.
"""

import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

SDK_DIR = Path(__file__).resolve().parents[2] / "sdk" / "browser"
DRIVER = SDK_DIR / "test" / "e2e" / "drive.mjs"
CHROMIUM = Path("/usr/bin/chromium")
# The scenario takes about ten seconds; the rest is headroom for a loaded 2-core machine.
DRIVER_TIMEOUT_S = 180
UUID_V7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def sql_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)


@pytest.fixture(scope="module")
def run(stack: Any) -> dict[str, Any]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (make chromium)")
    if not (SDK_DIR / "node_modules").is_dir():
        pytest.skip("sdk/browser/node_modules is missing (make sdk-build)")
    env = {
        **os.environ,
        "GATEWAY_URL": stack.gateway_url,
        "API_KEY": stack.api_key,
        "RUN_ID": uuid.uuid4().hex[:12],
    }
    proc = subprocess.run(
        ["node", str(DRIVER)],
        cwd=SDK_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=DRIVER_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, f"drive.mjs failed:\n{proc.stderr}\n{proc.stdout}"
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    # Shorthands for the SQL below.
    result["anon2"] = result["afterReset"]["distinctId"]
    result["anon3"] = result["afterResetDevice"]["distinctId"]
    result["device2"] = result["afterResetDevice"]["deviceId"]
    return result


def test_browser_keeps_and_resets_ids(run: dict[str, Any]) -> None:
    anon1, device1 = run["anon1"], run["device1"]
    assert UUID_V7.match(anon1)
    assert UUID_V7.match(device1)
    assert run["afterReload"] == {"distinctId": anon1, "deviceId": device1}
    assert run["identified"] == {"distinctId": run["user"], "deviceId": device1}
    assert run["identifiedAfterReload"] == run["identified"]

    assert UUID_V7.match(run["anon2"])
    assert run["anon2"] not in (anon1, run["user"])
    assert run["afterReset"]["deviceId"] == device1

    assert UUID_V7.match(run["anon3"])
    assert run["anon3"] != run["anon2"]
    assert run["device2"] not in (device1, run["anon2"])

    assert run["flushResolved"] is True
    assert run["offlineFlushResolved"] is True
    assert run["pageErrors"] == []


def test_placeholder_and_repeated_identify_are_refused_in_the_browser(
    run: dict[str, Any],
) -> None:
    warnings = run["warnings"]
    assert any("refused placeholder" in w and "anonymous" in w for w in warnings), warnings
    assert any("already identified" in w for w in warnings), warnings


def test_offline_events_wait_and_go_out_once(run: dict[str, Any]) -> None:
    wire = run["wire"]
    assert run["onLineWhileOffline"] is False
    assert wire["requestsWhileOffline"] == 0
    assert wire["byEvent"]["offline_event"] == {"uuids": 3, "deliveries": 3}
    for event, seen in wire["byEvent"].items():
        assert seen["deliveries"] == seen["uuids"], f"{event} was delivered twice"


def test_events_land_exactly_once(stack: Any, run: dict[str, Any]) -> None:
    ids = [run["anon1"], run["user"], run["anon2"], run["anon3"]]
    expected = {
        ("$pageview", run["anon1"]): 3,
        ("unload_event", run["anon1"]): 1,  # sent by sendBeacon on page hide
        ("$identify", run["user"]): 1,
        ("$set", run["user"]): 2,
        ("$create_alias", run["user"]): 1,
        ("identified_event", run["user"]): 1,
        ("after_reset", run["anon2"]): 1,
        ("after_reset_device", run["anon3"]): 1,
        ("offline_event", run["anon3"]): 3,
    }
    rows = stack.wait_for(
        f"""
        SELECT event, distinct_id, count() AS n, uniqExact(uuid) AS uuids
        FROM product_analytics.events
        WHERE distinct_id IN ({sql_list(ids)})
        GROUP BY event, distinct_id
        """,
        lambda rows: sum(int(r["n"]) for r in rows) >= sum(expected.values()),
    )
    assert {(r["event"], r["distinct_id"]): int(r["n"]) for r in rows} == expected
    assert {(r["event"], r["distinct_id"]): int(r["uuids"]) for r in rows} == expected


def test_events_carry_sdk_properties(stack: Any, run: dict[str, Any]) -> None:
    ids = [run["anon1"], run["user"], run["anon2"], run["anon3"]]
    rows = stack.query(
        f"""
        SELECT
            event,
            JSONExtractString(properties, '$device_id') AS device_id,
            JSONExtractString(properties, '$lib') AS lib,
            JSONExtractString(properties, '$anon_distinct_id') AS anon_distinct_id,
            JSONExtractString(properties, 'alias') AS alias
        FROM product_analytics.events
        WHERE distinct_id IN ({sql_list(ids)})
        """
    )
    by_event = {r["event"]: r for r in rows}
    assert {r["lib"] for r in rows} == {"analytics-web"}
    assert by_event["$identify"]["anon_distinct_id"] == run["anon1"]
    assert by_event["$create_alias"]["alias"] == run["alias"]
    assert by_event["after_reset"]["device_id"] == run["device1"]
    assert by_event["after_reset_device"]["device_id"] == run["device2"]


def test_identified_person_has_merged_properties(stack: Any, run: dict[str, Any]) -> None:
    rows = stack.wait_for(
        f"""
        SELECT
            id,
            is_identified,
            JSONExtractString(properties, 'email') AS email,
            JSONExtractString(properties, 'plan') AS plan,
            JSONExtractString(properties, 'first_seen_source') AS first_seen_source
        FROM product_analytics.persons FINAL
        WHERE distinct_id = {sql_list([run["user"]])}
          AND is_deleted = 0
        """,
        lambda rows: len(rows) == 1 and rows[0]["plan"] == "enterprise",
    )
    person = rows[0]
    assert person["email"] == run["email"]
    assert person["first_seen_source"] == "pricing_page"  # $set_once 'invite' did not overwrite
    assert int(person["is_identified"]) == 1


def test_anonymous_identified_and_alias_ids_share_one_person(
    stack: Any, run: dict[str, Any]
) -> None:
    linked = [run["anon1"], run["user"], run["alias"]]
    rows = stack.wait_for(
        f"""
        SELECT distinct_id, toString(person_id) AS person_id
        FROM product_analytics.person_distinct_ids FINAL
        WHERE distinct_id IN ({sql_list(linked)})
          AND is_deleted = 0
        """,
        lambda rows: len(rows) == 3 and len({r["person_id"] for r in rows}) == 1,
    )
    person_id = rows[0]["person_id"]
    persons = stack.query(
        f"""
        SELECT toString(id) AS id
        FROM product_analytics.persons FINAL
        WHERE distinct_id = {sql_list([run["user"]])} AND is_deleted = 0
        """
    )
    assert [p["id"] for p in persons] == [person_id]

    # Ids created by reset() start new anonymous people of their own.
    others = stack.wait_for(
        f"""
        SELECT distinct_id, toString(person_id) AS person_id
        FROM product_analytics.person_distinct_ids FINAL
        WHERE distinct_id IN ({sql_list([run["anon2"], run["anon3"]])})
          AND is_deleted = 0
        """,
        lambda rows: len(rows) == 2,
    )
    other_people = {r["person_id"] for r in others}
    assert len(other_people) == 2
    assert person_id not in other_people
