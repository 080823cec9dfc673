#!/usr/bin/env bash
# Builds (once) and prints the path of the Python reference venv used by the tests and benchmarks:
# torch 2.13.0 CPU, transformers 5.17.0, safetensors, scikit-learn, pyarrow, huggingface_hub, and for the benchmark's
# transformers.js peer onnx + onnxscript (torch.onnx.export) and onnxruntime (the version onnxruntime-node ships).
# Python is a test-time reference only; radbert-native never needs it at run time.
# Cache: $RADBERT_PYREF (default ~/.cache/radbert-native/pyref-<versions>).
set -euo pipefail
versions="torch==2.13.0 transformers==5.17.0"
tag="torch2.13.0-tf5.17.0-r3"
venv="${RADBERT_PYREF:-$HOME/.cache/radbert-native/pyref-$tag}"
if [ -x "$venv/bin/python" ] && [ -f "$venv/.complete" ]; then echo "$venv"; exit 0; fi
mkdir -p "$(dirname "$venv")"
lock="$venv.lock"
exec 9>"$lock"
flock 9
if [ -x "$venv/bin/python" ] && [ -f "$venv/.complete" ]; then echo "$venv"; exit 0; fi
rm -rf "$venv"
python3 -m venv "$venv" >&2
index_args=()
extra=$(pip config get global.extra-index-url 2>/dev/null || true)
if [ -n "$extra" ]; then
  first=${extra%% *}
  index_args=(--index-url "$first")
  for more in ${extra#"$first"}; do index_args+=(--extra-index-url "$more"); done
fi
echo "pyref: installing $versions into $venv" >&2
"$venv/bin/pip" install --disable-pip-version-check -q "${index_args[@]}" \
  $versions accelerate safetensors scikit-learn pyarrow huggingface_hub numpy onnx onnxscript onnxruntime==1.30.0 >&2
touch "$venv/.complete"
echo "$venv"
