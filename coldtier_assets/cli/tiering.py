"""CLI commands that set up and move data: `init`, `simulate`, `offload`, `status`, `verify`, `config`."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from coldtier_assets.cli.common import cli_settings, console, errors, warm_tier
from coldtier_assets.cli.output import config_lines
from coldtier_assets.resources.iceberg import open_catalog


def parse_time(value: str) -> datetime:
    """An ISO 8601 option value as an aware UTC datetime (a usage error otherwise)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 date/time: {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def init() -> None:
    """Create the warm (ClickHouse) and cold (Iceberg) tables from ddl/; running it twice is a no-op."""
    from coldtier_assets.offload.bootstrap import init_all

    settings = cli_settings()
    report = init_all(warm_tier(settings), open_catalog(settings), settings.namespace)
    console.print(f"warm: {report.warm_statements} DDL statements applied (IF NOT EXISTS)")
    console.print(
        f"cold: created {list(report.cold_created) or 'none'}; already present {len(report.cold_existing)}"
    )
    if report.cold_documented:
        console.print(f"cold: column docs updated from ddl/ in {list(report.cold_documented)}")


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
    from coldtier_assets.simulate.feed import simulate_history
    from coldtier_assets.simulate.live import simulate_live

    if not live and not (start and end):
        raise typer.BadParameter("give --start and --end, or --live")
    settings = cli_settings()
    warm = warm_tier(settings)
    if live:
        report = simulate_live(
            warm, trades_per_second=rate, seed=seed, duration_seconds=duration, interval_seconds=interval
        )
    else:
        assert start and end
        report = simulate_history(warm, parse_time(start), parse_time(end), seed=seed, trades_per_second=rate)
    console.print(
        f"{report.total:,} trades ({sum(report.duplicates.values()):,} resent) in {report.elapsed_seconds:.1f} s "
        f"= {report.trades_per_second:,.0f} trades/s; per exchange: {dict(report.trades)}"
    )


def offload(
    table: Annotated[list[str], typer.Option(help="table(s) to copy (default: all)")] = [],  # noqa: B006
    start: Annotated[str, typer.Option(help="first window start (ISO 8601, UTC)")] = "",
    end: Annotated[str, typer.Option(help="last window end (ISO 8601, UTC)")] = "",
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="replace cold windows even where ClickHouse now holds fewer rows or retention dropped the day",
        ),
    ] = False,
) -> None:
    """Copy windows [start, end) of tables outside Dagster (same core, same exactly-once commits)."""
    from coldtier_assets.cli.progress import BarFeed, offload_progress
    from coldtier_assets.offload.pipeline import Offloader
    from coldtier_assets.offload.windows import split_windows
    from coldtier_assets.tables import TABLES, get_table

    first, last = parse_time(start), parse_time(end)
    settings = cli_settings()
    specs = [get_table(name) for name in table] if table else list(TABLES)
    offloader = Offloader(settings, warm_tier(settings), lambda: open_catalog(settings), force=force)
    with offload_progress(console) as progress:
        for spec in specs:
            feed = BarFeed(progress, spec.name, len(split_windows(first, last, spec.window(settings.window))))
            report = offloader.offload(
                spec,
                first,
                last,
                run_id="cli",
                on_window=lambda _window, rows, feed=feed: feed.advance(1, rows),
            )
            progress.console.print(
                f"{spec.name}: {report.rows:,} rows, {report.commits} commits, watermark {report.watermark}"
            )


def status() -> None:
    """Per table: watermark, lag, rows warm and cold, files, snapshots and the last check."""
    from coldtier_assets.defs.checks.check_status import with_check_results
    from coldtier_assets.offload.status import collect_status, render_status

    settings = cli_settings()
    statuses = collect_status(warm_tier(settings), open_catalog(settings), settings.namespace)
    console.print(render_status(with_check_results(settings, statuses)))


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

    now = parse_time(until) if until else datetime.now(UTC)
    start = parse_time(since) if since else now - timedelta(hours=24)
    settings = cli_settings()
    warm, catalog = warm_tier(settings), open_catalog(settings)
    bad = 0
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
    if bad:
        errors.print(f"[red]{bad} window(s) differ between ClickHouse and Iceberg[/red]")
        raise typer.Exit(1)


def config() -> None:
    """List every setting, its environment variable, its default and its current value (secrets hidden)."""
    settings = cli_settings()
    for line in config_lines(settings, os.environ):
        console.print(line)
