# Debian's clickhouse-server (18.16), the native-protocol peer of the ClickHouse server adapter's
# integration tests (tests/integration/test_clickhouse_server_adapter.py). Included by the
# top-level Makefile; `make test` depends on clickhouse-server-deps.
.PHONY: clickhouse-server-deps

clickhouse-server-deps:
	@bash deploy/clickhouse-server.sh install
