#!/usr/bin/env bash
# Run every integration test file in its own pytest process, JOBS files at a time.
#
# One process per file: chDB 26.9 keeps ~8 descriptors per embedded session opened and closed,
# and one process running the whole suite reaches the 20000-file limit. Most files spend their
# time waiting on child processes (Dagster runs, Spark, PostgreSQL, a browser), so two files at a
# time use a 2-core machine better than one. Each file's output is printed whole when it ends,
# never interleaved; the exit status is non-zero when any file failed. The unattended-daemon test and
# the soak run last, alone: they check that the live system keeps up with 1-minute windows, which a
# second file's load on two cores would turn into a race.
#
# Usage: scripts/run-integration-files.sh PYTEST [FILE ...]   (JOBS=n to change the parallelism)
set -uo pipefail
pytest_bin="$1"; shift
jobs="${JOBS:-2}"
dir=coldtier_assets_tests/integration
solo=()
if [ "$#" -eq 0 ]; then
    # Longest files first (by a CI run's times, 2026-12-06: 246, 221, 112, 110, 84… s), so the last
    # ones to start are short ones and neither slot idles while the other ends a long file.
    heavy=(test_sensors.py test_graph.py test_secrets.py test_independent_readers.py \
           test_ledger_survives_spark.py test_offload_exactly_once.py test_s3_warehouse.py \
           test_spark_maintenance.py test_spark_reads_catalog.py test_cli_failures.py test_ledger.py \
           test_cli_dev.py test_concurrent_runs.py)
    alone=(test_unattended.py test_soak.py)
    for name in "${heavy[@]}"; do
        [ -f "$dir/$name" ] && set -- "$@" "$dir/$name"
    done
    for file in "$dir"/test_*.py; do
        case " ${heavy[*]} ${alone[*]} " in *" $(basename "$file") "*) continue ;; esac
        set -- "$@" "$file"
    done
    for name in "${alone[@]}"; do
        [ -f "$dir/$name" ] && solo+=("$dir/$name")
    done
fi
logs="$(mktemp -d)"
export pytest_bin logs
run_one() {
    local file="$1" log start rc
    log="$logs/$(basename "$file").log"
    start=$(date +%s)
    "$pytest_bin" -q -rs "$file" >"$log" 2>&1
    rc=$?
    echo "$rc" >"$log.rc"
    { echo "== $file (exit $rc, $(( $(date +%s) - start )) s)"; cat "$log"; } | flock "$logs/.print" cat
}
export -f run_one
printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'run_one "$1"' _ {}
for file in "${solo[@]}"; do
    run_one "$file"
done
status=0
all=("$@" "${solo[@]}")
echo "== integration files, $jobs at a time (then ${#solo[@]} alone):"
for file in "${all[@]}"; do
    rc="$(cat "$logs/$(basename "$file").log.rc" 2>/dev/null || echo missing)"
    [ "$rc" = 0 ] || { echo "FAILED: $file (exit $rc)"; status=1; }
done
[ "$status" = 0 ] && echo "all ${#all[@]} files passed"
rm -rf "$logs"
exit "$status"
