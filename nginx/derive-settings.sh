#!/bin/sh
# Run by the image's entrypoint before Nginx starts (/docker-entrypoint.d/): turns settings that need arithmetic
# or a choice into /etc/nginx/derived.conf (included by nginx.conf). A file of its own rather than template
# variables: the official image renders templates in one of these scripts, the stand-in before them.
#   MAX_HEADER_BYTES     the app's limit on request line + headers (default 16384) -> Nginx's header buffers
#   DOMAIN, CERT_HOSTS   the public host that redirects send clients to (DOMAIN, else CERT_HOSTS' first entry,
#                        else the Host the client sent)
#   EDGE_MAX_CONNS_PER_IP  checked here (the template uses it as is)
# POSIX sh: Alpine has no bash.
set -eu
out=${DERIVED_CONF:-/etc/nginx/derived.conf}
fail() { echo "$0: $*" >&2; exit 1; }

max=${MAX_HEADER_BYTES:-16384}
case $max in '' | *[!0-9]*) fail "MAX_HEADER_BYTES must be a number of bytes (got '$max')" ;; esac
[ "$max" -ge 4096 ] || fail "MAX_HEADER_BYTES must be at least 4096 (got $max)"
conns=${EDGE_MAX_CONNS_PER_IP:-64}
case $conns in '' | *[!0-9]* | 0*) fail "EDGE_MAX_CONNS_PER_IP must be a whole number above 0 (got '$conns')" ;; esac

# What Nginx accepts must still fit in max once proxied. It accepts a request line and headers spread over the
# first buffer (client_header_buffer_size, 1k, allocated for every connection) and `count` large buffers (each
# line within one of them; HTTP/2 counts names and values against count x size). Proxying adds at most 541 bytes
# (templates/chatbot.conf.template): X-Forwarded-For (new line or ", addr": 64), -Proto (26), -Host (a copy of
# Host, capped at 253 there: 273), -Port (25), X-Request-ID (replaced, up to 128: 144), Host when the client sent
# none (9). 1,024 reserved leaves ~480 bytes for what Nginx normalizes (a missing space after a colon, a bare LF:
# one byte each; ": " and CRLF for each HTTP/2 header: four), i.e. over 100 headers; beyond that the app answers
# its own JSON 431.
reserved=1024
first=1024
count=2
size=$(( (max - reserved - first) / count / 1024 * 1024 ))

public=${DOMAIN:-}
if [ -z "$public" ]; then
  public=$(printf '%s' "${CERT_HOSTS:-}" | cut -d, -f1 | tr -d ' \t')
fi
case $public in
  *[!A-Za-z0-9.:-]*) fail "DOMAIN / CERT_HOSTS: '$public' is not a host name or IP address" ;;
  *:*:*) public="[$public]" ;;  # an IPv6 address, written in brackets in a URL
  *:*) fail "DOMAIN / CERT_HOSTS: '$public': no port here (redirects keep HTTPS_PORT)" ;;
esac
if [ -n "$public" ]; then redirect_host="\"$public\""; else redirect_host="\$host"; fi

cat >"$out" <<CONF
# Written by derive-settings.sh at start, from MAX_HEADER_BYTES=$max and DOMAIN / CERT_HOSTS.
# Request line up to $size bytes (else 414), each header line up to $size (else 431), all of them within
# $first + $count x $size bytes (else 431): once proxied, always under MAX_HEADER_BYTES.
client_header_buffer_size $first;
large_client_header_buffers $count $size;
# Where redirects (port 80, plain HTTP on the HTTPS port) send clients.
map \$host \$redirect_host {
    default $redirect_host;
}
CONF
