"""Identity workers: resolve distinct ids to persons and fold person properties.

The pure core lives in `normalize`, `identity`, `properties` and `persons`; `worker` and
`loader` put Kafka and ClickHouse around it.
"""
