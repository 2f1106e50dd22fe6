#!/bin/bash
# Run once by the official postgres image when the primary's data directory is created
# (/docker-entrypoint-initdb.d): a role the replica streams the WAL with, allowed from
# the compose network only, and a physical replication slot so that the primary keeps
# the WAL the replica has not received yet.
set -euo pipefail

password="$(cat "${REPLICATION_PASSWORD_FILE:?}")"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set=password="$password" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SELECT pg_create_physical_replication_slot('replica1');
SQL
echo "host replication replicator 172.28.0.0/24 scram-sha-256" >> "$PGDATA/pg_hba.conf"
