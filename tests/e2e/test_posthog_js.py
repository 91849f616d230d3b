"""The unmodified posthog-js browser SDK, pointed at the gateway, in a real browser.

tests/compat/posthog-js/drive.mjs loads posthog-js (the version pinned in that folder's
package.json) from node_modules into a page served on its own port, points `api_host` at the
gateway and walks: capture, identify, capture, alias, setPersonProperties and a page leave
(sendBeacon) with person_profiles 'always', then the default 'identified_only' with plain
JSON bodies and remote config loaded as a script. It prints the ids it saw and every request
the browser made to the gateway; these tests check that wire and what landed in ClickHouse.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack

pytestmark = pytest.mark.e2e

COMPAT_DIR = Path(__file__).resolve().parents[1] / "compat" / "posthog-js"
DRIVER = COMPAT_DIR / "drive.mjs"
CHROMIUM = Path("/usr/bin/chromium")
# The scenario takes about ten seconds; the rest is headroom for a loaded 2-core machine.
DRIVER_TIMEOUT_S = 240
CAPTURE_PATHS = {"/e/", "/i/v0/e/", "/batch/", "/capture/", "/track/", "/engage/"}


def sql_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)


@pytest.fixture(scope="module")
def run(stack: Stack) -> dict[str, Any]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (make chromium)")
    if not (COMPAT_DIR / "node_modules").is_dir():
        pytest.skip("tests/compat/posthog-js/node_modules is missing (make posthog-js-compat-deps)")
    env = {
        **os.environ,
        "GATEWAY_URL": stack.gateway_url,
        "API_KEY": stack.api_key,
        "RUN_ID": uuid.uuid4().hex[:12],
    }
    proc = subprocess.run(
        ["node", str(DRIVER)], cwd=COMPAT_DIR, env=env, capture_output=True, text=True,
        timeout=DRIVER_TIMEOUT_S, check=False,
    )
    assert proc.returncode == 0, f"drive.mjs failed:\n{proc.stderr}\n{proc.stdout}"
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_runs_the_pinned_posthog_js(run: dict[str, Any]) -> None:
    package = json.loads((COMPAT_DIR / "package.json").read_text())
    assert run["posthogJsVersion"] == package["devDependencies"]["posthog-js"]
    assert run["identified"] == run["user"]
    assert run["anon"] == run["device"]  # posthog-js starts with distinct_id = $device_id
    assert run["identifiedOnly"]["personProfiles"] == "identified_only"
    assert run["identifiedOnly"]["identified"] == run["identifiedOnly"]["user"]
    assert run["pageErrors"] == []
    assert [line for line in run["console"] if line.startswith("error")] == []
    assert run["foreignRequests"] == []  # nothing was loaded from PostHog's CDN


def test_every_request_is_answered_2xx_with_cors(run: dict[str, Any]) -> None:
    requests = run["requests"]
    assert requests
    for request in requests:
        assert 200 <= request["status"] < 300, request
        if request["type"] == "fetch":  # a cross-origin page may read the answer
            assert request["allowOrigin"], request
    # The gateway's own count covers the page-leave beacons, which the browser does not report.
    assert set(run["gatewayStatuses"]) <= {"200", "204"}, run["gatewayStatuses"]
    assert set(run["unloadStatuses"]) <= {"200", "204"}
    assert set(run["identifiedOnly"]["unloadStatuses"]) <= {"200", "204"}
    captures = [r for r in requests if r["method"] == "POST" and r["path"] in CAPTURE_PATHS]
    assert sum(run["gatewayStatuses"].values()) >= len(captures) + 2


def test_what_posthog_js_sends(run: dict[str, Any]) -> None:
    def seen(phase: str) -> set[tuple[str, str, str | None, str | None]]:
        return {(r["method"], r["path"], r["contentType"], r.get("encoding"))
                for r in run["requests"] if r["phase"] == phase}

    # gzip (advertised in remote config as supportedCompression) as text/plain, to /e/.
    assert seen("always") == {
        ("GET", "/array/local_dev_key/config", None, None),
        ("POST", "/flags/", "text/plain", None),
        ("POST", "/e/", "text/plain", "gzip"),
    }
    # With disable_compression: plain JSON; remote config loads as a script.
    assert seen("identified_only") == {
        ("GET", "/array/local_dev_key/config.js", None, None),
        ("POST", "/flags/", "application/json", None),
        ("POST", "/e/", "application/json", "json"),
    }
    captures = [r for r in run["requests"] if r["path"] == "/e/"]
    assert {r["shape"] for r in captures} == {"batch"}
    assert {e["lib"] for r in captures for e in r["events"]} == {"web"}


def test_events_land_once_as_web_events(stack: Stack, run: dict[str, Any]) -> None:
    anon, user, alias = run["anon"], run["user"], run["alias"]
    io = run["identifiedOnly"]
    expected = {
        ("$pageview", anon): 1,
        ("compat_custom_event", anon): 1,
        ("$identify", user): 1,
        ("after_identify", user): 1,
        ("$create_alias", user): 1,
        ("$set", user): 1,
        ("before_unload", user): 1,  # queued, sent by sendBeacon on page leave
        ("$pageleave", user): 1,
        ("$pageview", io["anon"]): 1,
        ("io_anonymous_event", io["anon"]): 1,
        ("$identify", io["user"]): 1,
        ("io_after_identify", io["user"]): 1,
        ("io_before_unload", io["user"]): 1,
        ("$pageleave", io["user"]): 1,
    }
    rows = stack.wait_for(
        f"""
        SELECT event, distinct_id, count() AS n, uniqExact(uuid) AS uuids,
               groupUniqArray(JSONExtractString(properties, '$lib')) AS libs
        FROM product_analytics.events
        WHERE distinct_id IN ({sql_list([anon, user, alias, io["anon"], io["user"]])})
        GROUP BY event, distinct_id
        """,
        lambda rows: sum(int(r["n"]) for r in rows) >= sum(expected.values()),
    )
    assert {(r["event"], r["distinct_id"]): int(r["n"]) for r in rows} == expected
    assert {(r["event"], r["distinct_id"]): int(r["uuids"]) for r in rows} == expected
    assert {lib for r in rows for lib in r["libs"]} == {"web"}

    links = stack.query(
        f"""
        SELECT event,
               JSONExtractString(properties, '$anon_distinct_id') AS anon_distinct_id,
               JSONExtractString(properties, 'alias') AS alias
        FROM product_analytics.events
        WHERE distinct_id IN ({sql_list([user, io["user"]])})
          AND event IN ('$identify', '$create_alias')
        """
    )
    assert sorted((r["event"], r["anon_distinct_id"], r["alias"]) for r in links) == sorted([
        ("$identify", anon, ""), ("$identify", io["anon"], ""), ("$create_alias", "", alias)])


def person_of(stack: Stack, ids: list[str]) -> str:
    """The one live person all `ids` map to (waits for the loader)."""
    rows = stack.wait_for(
        f"""
        SELECT distinct_id, toString(person_id) AS person_id
        FROM product_analytics.person_distinct_ids FINAL
        WHERE distinct_id IN ({sql_list(ids)}) AND is_deleted = 0
        """,
        lambda rows: len(rows) == len(ids) and len({r["person_id"] for r in rows}) == 1,
    )
    person_id: str = rows[0]["person_id"]
    return person_id


def person_properties(stack: Stack, person_id: str, until: str) -> dict[str, Any]:
    rows = stack.wait_for(
        f"""
        SELECT distinct_id, is_identified, properties
        FROM product_analytics.persons FINAL
        WHERE toString(id) = '{person_id}' AND is_deleted = 0
        """,
        lambda rows: len(rows) == 1 and until in json.loads(rows[0]["properties"]),
    )
    assert int(rows[0]["is_identified"]) == 1
    properties: dict[str, Any] = json.loads(rows[0]["properties"])
    return properties


def test_anonymous_identified_and_alias_ids_are_one_person(
    stack: Stack, run: dict[str, Any]
) -> None:
    person_id = person_of(stack, [run["anon"], run["user"], run["alias"]])
    properties = person_properties(stack, person_id, until="plan")
    assert properties["email"] == run["email"]
    assert properties["first_source"] == "posthog-js-compat"
    assert properties["plan"] == "pro"
    # posthog-js adds the initial referrer and URL to every identify's $set_once.
    assert properties["$initial_referrer"] == "$direct"


def test_identified_only_links_the_personless_anonymous_id(
    stack: Stack, run: dict[str, Any]
) -> None:
    io = run["identifiedOnly"]
    rows = stack.query(
        f"""
        SELECT event, JSONExtract(properties, '$process_person_profile', 'Nullable(Bool)') AS ppp
        FROM product_analytics.events
        WHERE distinct_id IN ({sql_list([io["anon"], io["user"]])})
        """
    )
    by_event = {r["event"]: r["ppp"] for r in rows}
    assert by_event["io_anonymous_event"] is False  # personless until identify
    assert by_event["$identify"] is True
    assert by_event["io_after_identify"] is True

    person_id = person_of(stack, [io["anon"], io["user"]])
    assert person_properties(stack, person_id, until="email")["email"] == io["email"]
