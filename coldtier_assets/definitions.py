"""The Dagster code location: assembled from the modules around it."""

from __future__ import annotations

import dagster as dg

from coldtier_assets.config import Settings, load_settings
from coldtier_assets.defs.assets.bronze import build_bronze_assets
from coldtier_assets.defs.assets.common import warm_spec
from coldtier_assets.defs.assets.gold import build_gold_assets
from coldtier_assets.defs.assets.silver import build_silver_assets
from coldtier_assets.defs.jobs import build_offload_jobs
from coldtier_assets.defs.loggers import LOGGERS
from coldtier_assets.defs.resources import ColdtierResource, ColdtierSparkResource
from coldtier_assets.defs.schedules import build_maintenance_definitions
from coldtier_assets.defs.sensors.sensors import build_healing_sensor, build_offload_sensor
from coldtier_assets.redact import install_log_redaction
from coldtier_assets.tables import TABLES


def build_definitions(settings: Settings) -> dg.Definitions:
    """Every asset, job and resource for the given settings."""
    jobs = build_offload_jobs(settings)
    offload = dg.Definitions(
        assets=[
            *(warm_spec(spec) for spec in TABLES),
            build_bronze_assets(settings),
            *build_silver_assets(settings),
            *build_gold_assets(settings),
        ],
        jobs=jobs,
        sensors=[build_offload_sensor(settings, jobs), build_healing_sensor(settings, jobs)],
        # `spark`: dagster-pyspark's lazy session for the maintenance job (COLDTIER_MAINTENANCE_ENGINE=spark)
        resources={
            "coldtier": ColdtierResource.from_settings(settings),
            "spark": ColdtierSparkResource.from_settings(settings),
        },
        loggers=LOGGERS,
    )
    return dg.Definitions.merge(offload, build_maintenance_definitions(settings))


install_log_redaction()  # webserver, daemon, code server and run workers all load this module
defs = build_definitions(load_settings())
