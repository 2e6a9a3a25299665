#!/usr/bin/env bash
# Create the venv and install one requirement set into it, unless it is there already.
#
#   scripts/install.sh run        requirements/base.txt: web, worker and beat on the procedural engine
#   scripts/install.sh diffusers  requirements/worker.txt: base plus torch, diffusers, transformers
#   scripts/install.sh dev        requirements/dev.txt: everything, plus the test and lint tools
#   scripts/install.sh --wanted   print the set `make run` needs: diffusers when ENGINES=diffusers
#                                 or a diffusion engine is configured (GENERATION_ENGINE=diffusers,
#                                 SVD_MODEL or ZEROSCOPE_MODEL in the environment or .env), else run
#
# Each set leaves a stamp $VENV/.installed-<set>-<hash of its files>. A bigger set's stamp counts
# for the smaller ones (a venv with dev.txt is not reinstalled by `make run`), and changing a
# requirements file changes the hash, so the next call installs again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

set_name=${1:-}

files_of() {
  case "$1" in
    run) echo requirements/base.txt ;;
    diffusers) echo requirements/base.txt requirements/worker.txt ;;
    dev) echo requirements/base.txt requirements/worker.txt requirements/dev.txt ;;
  esac
}
hash_of() {
  # shellcheck disable=SC2046
  cat $(files_of "$1") | sha256sum | cut -c1-16
}
# The sets whose stamp satisfies a request for $1 (itself and the sets that include it).
covering() {
  case "$1" in
    run) echo run diffusers dev ;;
    diffusers) echo diffusers dev ;;
    dev) echo dev ;;
  esac
}

if [ "$set_name" = --wanted ]; then
  engines=${ENGINES:-}
  if [ "$engines" = diffusers ] || [ "$(setting GENERATION_ENGINE auto)" = diffusers ] ||
    [ -n "$(setting SVD_MODEL '')" ] || [ -n "$(setting ZEROSCOPE_MODEL '')" ]; then
    echo diffusers
  else
    case "$engines" in
      "" | procedural) echo run ;;
      *) die "ENGINES=$engines: use ENGINES=diffusers (or leave it empty for the procedural engine)" ;;
    esac
  fi
  exit 0
fi

case "$set_name" in run | diffusers | dev) ;; *) die "usage: $0 run|diffusers|dev|--wanted" ;; esac
for f in $(files_of "$set_name"); do [ -f "$f" ] || die "$f is missing"; done

for s in $(covering "$set_name"); do
  [ -f "$VENV/.installed-$s-$(hash_of "$s")" ] && exit 0
done
# A venv from before the per-set stamps: .installed-<hash of every requirements file> meant dev.
[ -f "$VENV/.installed-$(cat requirements/*.txt | sha256sum | cut -c1-16)" ] && exit 0

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "AI Lounge needs Python 3.11+; $PYTHON is $("$PYTHON" --version 2>&1). Try: make PYTHON=/path/to/python3.11 ..."
  log "creating ${VENV#"$PWD"/}"
  "$PYTHON" -m venv "$VENV"
fi

req=$(files_of "$set_name")
req=${req##* }
log "installing $req into ${VENV#"$PWD"/} (once; again only when a requirements file changes)"
start=$SECONDS
"$VENV/bin/python" -m pip install -r "$req"
rm -f "$VENV"/.installed-"$set_name"-*
touch "$VENV/.installed-$set_name-$(hash_of "$set_name")"
log "installed $req in $((SECONDS - start))s; ${VENV#"$PWD"/} is $(du -sh "$VENV" | cut -f1)"
