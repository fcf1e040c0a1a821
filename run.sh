#!/usr/bin/env bash
# The README's two commands, as root on a fresh Debian 12 machine:
#   ./run.sh demo   installs everything, starts the lab, the exporters and a sample workload,
#                   and prints where to look;
#   ./run.sh test   installs everything, starts the lab and runs the whole test suite.
# Both are idempotent: run them again and they reuse what is there.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

# mmdebstrap: the rootfs guard test (tests/rootfs) and the lab's newer Slurm generations.
BOOT_PACKAGES=(python3 python3-venv curl openssl chromium chromium-driver ca-certificates procps iproute2 util-linux mmdebstrap)

die() { echo "error: $*" >&2; exit 1; }

setup() {
  [ "$(id -u)" -eq 0 ] || die "run as root (the lab installs Debian packages and starts daemons)"
  local missing=()
  for p in "${BOOT_PACKAGES[@]}"; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q ' installed$' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} ..."
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv .venv
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
  # A fresh machine may have stale or empty apt lists: refresh once before the lab installs Slurm.
  if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo)
    setup
    .venv/bin/slurmops lab up
    .venv/bin/slurmops demo "$@"
    ;;
  test)
    setup
    .venv/bin/slurmops lab up >/dev/null || { .venv/bin/slurmops lab status; die "the lab did not come up"; }
    SLURMOPS_REQUIRE_LAB=1 exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: $0 demo|test [pytest args]" >&2
    exit 2
    ;;
esac
