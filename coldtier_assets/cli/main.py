"""The ``coldtier`` command line: init, simulate, offload, demo, status, dev."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from coldtier_assets.cli.common import console, errors, settings_or_exit
from coldtier_assets.config import SETTINGS_DOC, Settings
from coldtier_assets.errors import ColdtierError
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog

app = typer.Typer(
    help="coldtier: tier crypto trades from ClickHouse (warm) into Iceberg (cold), exactly once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _settings() -> Settings:
    return settings_or_exit()


def _parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 date/time: {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _fail(error: ColdtierError) -> typer.Exit:
    errors.print(f"[red]error:[/red] {type(error).__name__}: {error}")
    return typer.Exit(1)


@app.command()
def init() -> None:
    """Create the warm (ClickHouse) and cold (Iceberg) tables from ddl/; running it twice is a no-op."""
    from coldtier_assets.offload.bootstrap import init_all

    settings = _settings()
    try:
        report = init_all(WarmTier(settings.warm_dsn), open_catalog(settings), settings.namespace)
    except ColdtierError as error:
        raise _fail(error) from None
    console.print(f"warm: {report.warm_statements} DDL statements applied (IF NOT EXISTS)")
    console.print(
        f"cold: created {list(report.cold_created) or 'none'}; already present {len(report.cold_existing)}"
    )


@app.command()
def simulate(
    start: Annotated[str | None, typer.Option(help="history start (ISO 8601, UTC)")] = None,
    end: Annotated[str | None, typer.Option(help="history end (ISO 8601, UTC)")] = None,
    live: Annotated[bool, typer.Option(help="write trades as they happen until stopped")] = False,
    rate: Annotated[float, typer.Option(help="trades per second, all exchanges together")] = 150.0,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same trades)")] = 7,
    duration: Annotated[float | None, typer.Option(help="live mode: stop after this many seconds")] = None,
    interval: Annotated[float, typer.Option(help="live mode: seconds between batches")] = 1.0,
) -> None:
    """Write a realistic Binance/Kraken/Coinbase trade feed into the Bronze tables."""
    from coldtier_assets.simulate.feed import simulate_history, simulate_live

    settings = _settings()
    warm = WarmTier(settings.warm_dsn)
    try:
        if live:
            report = simulate_live(
                warm, trades_per_second=rate, seed=seed, duration_seconds=duration, interval_seconds=interval
            )
        else:
            if not (start and end):
                raise typer.BadParameter("give --start and --end, or --live")
            report = simulate_history(
                warm, _parse_time(start), _parse_time(end), seed=seed, trades_per_second=rate
            )
    except ColdtierError as error:
        raise _fail(error) from None
    console.print(
        f"{report.total:,} trades ({sum(report.duplicates.values()):,} resent) in {report.elapsed_seconds:.1f} s "
        f"= {report.trades_per_second:,.0f} trades/s; per exchange: {dict(report.trades)}"
    )


@app.command()
def offload(
    table: Annotated[list[str], typer.Option(help="table(s) to copy (default: all)")] = [],  # noqa: B006
    start: Annotated[str, typer.Option(help="first window start (ISO 8601, UTC)")] = "",
    end: Annotated[str, typer.Option(help="last window end (ISO 8601, UTC)")] = "",
) -> None:
    """Copy windows [start, end) of tables outside Dagster (same core, same exactly-once commits)."""
    from coldtier_assets.offload.pipeline import Offloader
    from coldtier_assets.tables import TABLES, get_table

    settings = _settings()
    specs = [get_table(name) for name in table] if table else list(TABLES)
    offloader = Offloader(settings, WarmTier(settings.warm_dsn), lambda: open_catalog(settings))
    try:
        for spec in specs:
            report = offloader.offload(spec, _parse_time(start), _parse_time(end), run_id="cli")
            console.print(
                f"{spec.name}: {report.rows:,} rows, {len(report.results)} commits, watermark {report.watermark}"
            )
    except (ColdtierError, ValueError) as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None


@app.command()
def status() -> None:
    """Per table: watermark, lag, rows warm and cold, files and snapshots."""
    from coldtier_assets.offload.status import collect_status, render_status, with_check_results

    settings = _settings()
    try:
        statuses = with_check_results(
            settings, collect_status(WarmTier(settings.warm_dsn), open_catalog(settings), settings.namespace)
        )
    except ColdtierError as error:
        raise _fail(error) from None
    console.print(render_status(statuses))


@app.command()
def verify(
    table: Annotated[list[str], typer.Option(help="table(s) to verify (default: all)")] = [],  # noqa: B006
    since: Annotated[
        str | None, typer.Option(help="from this time (ISO 8601, UTC); default: 24 h ago")
    ] = None,
    until: Annotated[str | None, typer.Option(help="up to this time (default: now)")] = None,
) -> None:
    """Compare warm and cold row counts and checksums per window; exit 1 listing any mismatch."""
    from coldtier_assets.offload.verify import Verdict, verify_windows
    from coldtier_assets.offload.windows import closed_window_end, split_windows
    from coldtier_assets.tables import TABLES, get_table

    settings = _settings()
    warm, catalog = WarmTier(settings.warm_dsn), open_catalog(settings)
    now = _parse_time(until) if until else datetime.now(UTC)
    start = _parse_time(since) if since else now - timedelta(hours=24)
    bad = 0
    try:
        for spec in [get_table(name) for name in table] if table else TABLES:
            length = spec.window(settings.window)
            first = start - timedelta(seconds=start.timestamp() % length.total_seconds())
            end = closed_window_end(now, length, timedelta(0))
            windows = split_windows(first, end, length) if first < end else []
            checks = verify_windows(
                settings, warm, catalog.load_table((settings.namespace, spec.name)), spec, windows
            )
            counts = {verdict: sum(c.verdict is verdict for c in checks) for verdict in Verdict}
            wrong = [c for c in checks if c.verdict is Verdict.MISMATCH]
            bad += len(wrong)
            summary = ", ".join(f"{n} {verdict.value}" for verdict, n in counts.items() if n)
            console.print(
                f"{'[red]✗[/red]' if wrong else '[green]✓[/green]'} {spec.name}: {summary or 'no windows'}"
            )
            for check in wrong:
                console.print(
                    f"    {check.window}: warm {check.warm_rows} rows {check.warm_checksum:016x}, "
                    f"cold {check.cold_rows} rows {check.cold_checksum:016x}"
                )
    except ColdtierError as error:
        raise _fail(error) from None
    if bad:
        errors.print(f"[red]{bad} window(s) differ between ClickHouse and Iceberg[/red]")
        raise typer.Exit(1)


@app.command()
def demo(
    hours: Annotated[float, typer.Option(help="hours of trades to simulate")] = 2.0,
    rate: Annotated[float, typer.Option(help="trades per second, all exchanges together")] = 150.0,
) -> None:
    """Init, simulate two hours of trades, copy every closed window of every table, print status."""
    from coldtier_assets.cli.demo import run_demo
    from coldtier_assets.offload.status import render_status

    settings = _settings()
    try:
        runs, statuses = run_demo(settings, hours=hours, trades_per_second=rate, say=console.print)
    except ColdtierError as error:
        raise _fail(error) from None
    console.print(render_status(statuses))
    if not all(run.success for run in runs):
        console.print("[red]some offload runs failed; see `make dev` → Runs[/red]")
        raise typer.Exit(1)
    console.print(f"Open the UI on this data: [bold]make dev[/bold] (DAGSTER_HOME={settings.dagster_home})")


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="webserver port")] = 3000,
    live: Annotated[bool, typer.Option(help="also run the live trade feed until stopped")] = True,
    rate: Annotated[float, typer.Option(help="live feed: trades per second")] = 50.0,
) -> None:
    """Start the Dagster webserver and daemon (sensors copy windows as they close), with a live feed."""
    from coldtier_assets.cli.devserver import (
        daemon_command,
        start_process,
        stop_process,
        wait_for_webserver,
        webserver_command,
    )
    from coldtier_assets.cli.instance import prepare_dagster_home
    from coldtier_assets.offload.bootstrap import init_all
    from coldtier_assets.simulate.feed import simulate_live

    settings = _settings()
    home = prepare_dagster_home(settings)
    warm = WarmTier(settings.warm_dsn)
    try:
        init_all(warm, open_catalog(settings), settings.namespace)
    except ColdtierError as error:
        raise _fail(error) from None
    env = os.environ.copy()
    processes = [
        start_process(webserver_command(port), env, settings.home / "logs" / "webserver.log"),
        start_process(daemon_command(), env, settings.home / "logs" / "daemon.log"),
    ]
    try:
        wait_for_webserver(f"http://127.0.0.1:{port}", processes[0])
        console.print(
            f"Dagster UI: [bold]http://127.0.0.1:{port}[/bold] — logs in {home / 'logs'}; Ctrl-C stops"
        )
        if live:
            console.print(
                f"live feed: {rate:g} trades/s; windows of {settings.window_minutes} min are copied once closed"
            )
            simulate_live(warm, trades_per_second=rate, seed=int(datetime.now(UTC).timestamp()))
        else:
            processes[0].wait()
    except KeyboardInterrupt:
        pass
    except ColdtierError as error:
        raise _fail(error) from None
    finally:
        for process in processes:
            stop_process(process)


@app.command()
def config() -> None:
    """List every setting, its environment variable, its default and its current value."""
    settings = _settings()
    for variable, meaning, default in SETTINGS_DOC:
        console.print(
            f"[bold]{variable}[/bold] = {os.environ.get(variable, '')!r}  ({meaning}; default {default})"
        )
    console.print(settings)


def _register_plugins() -> None:
    from coldtier_assets.cli.maintenance import register as register_maintenance
    from coldtier_assets.cli.monitoring import register as register_monitoring

    register_maintenance(app)
    register_monitoring(app)


_register_plugins()

if __name__ == "__main__":
    app()
