#!/usr/bin/env bash
# One command to set up and serve: installs dependencies, builds, and runs `agentd serve` on
# the embedded default (SQLite + in-process bus under ./data). Extra args go to `agentd serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec ./build/agentd serve "$@"
