#!/usr/bin/env bash
# The one test command (README): prepares everything the tests need on a fresh machine —
# a Docker engine, the small test image, the upstream programs built from their Go
# modules (reused when already built), headless Chromium for the browser login test —
# then runs every test tier.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/docker-engine.sh
bash scripts/test-images.sh
bash scripts/e2e-images.sh
bash scripts/browser-deps.sh
bash scripts/fga-cli.sh
bash scripts/podman-engine.sh
cargo test --all-targets --locked -- "$@"
