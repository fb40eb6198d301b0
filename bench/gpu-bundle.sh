#!/usr/bin/env bash
# Packs what `npm run gpu-check` needs on a bare x86-64 GPU machine with no network (no Node, no npm registry) into
# bench/results/gpu-bundle (git-ignored): this Node binary, the node_modules packages the check loads (Linux x86-64
# binaries only, no source maps), the compiled dist/ (npm run build first) and the Vulkan loader's Debian package,
# all compressed: about 46 MiB, 62 MiB with the tracked files. bench/gpu-device.sh unpacks it there and runs the check.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results/gpu-bundle
rm -rf "$out" && mkdir -p "$out"
modules=$(readlink -f node_modules)
packages=(@tensorflow/tfjs-core @tensorflow/tfjs-backend-cpu @tensorflow/tfjs-backend-wasm @tensorflow/tfjs-backend-webgpu
  webgpu @webgpu debug ms onnxruntime-node onnxruntime-common onnx-proto protobufjs @protobufjs long yaml seedrandom
  cli-progress string-width strip-ansi is-fullwidth-code-point emoji-regex ansi-regex)
for p in "${packages[@]}"; do [ -e "$modules/$p" ] || { echo "gpu-bundle: node_modules/$p is missing" >&2; exit 1; }; done
tar -C "$modules" --transform 's,^,node_modules/,' --exclude='*.map' \
  --exclude='onnxruntime-node/bin/napi-v6/darwin' --exclude='onnxruntime-node/bin/napi-v6/win32' \
  --exclude='onnxruntime-node/bin/napi-v6/linux/arm64' --exclude='webgpu/dist/darwin-*' --exclude='webgpu/dist/win32-*' \
  --exclude='webgpu/dist/linux-arm64' -cf - "${packages[@]}" | xz -T0 -6 > "$out/node_modules.tar.xz"
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" > "$out/node.xz"
[ -f dist/bench/gpu-check.js ] || { echo 'gpu-bundle: run npm run build first' >&2; exit 1; }
tar --exclude='*.map' -cf - dist | xz -T0 -6 > "$out/dist.tar.xz"
(cd "$out" && apt-get download libvulkan1 >/dev/null)
du -sh "$out"/* | sed 's/^/gpu-bundle: /'
