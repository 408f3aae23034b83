#!/usr/bin/env bash
# Creates a self-signed TLS certificate and key for Nginx when none exist: certs/fullchain.pem, certs/privkey.pem.
# Real certificates (bought, or Let's Encrypt's from the certbot service) drop in under the same two names and are
# never touched. The subject's O=chatbot-mvp self-signed marks this one as the stack's own: with DOMAIN set, it is
# the placeholder that certbot replaces (docs/certificates.md).
#   CERT_DIR    where to write (default: certs/ beside this script's parent)
#   CERT_HOSTS  extra names or IP addresses for the SAN, comma- or space-separated (e.g. the VM's IP, a DNS name);
#               localhost and 127.0.0.1 are always included
#   DOMAIN      the public host name, put first (the subject's CN) when set
#   CERT_DAYS   validity (default 365)        FORCE=1  replace an existing pair
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${CERT_DIR:-$root/certs}
days=${CERT_DAYS:-365}
crt=$dir/fullchain.pem
key=$dir/privkey.pem

command -v openssl >/dev/null || { echo "certs: openssl is required (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"

if [[ -s $crt && -s $key && ${FORCE:-0} != 1 ]]; then
  # Keep what is there (maybe a real certificate); only warn when it is about to expire.
  if ! openssl x509 -in "$crt" -noout -checkend $((14 * 86400)) >/dev/null; then
    echo "certs: WARNING $crt expires within 14 days ($(openssl x509 -in "$crt" -noout -enddate))." \
      "Renew it, or run FORCE=1 make certs for a new self-signed one." >&2
  fi
  echo "certs: keeping existing $crt ($(openssl x509 -in "$crt" -noout -ext subjectAltName | tail -n +2 | xargs))"
  exit 0
fi

# SAN entries: IP:... for addresses (v4 or v6), DNS:... for names; duplicates dropped.
san="DNS:localhost,IP:127.0.0.1"
hosts="${DOMAIN:-} ${CERT_HOSTS:-}"
hosts=${hosts//,/ }
for host in $hosts; do
  if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then entry="IP:$host"; else entry="DNS:$host"; fi
  [[ ",$san," == *",$entry,"* ]] || san+=",$entry"
done
read -r first _ <<<"$hosts" || true
cn=${first:-localhost}

# The key is created with no access for group and others before anything is written to it.
umask 077
tmp=$(mktemp -d "$dir/.certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# ECDSA P-256: what Mozilla's profiles prefer and every client of the last decade accepts.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days "$days" \
  -keyout "$tmp/privkey.pem" -out "$tmp/fullchain.pem" -subj "/CN=$cn/O=chatbot-mvp self-signed" \
  -addext "subjectAltName=$san" -addext "basicConstraints=critical,CA:FALSE" \
  -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=serverAuth" 2>/dev/null
# 0600 key: readable by its owner and root (Nginx's master process reads it as root before dropping privileges).
chmod 600 "$tmp/privkey.pem"
chmod 644 "$tmp/fullchain.pem"
mv -f "$tmp/privkey.pem" "$key"
mv -f "$tmp/fullchain.pem" "$crt"
echo "certs: created a self-signed certificate in $dir (SAN: $san, valid $days days)"
