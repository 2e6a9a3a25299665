#!/usr/bin/env bash
# System packages the tests use: chromium at /usr/bin/chromium (Playwright e2e tests launch it with
# executable_path; `playwright install` is never run) and espeak-ng (narration). As root they are
# installed with one apt-get call when missing; otherwise a warning says what to install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  log "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
else
  log "warning: ${missing[*]} missing; tests that need them will fail or skip." \
    "Install with: sudo apt-get install ${missing[*]}"
fi
