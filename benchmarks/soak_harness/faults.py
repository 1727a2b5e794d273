"""The faults, each a real process-level event, and their seeded schedule.

Kinds: SIGKILL of a run worker (the phase it hit is read back from the run's events and the
table's snapshots), of the daemon, of a code server; PostgreSQL stopped then restarted; the
embedded warm tier's lock held by another process; ``coldtier maintain`` (compaction, expiry,
orphans; Spark's with ``--spark-maintenance``) concurrently with offloads; a second pyiceberg writer
committing to the same table in bursts; a late trade into an already copied window; the
warehouse filesystem full.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from benchmarks.soak_harness import procs
from benchmarks.soak_harness.monitor import Monitor
from benchmarks.soak_harness.stack import Stack
from benchmarks.soak_harness.trades import LateTrade, write_late_trade
from coldtier_assets.offload.sink import read_ledger
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog

KINDS: tuple[str, ...] = (
    "run_worker_kill",
    "daemon_kill",
    "code_server_kill",
    "postgres_outage",
    "warm_unavailable",
    "maintenance",
    "foreign_writer",
    "late_trade",
    "disk_full",
)
_PID = re.compile(r"Started process for run \(pid: (\d+)\)")


@dataclass
class FaultRecord:
    """One injected fault: when (seconds into the run), what, and what it hit."""

    kind: str
    at: float
    seconds: float = 0.0
    detail: dict[str, object] = field(default_factory=dict)
    skipped: str | None = None


@dataclass
class Injector:
    """Injects faults into one stack; ``short`` scales outage lengths down for few-minute runs."""

    stack: Stack
    monitor: Monitor
    rng: random.Random
    began: float
    short: bool
    spark_maintenance: bool = False
    records: list[FaultRecord] = field(default_factory=list)
    late_trades: list[LateTrade] = field(default_factory=list)
    background: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def outage(self) -> float:
        """A random outage length: 20-60 s (15-25 s in a short run)."""
        return self.rng.uniform(15, 25) if self.short else self.rng.uniform(20, 60)

    def inject(self, kind: str) -> FaultRecord:
        """Inject one fault of ``kind`` (blocks for the length of an outage) and record it."""
        record = FaultRecord(kind, round(time.monotonic() - self.began, 1))
        handler: Callable[[FaultRecord], None] = getattr(self, f"_{kind}")
        started = time.monotonic()
        try:
            handler(record)
        except Exception as error:  # a fault that could not be injected is reported, not fatal
            record.skipped = f"{type(error).__name__}: {error}"[:300]
        record.seconds = round(time.monotonic() - started, 1)
        if record.skipped is None:
            self.monitor.fault_ended(kind)
        self.records.append(record)
        return record

    def wait(self, seconds: float) -> None:
        """Sleep, restarting a Dagster process that died on its own meanwhile."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.stack.watchdog()
            time.sleep(min(2.0, left))

    # -- process kills --------------------------------------------------------------------------

    def _run_worker_kill(self, record: FaultRecord) -> None:
        with dg.DagsterInstance.get() as instance:
            run, pid = self._started_run(instance, timeout=90)
            if run is None or pid is None:
                record.skipped = "no run worker started within 90 s"
                return
            time.sleep(self.rng.uniform(0.0, 6.0))  # a random point of the run
            if not procs.is_descendant(pid, self.stack.roots):
                record.skipped = f"run worker {pid} already gone"
                return
            os.kill(pid, signal.SIGKILL)
            record.detail = {"run_id": run.run_id, "pid": pid, "phase": self._phase(instance, run)}

    def _started_run(
        self, instance: dg.DagsterInstance, timeout: float
    ) -> tuple[dg.DagsterRun | None, int | None]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
            for run in self.rng.sample(runs, len(runs)):
                for entry in instance.all_logs(run.run_id):
                    match = _PID.search(entry.message or "")
                    if match:
                        return run, int(match.group(1))
            self.wait(0.5)
        return None, None

    def _phase(self, instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
        """Where the kill landed: before the step, reading/writing, after a commit not yet recorded, …"""
        time.sleep(1.0)  # let events already sent by the dying process land
        events = [entry.dagster_event for entry in instance.all_logs(run.run_id) if entry.dagster_event]
        types = {event.event_type_value for event in events}
        materialized = {
            event.asset_key.path[-1]
            for event in events
            if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key
        }
        committed = self._committed_by(run.run_id, [key.path[-1] for key in run.asset_selection or []])
        if committed - materialized:
            return "after-commit-before-record"
        if "STEP_START" not in types:
            return "before-step"
        return "reading-writing" if not materialized else "between-tables"

    def _committed_by(self, run_id: str, tables: list[str]) -> set[str]:
        catalog = open_catalog(self.stack.settings)
        found = set()
        for name in tables:
            table = catalog.load_table((self.stack.settings.namespace, name))
            if any(
                s.summary and s.summary.additional_properties.get("coldtier.run-id") == run_id
                for s in table.metadata.snapshots
            ):
                found.add(name)
        return found

    def _daemon_kill(self, record: FaultRecord) -> None:
        daemon = self.stack.daemon
        assert daemon is not None
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.wait()
        down = self.rng.uniform(5, 15) if self.short else self.rng.uniform(10, 60)
        time.sleep(down)
        self.stack.start_daemon()
        record.detail = {"down_seconds": round(down, 1)}

    def _code_server_kill(self, record: FaultRecord) -> None:
        servers = procs.code_servers(self.stack.roots)
        if not servers:
            record.skipped = "no code server running"
            return
        daemon = self.stack.daemon
        of_daemon = [s for s in servers if daemon and procs.is_descendant(s.pid, [daemon.pid])]
        victim = self.rng.choice(of_daemon if of_daemon and self.rng.random() < 0.7 else servers)
        owner = "daemon" if daemon and procs.is_descendant(victim.pid, [daemon.pid]) else "webserver"
        os.kill(victim.pid, signal.SIGKILL)
        replaced = self._replacement(owner, victim.pid, timeout=30 if self.short else 60)
        record.detail = {"pid": victim.pid, "owner": owner, "replaced_after_seconds": replaced}
        if replaced is None:  # Dagster did not start a new one: the operator's move is a restart
            self.stack.restart(owner)
            record.detail["restarted_by_harness"] = owner

    def _replacement(self, owner: str, victim: int, timeout: float) -> float | None:
        """Seconds until the owner runs a new code server; None after ``timeout``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            process = self.stack.daemon if owner == "daemon" else self.stack.webserver
            if process is not None and any(s.pid != victim for s in procs.code_servers([process.pid])):
                return round(time.monotonic() - started, 1)
            time.sleep(1)
        return None

    # -- outages ----------------------------------------------------------------------------------

    def _postgres_outage(self, record: FaultRecord) -> None:
        down = self.outage()
        self.stack.pg.stop("immediate")
        try:
            time.sleep(down)
        finally:
            self.stack.pg.start()
        record.detail = {"down_seconds": round(down, 1)}

    def _warm_unavailable(self, record: FaultRecord) -> None:
        hold = self.outage()
        lock = str(Path(self.stack.settings.warm_dsn.removeprefix("chdb://")).resolve()) + ".lock"
        code = (
            "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
            "lock.acquire(timeout=600); print('held', flush=True); time.sleep(float(sys.argv[2]))"
        )
        holder = subprocess.Popen([sys.executable, "-c", code, lock, str(hold)], stdout=subprocess.PIPE)
        assert holder.stdout is not None
        waited = time.monotonic()
        holder.stdout.readline()  # the lock is held from here
        holder.wait()
        record.detail = {
            "held_seconds": round(hold, 1),
            "waited_for_lock_seconds": round(time.monotonic() - waited - hold, 1),
        }

    def _disk_full(self, record: FaultRecord) -> None:
        if not self.stack.tmpfs:
            record.skipped = "the warehouse is not on a filesystem the harness mounted"
            return
        hold = self.outage()
        ballast = self.stack.warehouse_dir / ".soak-ballast"
        chunk = b"\0" * (1 << 20)
        with ballast.open("wb") as out:
            try:
                while True:
                    out.write(chunk)
                    out.flush()
            except OSError:
                pass  # ENOSPC: the filesystem is full
            time.sleep(hold)
        ballast.unlink()
        record.detail = {"full_seconds": round(hold, 1)}

    # -- concurrent writers -----------------------------------------------------------------------

    def _maintenance(self, record: FaultRecord) -> None:
        env = dict(self.stack.env)
        if self.spark_maintenance:
            env["COLDTIER_MAINTENANCE_ENGINE"] = "spark"
        command = [
            sys.executable,
            "-m",
            "coldtier_assets.cli.main",
            "maintain",
            "--snapshot-days",
            "0",
            "--keep-snapshots",
            "3",
        ]
        log = (self.stack.logs / "maintenance.log").open("ab")
        self.background.append(
            ("maintenance", subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
        )
        record.detail = {"engine": env.get("COLDTIER_MAINTENANCE_ENGINE", "pyiceberg")}

    def _foreign_writer(self, record: FaultRecord) -> None:
        tables = ["silver_trades", "bronze_trades_binance", "gold_ohlcv_1m", "rejected_trades"]
        table = tables[
            sum(1 for r in self.records if r.kind == "foreign_writer") % len(tables)
        ]  # each in turn
        commits = self.rng.randint(4, 10)
        command = [
            sys.executable,
            "-m",
            "benchmarks.soak_harness.foreign",
            table,
            str(commits),
            str(self.rng.randint(0, 10**6)),
        ]
        log = (self.stack.logs / "foreign.log").open("ab")
        self.background.append(
            (
                "foreign_writer",
                subprocess.Popen(command, env=self.stack.env, stdout=log, stderr=subprocess.STDOUT),
            )
        )
        record.detail = {"table": table, "commits": commits}

    def _late_trade(self, record: FaultRecord) -> None:
        settings = self.stack.settings
        ledger = read_ledger(open_catalog(settings).load_table((settings.namespace, "bronze_trades_binance")))
        watermark = ledger.watermark
        if watermark is None or watermark - timedelta(minutes=3) < self.stack.history_start:
            record.skipped = "no copied window old enough yet"
            return
        minutes = self.rng.randint(
            1, max(1, min(20, int((watermark - self.stack.history_start).total_seconds() // 60) - 1))
        )
        trade_time = watermark - timedelta(minutes=minutes, seconds=self.rng.uniform(1, 59))
        warm = WarmTier(settings.warm_dsn, lock_timeout_seconds=600)
        try:
            trade = write_late_trade(warm, len(self.late_trades) + 1, trade_time, datetime.now(UTC))
        finally:
            warm.close()
        self.late_trades.append(trade)
        record.detail = {"trade_id": trade.trade_id, "trade_time": trade.trade_time.isoformat()}

    def finish_background(self, timeout: float = 600) -> dict[str, list[int | None]]:
        """Wait for background maintenance and foreign writers; their exit codes by kind."""
        codes: dict[str, list[int | None]] = {}
        deadline = time.monotonic() + timeout
        for kind, process in self.background:
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
            codes.setdefault(kind, []).append(process.returncode)
        return codes
