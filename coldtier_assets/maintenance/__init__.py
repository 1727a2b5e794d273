"""Daily maintenance of the cold tables and guarded retention of the warm tier (Dagster-free).

One module per job:

* :mod:`.policy` — the knobs (target file size, snapshot and orphan ages, snapshots to keep).
* :mod:`.state` — files, bytes and rows of a table's current snapshot.
* :mod:`.audit_log` — the ``maintenance_audit_log`` table in the catalog database.
* :mod:`.compaction_plan` — which partitions need compacting (two or more small files), as bins.
* :mod:`.compaction_rewrite` — pyiceberg's verified rewrite of one planned partition.
* :mod:`.compaction` — pyiceberg's commit of each rewritten partition, one commit per partition.
* :mod:`.expiry` — expire old snapshots without losing the ledger of committed windows.
* :mod:`.orphans` — delete files under a table location that no metadata references.
* :mod:`.audit` — rows and checksum of the table before and after maintenance.
* :mod:`.actions` — the engine interface, and the pyiceberg engine (in process).
* :mod:`.spark_engine` — the same three actions as Iceberg's Spark procedures.
* :mod:`.runner` — compact → expire → remove orphans → audit, per table, logged.
* :mod:`.retention` — drop ClickHouse day partitions only when the cold tier verifiably holds them.
* :mod:`.holding` — move a verified day aside, re-verify it by checksum, then drop it (or move it back).
"""
