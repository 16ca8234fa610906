#!/usr/bin/env bash
# An environment-driven run: what a nightly job or an engineer's shell does.
# Usage: examples/env_run.sh [OUTPUT_DIR]   (the tests run it with a short duration)
set -euo pipefail
export STRESS_DURATION="${STRESS_DURATION:-20}"
export STRESS_USERS="${STRESS_USERS:-inserter=2,query=2,mixed=1}"
export STRESS_PROCESSES="${STRESS_PROCESSES:-2}"
export STRESS_SEED="${STRESS_SEED:-42}"
export STRESS_CONNECTION="${STRESS_CONNECTION:-long-lived}"
export STRESS_ID_ALLOCATION="${STRESS_ID_ALLOCATION:-block}"
export STRESS_BATCH_MAX="${STRESS_BATCH_MAX:-2000}"
export STRESS_LOG_INTERVAL="${STRESS_LOG_INTERVAL:-2}"
export STRESS_OUTPUT_DIR="${1:-runs/example-env-$(date -u +%Y%m%dT%H%M%SZ)}"
exec stress run
