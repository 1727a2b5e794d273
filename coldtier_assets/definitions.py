"""The Dagster code location: assembled from the modules around it."""

from __future__ import annotations

import dagster as dg

from coldtier_assets.assets.bronze import build_bronze_assets
from coldtier_assets.assets.common import warm_spec
from coldtier_assets.assets.gold import build_gold_assets
from coldtier_assets.assets.silver import build_silver_asset
from coldtier_assets.config import Settings, load_settings
from coldtier_assets.jobs import build_offload_jobs
from coldtier_assets.resources.dagster import ColdtierResource
from coldtier_assets.schedules import build_maintenance_definitions
from coldtier_assets.sensors import build_healing_sensor, build_offload_sensor
from coldtier_assets.tables import TABLES


def build_definitions(settings: Settings) -> dg.Definitions:
    """Every asset, job and resource for the given settings."""
    jobs = build_offload_jobs(settings)
    offload = dg.Definitions(
        assets=[
            *(warm_spec(spec) for spec in TABLES),
            build_bronze_assets(settings),
            build_silver_asset(settings),
            *build_gold_assets(settings),
        ],
        jobs=jobs,
        sensors=[build_offload_sensor(settings, jobs), build_healing_sensor(settings, jobs)],
        resources={"coldtier": ColdtierResource.from_settings(settings)},
    )
    return dg.Definitions.merge(offload, build_maintenance_definitions(settings))


defs = build_definitions(load_settings())
