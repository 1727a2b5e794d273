"""The fault-injection soak harness behind ``benchmarks/soak.py`` (issue #12).

Modules, one job each: ``procs`` (find processes under /proc), ``stack`` (PostgreSQL, Dagster
webserver + daemon, the feed), ``faults`` (the fault kinds and their seeded schedule), ``monitor``
(watermark and lag sampling during the run), ``verify`` and ``candles`` (the independent check
afterwards), ``report`` (the JSON report and the RESULTS.md line), ``harness`` (the orchestration).
"""
