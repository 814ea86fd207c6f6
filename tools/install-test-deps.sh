#!/usr/bin/env bash
# Installs what `make test` needs on Debian/Ubuntu when it is missing:
#   - a Vulkan driver that runs on the CPU (Mesa lavapipe) and the Vulkan loader,
#     for the native GPU tests (wgpu-native → Vulkan → lavapipe);
#   - Chromium, for the end-to-end browser tests (WebGPU via SwiftShader).
# Go (>= 1.26) and a C compiler (cgo links the bundled wgpu-native) must already be there.
set -eu

need=()
have_lvp() { ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; }
have_loader() { ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; }
have_lvp || need+=(mesa-vulkan-drivers)
have_loader || need+=(libvulkan1)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v gcc >/dev/null 2>&1 || need+=(gcc)

if [ ${#need[@]} -eq 0 ]; then
	echo "test deps: lavapipe, libvulkan1 and chromium present"
	exit 0
fi

echo "test deps: installing ${need[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
		echo "test deps: not root and no sudo; install these by hand: apt-get install -y ${need[*]}" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "test deps: installed ${need[*]}"
