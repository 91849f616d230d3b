"""Operator side of ClickHouse Product Analytics: configuration, the CLI, ClickHouse access."""
