"""Unmodified PostHog SDKs, pointed at the gateway, identify and capture for real."""

from __future__ import annotations

import json
import logging

import pytest
from posthog import Posthog

from tests.conftest import Stack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("gzip", [False, True], ids=["json", "gzip"])
def test_posthog_python_capture_alias_and_set(stack: Stack, unique: str, gzip: bool) -> None:
    logging.getLogger("posthog").setLevel(logging.CRITICAL)  # flag polling has nothing to poll
    errors: list[object] = []
    client = Posthog(stack.api_key, host=stack.gateway_url, sync_mode=True, gzip=gzip,
                     on_error=lambda error, _items: errors.append(error),
                     enable_local_evaluation=False)
    anon, user = f"py-anon-{unique}", f"py-user-{unique}"
    client.capture("signed_up", distinct_id=anon, properties={"plan": "pro"})
    client.set(distinct_id=user, properties={"email": f"{unique}@example.com"})
    client.set_once(distinct_id=user, properties={"source": "python"})
    client.alias(anon, user)  # sends $create_alias with distinct_id=anon, alias=user
    client.shutdown()
    assert errors == []

    rows = stack.wait_for(
        f"SELECT distinct_id, toString(person_id) AS person "
        f"FROM product_analytics.person_distinct_ids FINAL "
        f"WHERE distinct_id IN ('{anon}', '{user}') AND is_deleted = 0",
        lambda rows: len({r["person"] for r in rows}) == 1 and len(rows) == 2)
    person = stack.wait_for(
        f"SELECT properties FROM product_analytics.persons FINAL "
        f"WHERE toString(id) = '{rows[0]['person']}' AND is_deleted = 0",
        lambda rows: len(rows) == 1 and "source" in rows[0]["properties"])
    assert json.loads(person[0]["properties"]) == {
        "email": f"{unique}@example.com", "source": "python"}
    events = stack.query(
        f"SELECT event, JSONExtractString(properties, '$lib') AS lib "
        f"FROM product_analytics.events WHERE distinct_id IN ('{anon}', '{user}') ORDER BY event")
    assert [(e["event"], e["lib"]) for e in events] == [
        ("$create_alias", "posthog-python"), ("$set", "posthog-python"),
        ("$set_once", "posthog-python"), ("signed_up", "posthog-python")]
