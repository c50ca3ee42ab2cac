#!/bin/sh
# Creates a throwaway CA and a server certificate for the fetch tests' HTTPS
# server: make-test-ca.sh DIR writes DIR/ca.key, DIR/ca.pem (CN "asyncjob
# test CA") and DIR/server.key, DIR/server.pem (CN localhost, subjectAltName
# IP:127.0.0.1, DNS:localhost, signed by the CA). Everything is valid for 2
# days. Silent on success; on failure prints openssl's output and exits 1.
set -u

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir" || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/make-test-ca.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM
log=$work/log

run() {
	if ! "$@" >>"$log" 2>&1; then
		echo "make-test-ca.sh: failed: $*" >&2
		cat "$log" >&2
		exit 1
	fi
}

# Our own config, so nothing depends on the system's openssl.cnf.
cat >"$work/openssl.cnf" <<'EOF' || exit 1
[req]
distinguished_name = dn
prompt = no

[dn]
CN = unused

[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF

OPENSSL_CONF=$work/openssl.cnf
export OPENSSL_CONF

run openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 2 \
	-config "$work/openssl.cnf" -extensions v3_ca \
	-subj "/CN=asyncjob test CA" \
	-keyout "$work/ca.key" -out "$work/ca.pem"
run openssl req -new -newkey rsa:2048 -nodes -sha256 \
	-config "$work/openssl.cnf" -subj "/CN=localhost" \
	-keyout "$work/server.key" -out "$work/server.csr"
serial=$(openssl rand -hex 16 2>>"$log") || { cat "$log" >&2; exit 1; }
run openssl x509 -req -sha256 -days 2 -set_serial "0x$serial" \
	-in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
	-extfile "$work/openssl.cnf" -extensions v3_server \
	-out "$work/server.pem"
run openssl verify -CAfile "$work/ca.pem" "$work/server.pem"

for f in ca.key ca.pem server.key server.pem; do
	run cp "$work/$f" "$dir/$f"
done
chmod 600 "$dir/ca.key" "$dir/server.key" || exit 1
exit 0
