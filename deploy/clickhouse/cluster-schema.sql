-- schemas/clickhouse/tables.sql laid out for a sharded, replicated ClickHouse cluster.
--
-- Each table becomes <name>_local, a ReplicatedReplacingMergeTree on every node (same columns,
-- ORDER BY, PARTITION BY and version column as the single-node schema), plus a Distributed
-- table under the original name, which the loader writes and queries read. The macros
-- {cluster}, {shard} and {replica} come from each server's config (cluster.xml).
--
-- Apply once, from any one node, before the loader first starts:
--   clickhouse-client --multiquery < deploy/clickhouse/cluster-schema.sql
-- The loader runs its own DDL at start-up (CREATE ... IF NOT EXISTS product_analytics.events,
-- ...); every name then exists already, so that DDL does nothing. Started on a node without
-- these tables, it would instead create plain single-node tables there: create the tables on a
-- new node (this file again) before pointing anything at it. The database name is fixed below;
-- for another PA_DATABASE replace `product_analytics` throughout.
--
-- Loader connection: add ?insert_distributed_sync=1&insert_quorum=2 to CLICKHOUSE_URL (2 = the
-- replicas per shard). The loader commits Kafka offsets after its inserts return and rebuilds
-- its state from these tables after a restart, so an insert must return only when every
-- replica holds the rows: not queued on the Distributed node, not on one replica only. While a
-- replica is down the loader's inserts then fail and it restarts until the replica is back;
-- events wait in Kafka meanwhile.
--
-- Sharding. ReplacingMergeTree (and FINAL, and argMax by version) deduplicate only among rows
-- on the same shard, so every table is sharded by its deduplication key, or a prefix of it
-- that sends all versions of a key to one shard:
--   events               distinct_id  (uuid rows of one distinct id stay together; the
--                                      ORDER BY ends in distinct_id, uuid)
--   persons              id           (every version of a person on one shard)
--   person_distinct_ids  distinct_id  (every version of a mapping on one shard)
--   ingestion_warnings   event_uuid
--   identity_links       uuid
--   person_property_state distinct_id
-- events and person_distinct_ids share the key, so an event and its distinct id's mapping live
-- on the same shard: events_with_current_person joins them shard-locally (see there).
--
-- Queries of your own that JOIN or IN two Distributed tables sharded differently (e.g. events
-- to persons by person_id) need GLOBAL JOIN / GLOBAL IN; plain ones are refused
-- (distributed_product_mode = 'deny').
--
-- `product-analytics replay` writes a fresh database with the single-node schema on the node
-- it connects to; it is not sharded.

CREATE DATABASE IF NOT EXISTS product_analytics ON CLUSTER '{cluster}';

-- events ---------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS product_analytics.events_local ON CLUSTER '{cluster}'
(
    uuid UUID,
    event String,
    distinct_id String,
    person_id UUID,
    properties String CODEC(ZSTD(3)),
    timestamp DateTime64(6, 'UTC'),
    inserted_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/product_analytics/events', '{replica}')
PARTITION BY toYYYYMM(timestamp)
ORDER BY (toDate(timestamp), event, distinct_id, uuid);

CREATE TABLE IF NOT EXISTS product_analytics.events ON CLUSTER '{cluster}'
AS product_analytics.events_local
ENGINE = Distributed('{cluster}', product_analytics, events_local, cityHash64(distinct_id));

-- persons --------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS product_analytics.persons_local ON CLUSTER '{cluster}'
(
    id UUID,
    distinct_id String,
    properties String,
    is_identified UInt8,
    is_deleted UInt8,
    created_at DateTime64(6, 'UTC'),
    version UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/product_analytics/persons', '{replica}', version)
ORDER BY id;

CREATE TABLE IF NOT EXISTS product_analytics.persons ON CLUSTER '{cluster}'
AS product_analytics.persons_local
ENGINE = Distributed('{cluster}', product_analytics, persons_local, cityHash64(id));

-- person_distinct_ids --------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS product_analytics.person_distinct_ids_local ON CLUSTER '{cluster}'
(
    distinct_id String,
    person_id UUID,
    is_deleted UInt8,
    version UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/product_analytics/person_distinct_ids', '{replica}', version)
ORDER BY distinct_id;

CREATE TABLE IF NOT EXISTS product_analytics.person_distinct_ids ON CLUSTER '{cluster}'
AS product_analytics.person_distinct_ids_local
ENGINE = Distributed('{cluster}', product_analytics, person_distinct_ids_local, cityHash64(distinct_id));

-- ingestion_warnings ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS product_analytics.ingestion_warnings_local ON CLUSTER '{cluster}'
(
    type LowCardinality(String),
    event_uuid UUID,
    distinct_id String,
    details String,
    timestamp DateTime64(6, 'UTC'),
    inserted_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/product_analytics/ingestion_warnings', '{replica}')
ORDER BY (type, event_uuid);

CREATE TABLE IF NOT EXISTS product_analytics.ingestion_warnings ON CLUSTER '{cluster}'
AS product_analytics.ingestion_warnings_local
ENGINE = Distributed('{cluster}', product_analytics, ingestion_warnings_local, cityHash64(event_uuid));

-- identity_links (resolver state) --------------------------------------------------------------
CREATE TABLE IF NOT EXISTS product_analytics.identity_links_local ON CLUSTER '{cluster}'
(
    uuid UUID,
    kind LowCardinality(String),
    target String,
    source String,
    time_us Int64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/product_analytics/identity_links', '{replica}')
ORDER BY uuid;

CREATE TABLE IF NOT EXISTS product_analytics.identity_links ON CLUSTER '{cluster}'
AS product_analytics.identity_links_local
ENGINE = Distributed('{cluster}', product_analytics, identity_links_local, cityHash64(uuid));

-- person_property_state (resolver state) -------------------------------------------------------
CREATE TABLE IF NOT EXISTS product_analytics.person_property_state_local ON CLUSTER '{cluster}'
(
    distinct_id String,
    first_seen_us Int64,
    state String CODEC(ZSTD(3)),
    version UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/product_analytics/person_property_state', '{replica}', version)
ORDER BY distinct_id;

CREATE TABLE IF NOT EXISTS product_analytics.person_property_state ON CLUSTER '{cluster}'
AS product_analytics.person_property_state_local
ENGINE = Distributed('{cluster}', product_analytics, person_property_state_local, cityHash64(distinct_id));

-- events_with_current_person -------------------------------------------------------------------
-- The same view as the single-node schema. The query runs on every shard against its part of
-- `events`; the mapping subquery reads person_distinct_ids_local, the same shard's mappings,
-- which are complete for that shard's events because both tables are sharded by
-- cityHash64(distinct_id). That avoids shipping the whole mapping table to every shard per
-- query (GLOBAL JOIN). If you change either sharding key, make this a GLOBAL LEFT JOIN over
-- product_analytics.person_distinct_ids instead.
CREATE VIEW IF NOT EXISTS product_analytics.events_with_current_person ON CLUSTER '{cluster}' AS
SELECT
    e.uuid AS uuid,
    e.event AS event,
    e.distinct_id AS distinct_id,
    e.properties AS properties,
    e.timestamp AS timestamp,
    e.person_id AS person_id_at_ingestion,
    if(empty(m.person_id), e.person_id, m.person_id) AS person_id
FROM product_analytics.events AS e
LEFT JOIN
(
    SELECT distinct_id, argMax(person_id, version) AS person_id
    FROM product_analytics.person_distinct_ids_local
    GROUP BY distinct_id
    HAVING argMax(is_deleted, version) = 0
) AS m ON m.distinct_id = e.distinct_id;
