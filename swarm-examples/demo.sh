#!/usr/bin/env bash
# `npm run demo`: installs what is missing, then shows Slim on a throwaway dockerd.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then echo "the demo needs root (network namespaces, dockerd)" >&2; exit 1; fi
bash test/install-prereqs.sh
exec npx tsx swarm-examples/demo.ts
