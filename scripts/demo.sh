#!/usr/bin/env bash
# The main job: set up, build the animated FDG hologram of the built-in phantom (and its
# USDZ for iOS), and show it in a browser page served from this machine (no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p out
.venv/bin/arkit hologram phantom:mird-adult --tracer fdg -o out/fdg.glb --usdz out/fdg.usdz
exec .venv/bin/arkit preview out/fdg.glb "$@"
