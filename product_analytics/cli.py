"""`product-analytics`: run the services, query ClickHouse, replay, manage the local stack."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from product_analytics import config
from product_analytics.clickhouse import ClickHouse, ClickHouseError, apply_schema


def _backend(settings: config.Settings, *, write: bool, chdb_path: Path | None = None
             ) -> ClickHouse:
    """The configured ClickHouse: a server, the owning process's SQL port, or chDB itself."""
    if settings.clickhouse_url and chdb_path is None:
        from product_analytics.clickhouse.server import ServerClickHouse

        return ServerClickHouse(settings.clickhouse_url)
    if not write and chdb_path is None:
        from product_analytics.clickhouse.http import HttpClickHouse

        http = HttpClickHouse(settings.sql_url)
        if http.reachable():
            return http
    from product_analytics.clickhouse.embedded import EmbeddedClickHouse

    path = chdb_path or settings.chdb_path
    if not write and not path.exists():
        raise ClickHouseError(
            f"no database at {path} and nothing answers on {settings.sql_url}: start the "
            "stack with `make up`, or set CLICKHOUSE_URL", retryable=False)
    return EmbeddedClickHouse(path)


def cmd_gateway(settings: config.Settings, args: argparse.Namespace) -> int:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from ingest_gateway.app import build_app

    hconfig = Config()
    hconfig.bind = [f"{args.host or settings.gateway_host}:{args.port or settings.gateway_port}"]
    hconfig.accesslog = None
    hconfig.workers = 1
    stop = asyncio.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(build_app(settings), hconfig, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    asyncio.run(main())
    return 0


def cmd_worker(settings: config.Settings, args: argparse.Namespace) -> int:
    from identity_worker.worker import Worker

    Worker(settings, name=args.name).run()
    return 0


def cmd_loader(settings: config.Settings, args: argparse.Namespace) -> int:
    from identity_worker.loader import Loader
    from product_analytics.clickhouse.embedded import EmbeddedClickHouse
    from product_analytics.sqlserver import SqlServer

    ch = _backend(settings, write=True)
    loader = Loader(settings, ch)
    loader.prepare()
    server = None
    if isinstance(ch, EmbeddedClickHouse):
        server = SqlServer(ch.reader(), settings.sql_host, settings.sql_port,
                           loader.metrics.render)
        server.start()
        logging.getLogger("identity_worker.loader").info(
            "serving read-only SQL on %s", settings.sql_url)
    try:
        loader.run()
    finally:
        if server:
            server.stop()
        ch.close()
    return 0


def cmd_query(settings: config.Settings, args: argparse.Namespace) -> int:
    sql = args.sql if args.sql != "-" else sys.stdin.read()
    ch = _backend(settings, write=False, chdb_path=args.chdb_path)
    try:
        sys.stdout.buffer.write(ch.text(sql, args.format))
    finally:
        ch.close()
    return 0


def cmd_migrate(settings: config.Settings, args: argparse.Namespace) -> int:
    ch = _backend(settings, write=True, chdb_path=args.chdb_path)
    apply_schema(ch, args.database or settings.database)
    ch.close()
    print(f"schema applied to database {args.database or settings.database}")
    return 0


def cmd_topics(settings: config.Settings, args: argparse.Namespace) -> int:
    from product_analytics.topics import ensure_topics

    ensure_topics(settings)
    print(f"topics ready: {settings.events_topic}, {settings.facts_topic}, {settings.dlq_topic}")
    return 0


def cmd_replay(settings: config.Settings, args: argparse.Namespace) -> int:
    from product_analytics.replay import replay

    if not settings.clickhouse_url and args.chdb_path is None:
        from product_analytics.clickhouse.http import HttpClickHouse

        if HttpClickHouse(settings.sql_url).reachable():
            raise ClickHouseError(
                f"the loader owns {settings.chdb_path}: stop it (make down) first, or replay "
                "into another directory with --chdb-path", retryable=False)
    ch = _backend(settings, write=True, chdb_path=args.chdb_path)
    try:
        result = replay(settings, ch, args.database, force=args.force,
                        progress=not args.quiet)
    finally:
        ch.close()
    print(f"replayed events={result.events} dead={result.dead} into database {args.database}")
    print(f"persons_checksum={result.persons_checksum} "
          f"distinct_ids_checksum={result.mappings_checksum}")
    return 0


def cmd_checksum(settings: config.Settings, args: argparse.Namespace) -> int:
    from product_analytics.replay import live_checksums

    ch = _backend(settings, write=False, chdb_path=args.chdb_path)
    persons, mappings = live_checksums(ch, args.database or settings.database)
    print(f"persons_checksum={persons} distinct_ids_checksum={mappings}")
    return 0


def cmd_stack(settings: config.Settings, args: argparse.Namespace) -> int:
    from product_analytics import stack

    return stack.main(settings, args.action, workers=args.workers)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="product-analytics", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("gateway", help="run the HTTP ingest gateway")
    g.add_argument("--host")
    g.add_argument("--port", type=int)
    g.set_defaults(func=cmd_gateway)

    w = sub.add_parser("worker", help="run an identity worker (events -> facts)")
    w.add_argument("--name", help="stable worker name (its Kafka transactional id)")
    w.set_defaults(func=cmd_worker)

    lo = sub.add_parser("loader", help="run the loader (facts -> ClickHouse; owns chDB)")
    lo.set_defaults(func=cmd_loader)

    q = sub.add_parser("query", help="run SQL against the configured ClickHouse")
    q.add_argument("sql", help="the query, or - to read it from stdin")
    q.add_argument("--format", default="TabSeparated",
                   help="ClickHouse output format (a FORMAT clause in the query wins)")
    q.add_argument("--chdb-path", type=Path, help="open this chDB directory directly")
    q.set_defaults(func=cmd_query)

    m = sub.add_parser("migrate", help="apply the ClickHouse schema (idempotent)")
    m.add_argument("--database")
    m.add_argument("--chdb-path", type=Path)
    m.set_defaults(func=cmd_migrate)

    t = sub.add_parser("topics", help="create the Kafka topics (idempotent)")
    t.set_defaults(func=cmd_topics)

    r = sub.add_parser("replay", help="rebuild person state from the events topic")
    r.add_argument("--database", default="product_analytics_replay",
                   help="target database, created fresh (default: product_analytics_replay)")
    r.add_argument("--chdb-path", type=Path, help="embedded mode: the chDB directory to write")
    r.add_argument("--force", action="store_true", help="drop the target database if it exists")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_replay)

    c = sub.add_parser("checksum", help="checksums of live persons and distinct ids")
    c.add_argument("--database")
    c.add_argument("--chdb-path", type=Path)
    c.set_defaults(func=cmd_checksum)

    s = sub.add_parser("stack", help="start/stop gateway, worker and loader as local processes")
    s.add_argument("action", choices=["up", "down", "status"])
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(func=cmd_stack)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    logging.getLogger("hypercorn").setLevel(logging.WARNING)
    try:
        settings = config.load()
        return int(args.func(settings, args))
    except (config.ConfigError, ClickHouseError, RuntimeError) as exc:
        print(f"product-analytics: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
