#!/usr/bin/env bash
# TLS material of the internal network, with openssl:
#   tls/ca/ca.{key,crt}                  a self-signed CA (10 years) for ledger-net;
#   tls/nodes/<node>/keystore.p12        each Besu node's JSON-RPC certificate (SAN: its
#   tls/nodes/<node>/keystore.password   service name and address) with its key, PKCS12,
#                                        as rpc-http-tls-keystore-file wants it;
#   tls/proxy/server.{crt,key}           nginx's certificate for the clients.
# The ledger's processes trust tls/ca/ca.crt (REQUESTS_CA_BUNDLE, a compose secret).
#
# This CA is for a network that has no PKI of its own. An operator with one issues
# these certificates from it instead (same file names), and gives nginx a certificate
# its clients already trust. A certificate already there is kept; delete it to renew
# (RUNBOOK.md "Rotate keys": TLS).
#
# Usage: scripts/generate-tls.sh [proxy host name, default ledger.example.internal]
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077

PROXY_NAME=${1:-ledger.example.internal}
DAYS=825
declare -A NODES=(
  [validator1]=172.28.0.11 [validator2]=172.28.0.12 [validator3]=172.28.0.13
  [validator4]=172.28.0.14 [rpc1]=172.28.0.15
)

mkdir -p tls/ca tls/nodes tls/proxy
if [ ! -f tls/ca/ca.crt ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -days 3650 -subj "/CN=ledger internal CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout tls/ca/ca.key -out tls/ca/ca.crt
  chmod 0644 tls/ca/ca.crt
fi

issue() {  # issue <folder> <common name> <subjectAltName>
  local folder=$1 name=$2 san=$3
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -subj "/CN=$name" -keyout "$folder/server.key" -out "$folder/server.csr"
  openssl x509 -req -in "$folder/server.csr" -CA tls/ca/ca.crt -CAkey tls/ca/ca.key \
    -CAcreateserial -days "$DAYS" -sha256 -out "$folder/server.crt" \
    -extfile <(printf "subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature" "$san")
  rm -f "$folder/server.csr"
}

for node in "${!NODES[@]}"; do
  folder="tls/nodes/$node"
  mkdir -p "$folder"
  [ -f "$folder/keystore.p12" ] && continue
  issue "$folder" "$node" "DNS:$node,IP:${NODES[$node]},DNS:localhost,IP:127.0.0.1"
  openssl rand -hex 24 > "$folder/keystore.password"
  openssl pkcs12 -export -name "$node" -in "$folder/server.crt" -inkey "$folder/server.key" \
    -certfile tls/ca/ca.crt -passout "file:$folder/keystore.password" \
    -out "$folder/keystore.p12"
  rm -f "$folder/server.key"
done

if [ ! -f tls/proxy/server.crt ]; then
  issue tls/proxy "$PROXY_NAME" "DNS:$PROXY_NAME"
fi

besu_uid=${BESU_UID:-$(docker run --rm --entrypoint id hyperledger/besu:25.11.0 -u besu)}
if [ "$(id -u)" = 0 ]; then
  chown -R "$besu_uid" tls/nodes
else
  echo "now, as root: chown -R $besu_uid $PWD/tls/nodes"
fi
echo "CA: tls/ca/ca.crt (keep tls/ca/ca.key offline once the certificates are issued)"
