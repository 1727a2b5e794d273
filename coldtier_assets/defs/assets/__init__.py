"""The asset graph: ClickHouse tables (external) → Bronze → Silver → Gold cold tables."""
