"""HTTP ingest gateway: validates capture requests and writes their events to Kafka."""
