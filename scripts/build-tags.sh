#!/usr/bin/env bash
# build-tags.sh — print the Go build tags this machine can use: "libcrypto"
# when cgo has a C compiler and OpenSSL's headers (gcc, libssl-dev; see
# install-deps.sh), so that RSA private-key operations run in the system
# libcrypto (internal/libcrypto); nothing otherwise (pure Go).
set -euo pipefail
if command -v gcc >/dev/null 2>&1 && [ -f /usr/include/openssl/evp.h ] &&
    [ "$(PATH=/usr/local/go/bin:$PATH go env CGO_ENABLED)" = 1 ]; then
    echo libcrypto
fi
