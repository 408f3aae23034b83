#!/bin/sh
# Liveness of Nginx itself (not of the chatbot): a local-only endpoint on port 80. POSIX sh: Alpine has no bash.
set -eu
url=http://127.0.0.1/nginx-health
if command -v curl >/dev/null; then exec curl -fsS -o /dev/null --max-time 2 "$url"; fi
exec wget -q -O /dev/null -T 2 "$url"
