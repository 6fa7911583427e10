#!/usr/bin/env bash
# Resident memory of each Debian TLS library a lean client could use (mbedTLS 2.28, wolfSSL 5.5.4,
# OpenSSL 3.0, each linked statically), measured by the same small client: a context, one CA, one
# verified handshake with a local `openssl s_server` and a 400 KB answer read, then N more
# connections. Prints VmRSS/RssAnon/VmHWM at each step. bench/results/2026-11-30-tls.md has numbers.
#   bench/tls_footprint.sh [ROUNDS]
set -euo pipefail
ROUNDS=${1:-20}
HERE=$(cd "$(dirname "$0")/tls_footprint" && pwd)
W=$(mktemp -d /tmp/lifeboat-tls-footprint-XXXXXX)
trap 'kill $SRV 2>/dev/null || true; rm -rf "$W"' EXIT
cd "$W"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.crt -days 2 \
  -subj /CN=srv -addext subjectAltName=IP:127.0.0.1 2>/dev/null
head -c 300000 /dev/urandom | base64 >big
PORT=$((20000 + RANDOM % 20000))
openssl s_server -accept "127.0.0.1:$PORT" -cert srv.crt -key srv.key -WWW -quiet >/dev/null 2>&1 &
SRV=$!
# mbedTLS is no longer a dependency of the project: apt-get install libmbedtls-dev to compare it.
[[ -f /usr/include/mbedtls/ssl.h ]] &&
  g++ -O2 -I"$HERE" -o mbed "$HERE/mbed.cc" -Wl,-Bstatic -lmbedtls -lmbedx509 -lmbedcrypto -Wl,-Bdynamic
g++ -O2 -I"$HERE" -o wolf "$HERE/wolf.cc" -Wl,-Bstatic -lwolfssl -Wl,-Bdynamic -lm -lpthread
g++ -O2 -I"$HERE" -o ossl "$HERE/ossl.cc" -Wl,-Bstatic -lssl -lcrypto -Wl,-Bdynamic -lpthread -ldl
sleep 1
for lib in mbed wolf ossl; do
  [[ -x $lib ]] || { echo "== $lib: not built (headers missing)"; continue; }
  echo "== $lib"
  ./$lib "$PORT" srv.crt "$ROUNDS" 2>&1
done
