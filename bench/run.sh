#!/usr/bin/env bash
# `make bench`: every benchmark, each ending with one JSON line. Distributed benches run when
# PostgreSQL and Redis answer on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
SF=.venv/bin/sentiflow
$SF bench embedded --posts "${BENCH_POSTS:-100000}" --json
$SF bench analyzers --json
# transformers backend: a roberta-base-sized model with random weights (GPU when present).
$SF bench transformers --texts "${BENCH_HF_TEXTS:-2000}" --json
$SF bench rank --items 500 --json
$SF bench live --clients "${BENCH_LIVE_CLIENTS:-1000}" --json
# Analytics embedded (SQLite, in-process cache), whatever the shell's settings say.
env -u SENTIFLOW_DATABASE_URL -u SENTIFLOW_REDIS_URL \
  $SF bench analytics --posts "${BENCH_ANALYTICS_POSTS:-1000000}" --json
$SF bench export --rows "${BENCH_EXPORT_ROWS:-1000000}" --json
# Distributed mode, when PostgreSQL and Redis answer (the bench makes a scratch database and
# key prefix on them and removes both after).
if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  SENTIFLOW_DATABASE_URL="${SENTIFLOW_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/postgres}" \
  SENTIFLOW_REDIS_URL="${SENTIFLOW_REDIS_URL:-redis://127.0.0.1:6379/0}" \
    $SF bench pipeline --posts "${BENCH_PIPELINE_POSTS:-200000}" --workers 2 --json
  # The issue's scale: about 15 minutes on 2 cores, 8 GB of scratch database, dropped after.
  SENTIFLOW_DATABASE_URL="${SENTIFLOW_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/postgres}" \
  SENTIFLOW_REDIS_URL="${SENTIFLOW_REDIS_URL:-redis://127.0.0.1:6379/0}" \
    $SF bench analytics --posts "${BENCH_ANALYTICS_PG_POSTS:-10000000}" --json
else
  echo "distributed benches (pipeline, analytics on PostgreSQL) skipped: PostgreSQL (5432) or Redis (6379) not answering on 127.0.0.1" >&2
fi
