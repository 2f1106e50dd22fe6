#!/usr/bin/env bash
# The secrets of docker-compose.yml, in secrets/ (each file mode 0400):
#   postgres.password, replication.password   PostgreSQL's superuser `ledger` and the
#                                              replica's `replicator` (read as uid 999);
#   ledger.pgpass                              the same password for libpq (PGPASSFILE);
#   keystore.passphrase                        encrypts the custodial keystores;
#   document.key                               encrypts the documents at rest (32 bytes, hex);
#   operator-keystore.json, operator.passphrase the operator account (a new one, made in
#                                              the service image by new-operator-keystore.py).
# The ledger's files are read as uid 10001 (the image's `ledger` user).
# A file already there is kept; RUNBOOK.md "Rotate keys" says how to change each.
#
# Usage: scripts/generate-secrets.sh   (from deploy/besu/, after the image is built:
#        docker compose build)
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077
mkdir -p secrets

LEDGER_IMAGE=${LEDGER_IMAGE:-ledger-app:0.1.0}
POSTGRES_UID=999
LEDGER_UID=10001

new() {  # new <file>: 32 random bytes, url-safe, unless the file exists
  [ -f "secrets/$1" ] || openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n' > "secrets/$1"
}

new postgres.password
new replication.password
new keystore.passphrase
[ -f secrets/document.key ] || openssl rand -hex 32 | tr -d '\n' > secrets/document.key
if [ ! -f secrets/ledger.pgpass ]; then
  printf 'postgres:5432:*:ledger:%s\n' "$(cat secrets/postgres.password)" > secrets/ledger.pgpass
fi
if [ ! -f secrets/operator-keystore.json ]; then
  if [ -n "${OPERATOR_PYTHON:-}" ]; then  # a python with eth-account, instead of the image
    address=$("$OPERATOR_PYTHON" scripts/new-operator-keystore.py secrets)
  else
    address=$(docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/secrets:/secrets" \
      -v "$PWD/scripts:/scripts:ro" --entrypoint python "$LEDGER_IMAGE" \
      /scripts/new-operator-keystore.py /secrets)
  fi
  echo "operator account: $address (scripts/render-network.py --operator $address allowlists it)"
fi
chmod 0400 secrets/*

if [ "$(id -u)" = 0 ]; then
  chown "$POSTGRES_UID" secrets/postgres.password secrets/replication.password
  chown "$LEDGER_UID" secrets/ledger.pgpass secrets/keystore.passphrase secrets/document.key \
    secrets/operator-keystore.json secrets/operator.passphrase
else
  echo "now, as root:"
  echo "  chown $POSTGRES_UID $PWD/secrets/postgres.password $PWD/secrets/replication.password"
  echo "  chown $LEDGER_UID $PWD/secrets/{ledger.pgpass,keystore.passphrase,document.key,operator-keystore.json,operator.passphrase}"
fi
