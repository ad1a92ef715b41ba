#!/usr/bin/env bash
# What tests/e2e_browser.rs needs on a fresh Debian machine: headless Chromium and its
# chromedriver (Debian packages), and Python selenium in a venv of its own
# ($KCPENV_BROWSER_VENV, default ~/.cache/kcpenv-e2e/browser-venv; a venv keeps clear of
# PEP 668 and of whatever python3 is first on PATH). Idempotent; quick when all is there.
set -euo pipefail

VENV="${KCPENV_BROWSER_VENV:-$HOME/.cache/kcpenv-e2e/browser-venv}"
SELENIUM_VERSION="${SELENIUM_VERSION:-4.27.1}"

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ -x /usr/bin/python3 ] || missing+=(python3)
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "browser-deps: installing ${missing[*]}" >&2
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" fonts-liberation ca-certificates >/dev/null
fi

if ! "$VENV/bin/python" -c "import selenium, sys; sys.exit(selenium.__version__ != '$SELENIUM_VERSION')" >/dev/null 2>&1; then
  echo "browser-deps: installing selenium $SELENIUM_VERSION into $VENV" >&2
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "selenium==$SELENIUM_VERSION"
fi

echo "browser-deps: $(chromium --version 2>/dev/null | head -1); $(chromedriver --version | head -1); selenium $("$VENV/bin/python" -c 'import selenium; print(selenium.__version__)')" >&2
