#!/usr/bin/env bash
# The README's "Install from npm", followed literally in an empty consumer project with the npm found in
# NPM_BIN_DIR (npm 11 or npm 12), then the installed command run on a fixture. Not part of `make test`:
# it needs the npm registry and compiles gdal-async (3–4 minutes on 2 cores).
#
#   scripts/check-npm-install.sh NPM_BIN_DIR [WORK_DIR]
#
# The package installed is this checkout packed with `npm pack` (its prepack compiles the TypeScript, so
# `make setup` must have run here), or RASTERPIPE_SPEC when set (a .tgz path or `rasterpipe@VERSION`).
# The Node on PATH runs it all (22.19 or newer). WORK_DIR (default: a new temp directory) is kept.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -x "$1/npm" ]; then
  echo "usage: $0 NPM_BIN_DIR [WORK_DIR]   (NPM_BIN_DIR/npm must exist)" >&2
  exit 2
fi
export PATH="$(cd "$1" && pwd):$PATH"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${2:-$(mktemp -d /tmp/rp-npm-check.XXXXXX)}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
step () { printf '\n$ %s\n' "$*"; }

echo "npm $(npm --version) on Node $(node --version); work in $WORK"

# Build against the running Node's own headers when it has them (an npmrc `nodedir` may name another
# Node's, and nodejs.org may be out of reach): the README's advice, and what `make setup` does.
if [ -z "${npm_config_nodedir:-}" ]; then
  node_prefix="$(node -p 'require("path").resolve(process.execPath, "../..")')"
  if [ -f "$node_prefix/include/node/node.h" ]; then export npm_config_nodedir="$node_prefix"; fi
fi
echo "npm_config_nodedir=${npm_config_nodedir:-(unset)}"

spec="${RASTERPIPE_SPEC:-}"
if [ -z "$spec" ]; then
  step npm pack --pack-destination "$WORK"
  (cd "$ROOT" && npm pack --pack-destination "$WORK" --silent >/dev/null)
  spec="$(ls "$WORK"/rasterpipe-*.tgz | tail -1)"
fi

project="$WORK/consumer"
rm -rf "$project" && mkdir -p "$project" && cd "$project"
step npm init -y
npm init -y >/dev/null
step npm pkg set allowScripts.gdal-async=true --json
npm pkg set allowScripts.gdal-async=true --json
step npm_config_build_from_source=true npm_config_shared_gdal=true npm install "$spec"
start=$(date +%s)
npm_config_build_from_source=true npm_config_shared_gdal=true npm install "$spec"
echo "(install: $(( $(date +%s) - start )) s)"

step npx rasterpipe --version
npx rasterpipe --version
step 'npx rasterpipe --help | head -3'
npx rasterpipe --help | head -3
fixture="$ROOT/fixtures/rasters/int16-small.tif"
step "echo $fixture | npx rasterpipe -o out -w 0,0,64,64"
record="$(echo "$fixture" | npx rasterpipe -o out -w 0,0,64,64)"
echo "$record"
if ! grep -q '"status":"ok"' <<<"$record"; then
  echo "check-npm-install: the run's record is not ok" >&2
  exit 1
fi
echo
echo "check-npm-install: ok (npm $(npm --version), Node $(node --version))"
