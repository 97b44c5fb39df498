#!/usr/bin/env bash
# Run the whole test suite, live Notary tests included. Installs notary (notary-server, notary),
# openssl, time and docker-registry (the real OCI registry of the Notation tests) from Debian when
# they are missing and we are root; fails loudly otherwise.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_install() {
  ! command -v notary-server >/dev/null 2>&1 || ! command -v notary >/dev/null 2>&1 \
    || ! command -v openssl >/dev/null 2>&1 || [[ ! -x /usr/bin/time ]] \
    || [[ ! -x /usr/bin/docker-registry ]]
}

if need_install && [[ "$(id -u)" == 0 ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y notary openssl time docker-registry
fi
if need_install; then
  echo "tools/test.sh: notary-server/notary/openssl/time/docker-registry not found: install them with \`apt-get install -y notary openssl time docker-registry\` (as root), then re-run" >&2
  exit 1
fi

cargo test --all-targets "$@"
# --all-targets leaves out doc tests: the crate-level example runs here.
cargo test --doc "$@"
