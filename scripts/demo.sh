#!/usr/bin/env bash
# The main job: set up, build the example lessons (animated holograms of the built-in
# phantom), serve them on this machine's LAN with TLS, open a session on the fdg lesson and
# print the lecturer, projection and join URLs and the join QR. No internet needed.
#   scripts/demo.sh                 the classroom (arkit demo; options pass through)
#   scripts/demo.sh --preview       just the FDG hologram in a local preview page
# The classroom keeps its data (database, lecturer key, local CA, built lessons) in the user
# data folder, not in the checkout: arkit demo prints where (--data DIR or ARKIT_DATA_DIR to choose).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ "${1:-}" = "--preview" ]; then
  shift
  mkdir -p out
  .venv/bin/arkit hologram phantom:mird-adult --tracer fdg -o out/fdg.glb --usdz out/fdg.usdz
  exec .venv/bin/arkit preview out/fdg.glb "$@"
fi
exec .venv/bin/arkit demo "$@"
