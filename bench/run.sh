#!/usr/bin/env bash
# `make bench`: every benchmark, each ending with one JSON line. Distributed benches run when
# PostgreSQL and Redis answer on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
SF=.venv/bin/sentiflow
$SF bench embedded --posts "${BENCH_POSTS:-100000}" --json
$SF bench rank --items 500 --json
$SF bench live --clients "${BENCH_LIVE_CLIENTS:-1000}" --json
$SF bench analytics --posts "${BENCH_ANALYTICS_POSTS:-1000000}" --json
$SF bench export --rows "${BENCH_EXPORT_ROWS:-1000000}" --json
$SF bench analyzers --json
