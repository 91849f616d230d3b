"""Replay rebuilds the live person state from the events topic, whatever the interleaving."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack

pytestmark = pytest.mark.integration


def tangled_traffic(tag: str, seed: int) -> list[dict[str, Any]]:
    """Identity traffic whose outcome depends on event time, sent in a shuffled order."""
    rnd = random.Random(seed)
    base = datetime.now(UTC) - timedelta(hours=1)
    anons = [f"a-{tag}-{i}" for i in range(30)]
    users = [f"u-{tag}-{i}" for i in range(12)]
    events = []
    for n in range(400):
        ts = (base + timedelta(seconds=rnd.randint(0, 3000))).isoformat()
        kind = rnd.random()
        if kind < 0.5:
            event = {"event": "$pageview", "distinct_id": rnd.choice(anons + users),
                     "properties": {"$set": {"plan": rnd.choice(["free", "pro", "team"])},
                                    "$set_once": {"first": n}}}
        elif kind < 0.75:
            event = {"event": "$identify", "distinct_id": rnd.choice(users),
                     "properties": {"$anon_distinct_id": rnd.choice([*anons, "null"]),
                                    "$set": {"email": f"{n}@x"}}}
        elif kind < 0.9:
            event = {"event": "$create_alias", "distinct_id": rnd.choice(users),
                     "properties": {"alias": rnd.choice(anons + users)}}
        else:
            event = {"event": "$set", "distinct_id": rnd.choice(users),
                     "properties": {"$unset": ["plan"], "$set_once": {"plan": "trial"}}}
        events.append({**event, "timestamp": ts})
    rnd.shuffle(events)
    return events


def checksums(stack: Stack, *args: str) -> str:
    out = stack.cli(*args).stdout
    return next(line for line in out.splitlines() if line.startswith("persons_checksum="))


def test_two_replays_equal_each_other_and_the_live_run(
        stack: Stack, unique: str, tmp_path: Path) -> None:
    traffic = tangled_traffic(unique, seed=7)
    for start in range(0, len(traffic), 40):
        stack.send(traffic[start:start + 40])
    stack.drain()
    live = checksums(stack, "checksum")

    first = stack.cli("replay", "--chdb-path", str(tmp_path / "one"), "--quiet")
    second = stack.cli("replay", "--chdb-path", str(tmp_path / "two"))
    assert "replay [" in second.stderr  # the progress bar
    replayed = [next(line for line in r.stdout.splitlines()
                     if line.startswith("persons_checksum=")) for r in (first, second)]
    assert replayed == [live, live]
    assert checksums(stack, "checksum", "--chdb-path", str(tmp_path / "one"),
                     "--database", "product_analytics_replay") == live


def test_replay_refuses_to_overwrite_without_force(stack: Stack, tmp_path: Path) -> None:
    target = str(tmp_path / "db")
    stack.cli("replay", "--chdb-path", target, "--quiet")
    again = stack.cli("replay", "--chdb-path", target, "--quiet", check=False)
    assert again.returncode == 1 and "--force" in again.stderr
    assert stack.cli("replay", "--chdb-path", target, "--quiet", "--force").returncode == 0


def test_replay_refuses_while_the_loader_owns_the_database(stack: Stack) -> None:
    refused = stack.cli("replay", check=False)
    assert refused.returncode == 1 and "make down" in refused.stderr
