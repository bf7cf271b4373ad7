#!/usr/bin/env bash
# The main job: set up, build the hologram of the built-in phantom, and show it in a
# browser page served from this machine (no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p out
.venv/bin/arkit hologram phantom:mird-adult -o out/phantom.glb
exec .venv/bin/arkit preview out/phantom.glb "$@"
