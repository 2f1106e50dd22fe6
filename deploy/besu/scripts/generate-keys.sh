#!/usr/bin/env bash
# Node keys of the network, and the files that depend on them.
#
# For each Besu node of docker-compose.yml (4 validators, rpc1), Besu itself (the pinned
# image) creates the node's secp256k1 key in keys/<node>/key and exports its public key
# and address:
#   besu --data-path=/data public-key export --to=/data/key.pub
#   besu --data-path=/data public-key export-address --to=/data/address
# then the validators' addresses go to config/validators.json, Besu encodes the QBFT
# genesis extraData from them:
#   besu rlp encode --from=config/validators.json --type=QBFT_EXTRA_DATA
# and scripts/render-network.py writes it into config/genesis.json (checking it against
# its own encoding), with config/static-nodes.json and config/permissions_config.toml.
#
# A key already there is kept (a node's identity must not change under a running
# network): delete keys/<node>/ to replace one (RUNBOOK.md "Rotate keys").
# Besu's `operator generate-blockchain-config` does the same in one go for a fresh
# network; this script keeps each step visible and re-runnable.
#
# Usage: scripts/generate-keys.sh [--operator 0xADDRESS]   (from deploy/besu/)
set -euo pipefail
cd "$(dirname "$0")/.."

BESU_IMAGE=hyperledger/besu:25.11.0
NODES=(validator1 validator2 validator3 validator4 rpc1)
VALIDATORS=(validator1 validator2 validator3 validator4)

besu() {  # besu <folder mounted at /data> <args...>, as the calling user
  local folder=$1
  shift
  docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/$folder:/data" "$BESU_IMAGE" "$@"
}

for node in "${NODES[@]}"; do
  mkdir -p "keys/$node"
  chmod 0700 "keys/$node"
  if [ ! -f "keys/$node/key" ]; then
    echo "== $node: new node key"
  fi
  # Creates /data/key when there is none, then exports from it.
  besu "keys/$node" --data-path=/data public-key export --to=/data/key.pub
  besu "keys/$node" --data-path=/data public-key export-address --to=/data/address
  rm -rf "keys/$node/database" "keys/$node/caches" "keys/$node/DATABASE_METADATA.json"
  chmod 0600 "keys/$node/key"
done

# validators.json first (render-network writes the same list again).
python3 - "${VALIDATORS[@]}" <<'PY'
import json, sys
addresses = [open(f"keys/{n}/address").read().strip().lower() for n in sys.argv[1:]]
open("config/validators.json", "w").write(json.dumps(addresses, indent=2) + "\n")
PY
cp config/validators.json keys/validators.json
besu keys rlp encode --from=/data/validators.json --to=/data/extra-data.txt --type=QBFT_EXTRA_DATA

python3 scripts/render-network.py "$@"

# Besu reads its key as the image's user `besu`, not as the caller.
besu_uid=${BESU_UID:-$(docker run --rm --entrypoint id "$BESU_IMAGE" -u besu)}
if [ "$(id -u)" = 0 ]; then
  chown -R "$besu_uid" keys/validator* keys/rpc1
else
  echo "now, as root: chown -R $besu_uid $PWD/keys/validator* $PWD/keys/rpc1"
fi
