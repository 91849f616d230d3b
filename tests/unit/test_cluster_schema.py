"""The multi-node layout in deploy/clickhouse/ keeps the single-node schema's tables."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAD = re.compile(r"CREATE TABLE IF NOT EXISTS (?:\{db\}|product_analytics)\.(\w+)"
                  r"(?: ON CLUSTER '\{cluster\}')?\s*\(")
ENGINE = re.compile(r"ENGINE = \w+(?:\((.*?)\))?\s*(.*)", re.DOTALL)


def _closing(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ValueError("unbalanced parentheses")


def tables(path: Path) -> dict[str, tuple[str, str, str]]:
    """table -> (columns, version column, ORDER BY and PARTITION BY), whitespace normalised."""
    sql = re.sub(r"--[^\n]*", "", path.read_text())
    found = {}
    for statement in sql.split(";"):
        head = HEAD.search(statement)
        if head is None:
            continue  # Distributed tables and views have no column list of their own
        end = _closing(statement, head.end() - 1)
        engine = ENGINE.search(statement, end)
        assert engine is not None, statement
        args = [a.strip() for a in (engine.group(1) or "").split(",") if a.strip()]
        version = next((a for a in args if not a.startswith("'")), "")
        found[head.group(1).removesuffix("_local")] = (
            " ".join(statement[head.end():end].split()), version,
            " ".join(engine.group(2).split()))
    return found


def test_every_table_has_the_same_columns_keys_and_version_on_the_cluster() -> None:
    single = tables(REPO / "schemas" / "clickhouse" / "tables.sql")
    cluster = tables(REPO / "deploy" / "clickhouse" / "cluster-schema.sql")
    assert set(single) == {"events", "persons", "person_distinct_ids", "ingestion_warnings",
                           "identity_links", "person_property_state"}
    assert single["persons"][1] == "version"
    assert cluster == single
