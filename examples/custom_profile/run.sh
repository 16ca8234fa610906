#!/usr/bin/env bash
# A custom profile beside the shipped ones: copy them, add burst.toml, point STRESS_PROFILE_DIR
# at the folder and ask for users of the new class.
# Usage: examples/custom_profile/run.sh [OUTPUT_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
profiles="$(mktemp -d)"
trap 'rm -rf "$profiles"' EXIT
cp "$here/../../profiles/"*.toml "$here/profiles/"*.toml "$profiles/"
stress profiles show burst --profile-dir "$profiles"
STRESS_PROFILE_DIR="$profiles" STRESS_USERS=burst=2,query=1 \
  STRESS_OUTPUT_DIR="${1:-runs/example-burst-$(date -u +%Y%m%dT%H%M%SZ)}" \
  STRESS_DURATION="${STRESS_DURATION:-10}" STRESS_SEED="${STRESS_SEED:-7}" \
  stress run
