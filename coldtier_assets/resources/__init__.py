"""Connections to the warm tier (ClickHouse or chDB), the Iceberg catalog and Spark."""
