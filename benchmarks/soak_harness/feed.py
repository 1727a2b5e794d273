"""The soak's live feed process: ``python -m benchmarks.soak_harness.feed --rate R --seed S --out FILE``.

The same :func:`~coldtier_assets.simulate.feed.simulate_live` as ``coldtier simulate --live``
(resends 1-30 s after the original, an optional fraction of trades delivered minutes late), plus
one invalid trade every ``--bad-every`` seconds (quarantined into ``rejected_trades``). SIGTERM
stops it: held-back trades are delivered, then the counts are written to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.soak_harness.trades import BadTrades
from coldtier_assets.config import load_settings
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.simulate.live import simulate_live


def _bad_trades(bad: BadTrades, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        bad.write(datetime.now(UTC))


def main() -> None:
    """Run the feed until SIGTERM; write its counts as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--late-fraction", type=float, default=0.0)
    parser.add_argument("--bad-every", type=float, default=20.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    settings = load_settings()
    warm = WarmTier(settings.warm_dsn, lock_timeout_seconds=3600)  # waits out a held lock
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    bad = BadTrades(warm)
    injector = threading.Thread(target=_bad_trades, args=(bad, args.bad_every, stop), daemon=True)
    injector.start()
    report = simulate_live(
        warm,
        trades_per_second=args.rate,
        seed=args.seed,
        interval_seconds=2.0,
        late_fraction=args.late_fraction,
        stop=stop,
    )
    injector.join()
    warm.close()
    counts = {
        "trades": report.total,
        "resent": sum(report.duplicates.values()),
        "late": sum(report.late.values()),
        "invalid": bad.written,
    }
    args.out.write_text(json.dumps(counts))


if __name__ == "__main__":
    main()
