"""coldtier: tiers crypto trade data from ClickHouse (warm) into Apache Iceberg (cold), exactly once."""
