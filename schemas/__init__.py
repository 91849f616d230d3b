"""Wire schemas (msgspec records) and the ClickHouse DDL."""
