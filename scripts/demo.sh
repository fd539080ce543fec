#!/bin/bash
# scripts/demo.sh -- the main job: install what is needed, build ame, start
# a throwaway cluster with pg_cron preloaded, create the extension, load
# sample data and print what ame made of it; then write report.html (the
# service levels and technicians as charts, scripts/report.sh) from the same
# cluster before it is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
export LANG=C.UTF-8 LC_ALL=C.UTF-8

bash scripts/setup.sh

pg_virtualenv -t \
	-o shared_preload_libraries=pg_cron \
	-o cron.database_name=postgres \
	-o cron.use_background_workers=on \
	-o max_worker_processes=32 \
	-o wal_level=logical \
	sh -c 'psql -X -v ON_ERROR_STOP=1 -f demo/main.sql && bash scripts/report.sh report.html'
