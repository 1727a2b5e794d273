"""Loggers for the offload jobs: Dagster's console logger, and a file logger for quiet runs.

``coldtier demo`` (and anything else that runs jobs in-process for a person at a terminal) selects
``event_file`` in its run config: Dagster's event lines then go to the run's event log (always) and to
a log file under ``COLDTIER_HOME``, not the console. They also reach the Python logger
:data:`EVENT_LOGGER_NAME`, where a progress display can listen.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg

EVENT_LOGGER_NAME = "coldtier.dagster_events"
_FORMAT = "%(asctime)s %(levelname)s %(message)s"


@dg.logger(
    config_schema={"path": dg.Field(str, description="log file to append Dagster's event lines to")},
    description="Dagster's event lines to a log file (and to the Python logger coldtier.dagster_events).",
)
def event_file_logger(context: dg.InitLoggerContext) -> logging.Logger:
    """The shared event logger, writing to the configured file (one handler per file)."""
    path = Path(context.logger_config["path"]).resolve()
    logger = logging.getLogger(EVENT_LOGGER_NAME)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    if not any(
        isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == path
        for handler in logger.handlers
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
    return logger


LOGGERS: dict[str, dg.LoggerDefinition] = {
    "console": dg.colored_console_logger,
    "event_file": event_file_logger,
}


def quiet_run_config(log_file: Path) -> dict[str, object]:
    """Run config that sends a run's event lines to ``log_file`` instead of the console."""
    return {"loggers": {"event_file": {"config": {"path": str(log_file)}}}}
