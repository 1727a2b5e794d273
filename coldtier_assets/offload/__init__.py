"""The Dagster-free offload core: read a window from ClickHouse, commit it to Iceberg exactly once."""
