#!/bin/bash
# A private CA and the x509 certificates that TLS migration needs between
# the test host's libvirtd and a TLS peer (tests/host/peer.sh, AOS_PEER=tls).
#
#   tests/host/tls.sh DIR
#
# Writes, idempotently (a key is made only when missing; a certificate
# only when missing or when it does not verify against the CA):
#   DIR/ca/cakey.pem, DIR/ca/cacert.pem   the CA
#   DIR/libvirt/    libvirt's names: cacert.pem, servercert.pem,
#                   private/serverkey.pem, clientcert.pem, clientkey.pem;
#                   a libvirtd's key_file/cert_file/ca_file, and a client's
#                   ?pkipath=DIR/libvirt
#   DIR/qemu/       QEMU's names for the same files: ca-cert.pem,
#                   server-cert.pem, server-key.pem, client-cert.pem,
#                   client-key.pem; qemu.conf migrate_tls_x509_cert_dir
# One server and one client certificate serve every libvirtd and QEMU here,
# as they all run on this machine.
#
# Facts (verified on Debian 12, libvirt 9.0, QEMU 7.2, GnuTLS 3.7.9):
#   - for an address in a URI (127.0.0.1) GnuTLS matches only an
#     ip_address SAN, never the CN: without one, "Certificate owner does
#     not match the hostname 127.0.0.1";
#   - the source QEMU checks the destination's certificate against the host
#     of the migration URI (tcp://127.0.0.1 here), and the destination asks
#     for the client certificate (migrate_tls_x509_verify = 1).
set -eu

DIR=${1:?usage: tests/host/tls.sh DIR}
command -v certtool >/dev/null 2>&1 ||
    { echo "tls: certtool is missing (tests/host/deps.sh installs gnutls-bin)" >&2; exit 1; }
mkdir -p "$DIR/ca" "$DIR/libvirt/private" "$DIR/qemu"
DIR=$(cd "$DIR" && pwd)
umask 077
tmpl=$(mktemp -d)
trap 'rm -rf "$tmpl"' EXIT

key() { # path
    [ -s "$1" ] || certtool --generate-privkey --outfile "$1" 2>/dev/null
}

verifies() { # cert
    [ -s "$1" ] && certtool --verify --load-ca-certificate "$DIR/ca/cacert.pem" \
        --infile "$1" >/dev/null 2>&1
}

# cert NAME KEY OUT: signs KEY's certificate with template lines on stdin.
cert() {
    cat >"$tmpl/$1.info"
    verifies "$3" && return 0
    certtool --generate-certificate --load-privkey "$2" \
        --load-ca-certificate "$DIR/ca/cacert.pem" \
        --load-ca-privkey "$DIR/ca/cakey.pem" \
        --template "$tmpl/$1.info" --outfile "$3" 2>/dev/null
}

key "$DIR/ca/cakey.pem"
if [ ! -s "$DIR/ca/cacert.pem" ]; then
    printf '%s\n' 'cn = "aos test CA"' ca cert_signing_key \
        'expiration_days = 3650' >"$tmpl/ca.info"
    certtool --generate-self-signed --load-privkey "$DIR/ca/cakey.pem" \
        --template "$tmpl/ca.info" --outfile "$DIR/ca/cacert.pem" 2>/dev/null
fi

host=$(hostname)
key "$DIR/libvirt/private/serverkey.pem"
cert server "$DIR/libvirt/private/serverkey.pem" "$DIR/libvirt/servercert.pem" <<EOT
cn = "$host"
ip_address = "127.0.0.1"
dns_name = "localhost"
dns_name = "$host"
tls_www_server
encryption_key
signing_key
expiration_days = 3650
EOT
key "$DIR/libvirt/clientkey.pem"
cert client "$DIR/libvirt/clientkey.pem" "$DIR/libvirt/clientcert.pem" <<EOT
cn = "aos-test-client"
tls_www_client
encryption_key
signing_key
expiration_days = 3650
EOT

cp -f "$DIR/ca/cacert.pem" "$DIR/libvirt/cacert.pem"
cp -f "$DIR/ca/cacert.pem" "$DIR/qemu/ca-cert.pem"
cp -f "$DIR/libvirt/servercert.pem" "$DIR/qemu/server-cert.pem"
cp -f "$DIR/libvirt/private/serverkey.pem" "$DIR/qemu/server-key.pem"
cp -f "$DIR/libvirt/clientcert.pem" "$DIR/qemu/client-cert.pem"
cp -f "$DIR/libvirt/clientkey.pem" "$DIR/qemu/client-key.pem"
for c in servercert.pem clientcert.pem; do
    verifies "$DIR/libvirt/$c" ||
        { echo "tls: $DIR/libvirt/$c does not verify against the CA" >&2; exit 1; }
done
