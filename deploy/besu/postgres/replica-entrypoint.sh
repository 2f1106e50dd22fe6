#!/bin/bash
# The streaming replica: on its first start, copy the primary (pg_basebackup, slot
# replica1, standby.signal and primary_conninfo written by -R); then run as a hot
# standby. Promote it with `pg_ctl promote` (RUNBOOK.md) if the primary is lost.
set -euo pipefail

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  export PGPASSWORD="$(cat "${REPLICATION_PASSWORD_FILE:?}")"
  until pg_isready -h "${PRIMARY_HOST:?}" -U replicator -d postgres; do sleep 2; done
  pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" \
    --slot=replica1 --wal-method=stream --write-recovery-conf --progress
  chmod 0700 "$PGDATA"
  unset PGPASSWORD
fi
exec postgres -c hot_standby=on -c max_connections=300
