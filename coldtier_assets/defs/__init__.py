"""The Dagster layer: assets, checks, sensors with their planning, schedules, jobs, partitions, resource."""
