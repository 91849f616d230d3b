-- ClickHouse schema of product_analytics. Applied at start-up by every process that writes,
-- idempotently (IF NOT EXISTS). `{db}` is the database name (product_analytics, or a replay
-- target). The same statements run on chDB and on a ClickHouse server.

CREATE DATABASE IF NOT EXISTS {db};

-- One row per accepted event. person_id is the person the event belonged to when it was
-- ingested; events_with_current_person below attributes history to today's person.
-- The loader never writes a uuid twice; ReplacingMergeTree on the uuid is the backstop.
CREATE TABLE IF NOT EXISTS {db}.events
(
    uuid UUID,
    event String,
    distinct_id String,
    person_id UUID,
    properties String CODEC(ZSTD(3)),
    timestamp DateTime64(6, 'UTC'),
    inserted_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (toDate(timestamp), event, distinct_id, uuid);

-- Person state; FINAL (or argMax by version) gives the latest row per id.
CREATE TABLE IF NOT EXISTS {db}.persons
(
    id UUID,
    distinct_id String,
    properties String,
    is_identified UInt8,
    is_deleted UInt8,
    created_at DateTime64(6, 'UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;

-- Which person each distinct id belongs to now; FINAL gives the latest mapping.
CREATE TABLE IF NOT EXISTS {db}.person_distinct_ids
(
    distinct_id String,
    person_id UUID,
    is_deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY distinct_id;

-- Refused merges and other problems with accepted events; the events themselves are kept.
CREATE TABLE IF NOT EXISTS {db}.ingestion_warnings
(
    type LowCardinality(String),
    event_uuid UUID,
    distinct_id String,
    details String,
    timestamp DateTime64(6, 'UTC'),
    inserted_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
ORDER BY (type, event_uuid);

-- Identity links the resolver has seen ($identify / $create_alias / $merge_dangerously), and
-- per-distinct-id property registers: the resolver's state, read back when it restarts.
CREATE TABLE IF NOT EXISTS {db}.identity_links
(
    uuid UUID,
    kind LowCardinality(String),
    target String,
    source String,
    time_us Int64
)
ENGINE = ReplacingMergeTree
ORDER BY uuid;

CREATE TABLE IF NOT EXISTS {db}.person_property_state
(
    distinct_id String,
    first_seen_us Int64,
    state String CODEC(ZSTD(3)),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY distinct_id;

-- Every event with the person it belongs to today (history follows merges).
CREATE VIEW IF NOT EXISTS {db}.events_with_current_person AS
SELECT
    e.uuid AS uuid,
    e.event AS event,
    e.distinct_id AS distinct_id,
    e.properties AS properties,
    e.timestamp AS timestamp,
    e.person_id AS person_id_at_ingestion,
    if(empty(m.person_id), e.person_id, m.person_id) AS person_id
FROM {db}.events AS e
LEFT JOIN
(
    SELECT distinct_id, argMax(person_id, version) AS person_id
    FROM {db}.person_distinct_ids
    GROUP BY distinct_id
    HAVING argMax(is_deleted, version) = 0
) AS m ON m.distinct_id = e.distinct_id;
