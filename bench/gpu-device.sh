#!/usr/bin/env bash
# On a bare GPU machine with no network: unpacks bench/results/gpu-bundle (made by bench/gpu-bundle.sh and carried
# there) and runs the check with this script's arguments, its JSON and log under $OUT (else bench/results). The Vulkan loader is
# unpacked into / only when the machine lacks one; a driver mounted under /usr/local/nvidia gets its ICD named.
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=bench/results/gpu-bundle
out=${OUT:-bench/results}
python3 - "$bundle" <<'PY' || exit 1
import lzma, os, shutil, sys, tarfile
bundle = sys.argv[1]
os.makedirs('/tmp/gpu-node', exist_ok=True)
with lzma.open(f'{bundle}/node.xz') as src, open('/tmp/gpu-node/node', 'wb') as dst:
    shutil.copyfileobj(src, dst)
os.chmod('/tmp/gpu-node/node', 0o755)
shutil.rmtree('node_modules', ignore_errors=True)
if os.path.islink('node_modules'):
    os.unlink('node_modules')
for part in ('node_modules', 'dist'):
    with tarfile.open(f'{bundle}/{part}.tar.xz') as tar:
        tar.extractall('.')
PY
if ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in "$bundle"/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd; fi
mkdir -p "$out"
timeout -k 5 300 /tmp/gpu-node/node dist/bench/gpu-check.js --out "$out/gpu-check.json" "$@" 2>&1 | tee "$out/gpu-check.log"
