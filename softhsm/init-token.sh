#!/usr/bin/env bash
# Creates (once) a SoftHSM2 token in a project-local directory. Idempotent: if a token with the
# label already exists, nothing changes. Used by `npm start` (development default) and by the tests.
#
# Usage: SIGNER_HSM_PIN=... SIGNER_HSM_SO_PIN=... softhsm/init-token.sh DIR LABEL
# Writes DIR/softhsm2.conf and DIR/tokens/. PINs come from the environment, never from our argv.
# softhsm2-util itself only takes PINs as arguments: this is for the development token only.
set -euo pipefail

dir="${1:?usage: init-token.sh DIR LABEL}"
label="${2:?usage: init-token.sh DIR LABEL}"
: "${SIGNER_HSM_PIN:?SIGNER_HSM_PIN must be set}"
: "${SIGNER_HSM_SO_PIN:?SIGNER_HSM_SO_PIN must be set}"

if ! command -v softhsm2-util >/dev/null; then
  echo "softhsm2-util not found: install with \"sudo apt-get install -y softhsm2\" (as root: \"apt-get install -y softhsm2\")" >&2
  exit 127
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# umask 077: parents created here (the data directory, on a fresh clone) are private too; the
# service refuses to start on a data directory that group or others can read.
(umask 077 && mkdir -p "$dir/tokens")
chmod 700 "$dir" "$dir/tokens"
dir="$(cd "$dir" && pwd)"
conf="$dir/softhsm2.conf"
sed "s|@TOKENDIR@|$dir/tokens|" "$here/softhsm2.conf.template" > "$conf"
export SOFTHSM2_CONF="$conf"

# ensureDevToken (src/keystore/dev-token.ts) tells the two outcomes apart by these messages.
if softhsm2-util --show-slots | grep -q "Label:[[:space:]]*$label[[:space:]]*$"; then
  echo "token '$label' already initialised in $dir/tokens"
  exit 0
fi

softhsm2-util --init-token --free --label "$label" \
  --pin "$SIGNER_HSM_PIN" --so-pin "$SIGNER_HSM_SO_PIN" >/dev/null
echo "token '$label' initialised in $dir/tokens"
