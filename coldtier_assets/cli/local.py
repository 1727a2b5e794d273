"""CLI commands for a local installation: `coldtier demo` and `coldtier dev` (Dagster UI + daemon)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated

import typer

from coldtier_assets.cli.common import cli_settings, console, warm_tier
from coldtier_assets.config import Settings
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog


def demo(
    hours: Annotated[float, typer.Option(help="hours of trades to simulate")] = 2.0,
    rate: Annotated[float, typer.Option(help="trades per second, all exchanges together")] = 150.0,
) -> None:
    """Init, simulate two hours of trades, copy every closed window of every table, print status."""
    from coldtier_assets.cli.demo import run_demo
    from coldtier_assets.cli.progress import offload_progress
    from coldtier_assets.offload.status import render_status

    settings = cli_settings()
    runs, statuses = run_demo(
        settings, hours=hours, trades_per_second=rate, say=console.print, progress=offload_progress(console)
    )
    console.print(render_status(statuses))
    if not all(run.success for run in runs):
        console.print("[red]some offload runs failed; see `make dev` → Runs[/red]")
        raise typer.Exit(1)
    console.print(
        "Next: [bold]make dev[/bold] opens the Dagster UI on this data at http://127.0.0.1:3000 "
        f"(DAGSTER_HOME={settings.dagster_home})"
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def stopped_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP (what process managers and closing terminals send) act as Ctrl-C inside the block."""
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def dev(
    port: Annotated[int, typer.Option(help="webserver port")] = 3000,
    live: Annotated[bool, typer.Option(help="also run the live trade feed until stopped")] = True,
    rate: Annotated[float, typer.Option(help="live feed: trades per second")] = 50.0,
) -> None:
    """Start the Dagster webserver and daemon (sensors copy windows as they close), with a live feed.

    Ctrl-C, SIGTERM or SIGHUP stop both process groups before the command exits.
    """
    from coldtier_assets.cli.devserver import daemon_command, start_process, stop_process, webserver_command
    from coldtier_assets.cli.instance import prepare_dagster_home
    from coldtier_assets.offload.bootstrap import init_all

    settings = cli_settings()
    home = prepare_dagster_home(settings)
    warm = warm_tier(settings)
    init_all(warm, open_catalog(settings), settings.namespace)
    env = os.environ.copy()
    processes: list[subprocess.Popen[bytes]] = []
    with stopped_on_signals():
        try:
            processes.append(
                start_process(webserver_command(port), env, settings.home / "logs" / "webserver.log")
            )
            processes.append(start_process(daemon_command(), env, settings.home / "logs" / "daemon.log"))
            console.print(f"logs in {home / 'logs'}")
            _serve(settings, warm, port, processes, live=live, rate=rate)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
            for process in processes:
                stop_process(process)


def _serve(
    settings: Settings,
    warm: WarmTier,
    port: int,
    processes: list[subprocess.Popen[bytes]],
    *,
    live: bool,
    rate: float,
) -> None:
    """Wait for the webserver, then run the live feed (or wait on the webserver) until interrupted."""
    from coldtier_assets.cli.devserver import wait_for_webserver
    from coldtier_assets.simulate.live import simulate_live

    wait_for_webserver(f"http://127.0.0.1:{port}", processes[0])
    console.print(f"Dagster UI: [bold]http://127.0.0.1:{port}[/bold]; Ctrl-C stops")
    if live:
        minutes = settings.window_minutes
        console.print(f"live feed: {rate:g} trades/s; windows of {minutes} min are copied once closed")
        simulate_live(warm, trades_per_second=rate, seed=int(datetime.now(UTC).timestamp()))
    else:
        processes[0].wait()
