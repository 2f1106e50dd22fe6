#!/usr/bin/env bash
# Installs launchers for the project's solc-js front end where py-solc-x,
# ape-solidity and Slither look for a native solc:
#   $SOLCX_BINARY_PATH/solc-v<version>   (py-solc-x / ape-solidity)
#   .venv/bin/solc                       (Slither / crytic-compile, on PATH)
# The version comes from package.json: the one place the project pins solc.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="$(node -p "require('$root/package.json').dependencies.solc")"
solcx_dir="${SOLCX_BINARY_PATH:-$root/.venv/solcx}"
mkdir -p "$solcx_dir" "$root/.venv/bin"
for target in "$solcx_dir/solc-v$version" "$root/.venv/bin/solc"; do
  cat > "$target" <<LAUNCHER
#!/bin/sh
exec node "$root/toolchain/solc-cli.cjs" "\$@"
LAUNCHER
  chmod +x "$target"
done
echo "solc $version (solc-js) installed for py-solc-x in $solcx_dir"
