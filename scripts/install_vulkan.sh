#!/usr/bin/env bash
# Make sure SAPIEN (ManiSkill's renderer) finds a Vulkan device.
#
# * NVIDIA's Vulkan ICD is present (a GPU driver)               -> nothing to do.
# * Mesa's lavapipe (CPU Vulkan) >= 24.3 is installed          -> nothing to do.
# * Otherwise, on Debian bookworm: add bookworm-backports and install
#   mesa-vulkan-drivers from it (Mesa 25.x). Older Mesa fails in SAPIEN with
#   "failed to find a rendering device".
#
# Idempotent: a second run only checks and returns.
set -euo pipefail

MIN_MESA="24.3"
ICD_DIRS="/usr/share/vulkan/icd.d /etc/vulkan/icd.d"

have_gpu_icd() {
  # Mesa's own radeon/intel ICDs are installed with lavapipe whether or not such a GPU exists,
  # so only NVIDIA's driver ICD counts as "a GPU is here".
  for d in $ICD_DIRS; do
    ls "$d" 2>/dev/null | grep -qi 'nvidia' && return 0
  done
  return 1
}

mesa_version() {
  dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^[0-9]+://; s/[-+~].*$//'
}

mesa_ok() {
  local v; v="$(mesa_version)"
  [ -n "$v" ] || return 1
  dpkg --compare-versions "$v" ge "$MIN_MESA" || return 1
  ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1
}

if mesa_ok; then
  echo "[vulkan] lavapipe (Mesa $(mesa_version)) already installed."
  exit 0
fi
if have_gpu_icd; then
  echo "[vulkan] NVIDIA Vulkan driver found; lavapipe not needed."
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "[vulkan] No Vulkan device and no apt-get. Install Mesa >= $MIN_MESA (lavapipe, e.g. package" >&2
  echo "         mesa-vulkan-drivers) or a GPU driver with Vulkan support, then re-run." >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "[vulkan] Need root to install mesa-vulkan-drivers (no sudo found)." >&2; exit 1; fi
fi

codename="$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")"
target=()
if [ "$codename" = "bookworm" ]; then
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "[vulkan] Adding the bookworm-backports suite."
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
  fi
  target=(-t bookworm-backports)
fi
echo "[vulkan] Installing lavapipe (mesa-vulkan-drivers ${target[*]:-}) ..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${target[@]}" mesa-vulkan-drivers libvulkan1 >/dev/null
if mesa_ok; then
  echo "[vulkan] lavapipe (Mesa $(mesa_version)) installed."
else
  echo "[vulkan] Installed Mesa $(mesa_version) but SAPIEN needs >= $MIN_MESA." >&2
  exit 1
fi
