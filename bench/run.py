"""`make bench`: how fast the identity core folds, what it holds per id, how fast the stack ingests.

    python -m bench.run [--events N] [--ids N] [--e2e-events N] [--skip-e2e]

Prints one line per figure. The end-to-end part starts its own broker and stack on loopback
ports 29092/28080/28123 in a temporary directory and stops them afterwards.
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

from identity_worker.loader import relax_gc
from identity_worker.normalize import normalize
from identity_worker.persons import PersonResolver
from schemas.records import CapturedEvent


def traffic(n: int, ids: int, seed: int = 1) -> list[CapturedEvent]:
    """Browser-like traffic: mostly pageviews of anonymous ids, some identifies and $set."""
    rnd = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        anon = f"anon-{rnd.randrange(ids)}"
        user = f"user-{rnd.randrange(ids // 4 or 1)}"
        kind = rnd.random()
        props: dict[str, Any] = {"$current_url": f"https://example.com/p/{i % 50}",
                                 "$browser": "Chrome"}
        if kind < 0.85:
            name, distinct = "$pageview", anon
        elif kind < 0.95:
            name, distinct = "$identify", user
            props["$anon_distinct_id"] = anon
            props["$set"] = {"email": f"{user}@example.com", "plan": rnd.choice("abc")}
            props["$set_once"] = {"landing": props["$current_url"]}
        else:
            name, distinct = "$set", user
            props["$set"] = {"last_login": i}
        out.append(CapturedEvent(
            uuid=f"00000000-0000-4000-8000-{i:012d}", event=name, distinct_id=distinct,
            timestamp=(base + timedelta(milliseconds=i * 10)).isoformat(), api_key="k",
            properties=props))
    return out


def bench_core(events: int, ids: int) -> None:
    captured = traffic(events, ids)
    started = time.perf_counter()
    facts = [normalize(e) for e in captured]
    normalized = time.perf_counter() - started

    relax_gc()  # as the loader does
    resolver = PersonResolver()
    started = time.perf_counter()
    rows = 0
    for i in range(0, len(facts), 20_000):
        changes = resolver.apply(facts[i:i + 20_000])
        rows += len(changes.persons) + len(changes.mappings) + len(changes.events)
    folded = time.perf_counter() - started
    n_ids = resolver.distinct_id_count

    # Memory in a second run: tracing allocations slows the fold several times over.
    del resolver, changes
    gc.collect()
    tracemalloc.start()
    resolver = PersonResolver()
    for i in range(0, len(facts), 20_000):
        resolver.apply(facts[i:i + 20_000])
    gc.collect()
    held, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"core normalize: {events / normalized:,.0f} events/s ({events} events)")
    print(f"core resolve:   {events / folded:,.0f} events/s, {rows} rows out, "
          f"{n_ids} distinct ids, {resolver.graph.link_count()} links")
    print(f"core memory:    {held / n_ids:,.0f} bytes per distinct id held by the resolver")

    from identity_worker.persons import IdStateRow
    from identity_worker.properties import encode_state

    states = [IdStateRow(d, resolver._first_seen[d], encode_state(resolver._props[d]))
              for d in resolver._first_seen]
    links = resolver.graph.links()
    started = time.perf_counter()
    restored = PersonResolver()
    restored.restore(links, states)
    took = time.perf_counter() - started
    print(f"core restore:   {took:.2f} s for {n_ids} distinct ids "
          f"({n_ids / took:,.0f} ids/s)")


def bench_gateway(events: int) -> None:
    """Request decoding and validation, as the gateway does it per request (no Kafka)."""
    from ingest_gateway.payload import decode_body, parse_request

    batches = [[{"event": "$pageview", "distinct_id": f"g-{i + k}",
                 "properties": {"$set": {"n": k}, "$current_url": "https://example.com/a"}}
                for k in range(100)] for i in range(0, events, 100)]
    import msgspec

    bodies = [msgspec.json.encode({"api_key": "k", "batch": b}) for b in batches]
    encode = msgspec.json.Encoder().encode
    keys = frozenset({"k"})
    started = time.perf_counter()
    for body in bodies:
        request = parse_request(decode_body(body, "application/json", {}), {},
                                datetime.now(UTC), keys)
        [encode(e) for e in request.events]
    took = time.perf_counter() - started
    print(f"gateway parse:  {events / took:,.0f} events/s (decode, validate, encode; "
          f"batches of 100)")


def bench_e2e(events: int) -> None:
    import concurrent.futures
    import os
    import urllib.request

    import msgspec

    from tests.conftest import REPO, stack_env

    tmp = tempfile.mkdtemp(prefix="pa-bench-")
    env = {**stack_env("127.0.0.1:29092", __import__("pathlib").Path(tmp)),
           "PA_GATEWAY_PORT": "28080", "PA_SQL_PORT": "28123"}
    kafka = {**os.environ, "KAFKA_PORT": "29092", "KAFKA_CONTROLLER_PORT": "29093",
             "KAFKA_DATA": f"{tmp}/kafka"}
    import subprocess
    import sys

    cli = [sys.executable, "-m", "product_analytics.cli"]
    subprocess.run(["bash", str(REPO / "deploy/kafka/kafka.sh"), "start"], env=kafka, check=True)
    try:
        subprocess.run([*cli, "topics"], env=env, check=True, capture_output=True)
        subprocess.run([*cli, "stack", "up", "--workers", "2"], env=env, check=True,
                       capture_output=True)
        batch_size = 100
        bodies = []
        for start in range(0, events, batch_size):
            batch = [{"event": "$pageview", "distinct_id": f"e2e-{(start + k) % 5000}",
                      "properties": {"$set": {"n": start + k}}} for k in range(batch_size)]
            bodies.append(msgspec.json.encode({"api_key": "local_dev_key", "batch": batch}))

        def post(body: bytes) -> int:
            request = urllib.request.Request("http://127.0.0.1:28080/batch/", data=body,
                                             headers={"content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                return int(response.status)

        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(post, bodies))
        accepted = time.perf_counter() - started
        assert set(statuses) == {200}, set(statuses)
        query = ("http://127.0.0.1:28123/?query=" +
                 "SELECT+count()+FROM+product_analytics.events")
        while True:
            with urllib.request.urlopen(query, timeout=30) as response:
                if int(response.read()) >= events:
                    break
            time.sleep(0.1)
        visible = time.perf_counter() - started
        print(f"e2e accept:     {events / accepted:,.0f} events/s acknowledged by the gateway "
              f"(batches of {batch_size}, 8 concurrent clients)")
        print(f"e2e visible:    {events / visible:,.0f} events/s until all {events} were "
              f"queryable in ClickHouse ({visible:.1f} s)")
    finally:
        subprocess.run([*cli, "stack", "down"], env=env, capture_output=True)
        subprocess.run(["bash", str(REPO / "deploy/kafka/kafka.sh"), "stop"], env=kafka)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--ids", type=int, default=50_000)
    p.add_argument("--e2e-events", type=int, default=60_000)
    p.add_argument("--skip-e2e", action="store_true")
    args = p.parse_args()
    bench_core(args.events, args.ids)
    bench_gateway(args.events // 4)
    if not args.skip_e2e:
        bench_e2e(args.e2e_events)


if __name__ == "__main__":
    main()
