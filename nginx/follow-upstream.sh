#!/bin/sh
# Run by the image's entrypoint before Nginx starts (/docker-entrypoint.d/). Nginx resolves the upstream's name
# once, at start; when compose recreates the chatbot (a deploy, `up --force-recreate`), it may come back on
# another address, and Nginx would keep calling the old one. This loop re-resolves the name every few seconds and
# reloads Nginx (gracefully: open connections finish) when the address changes. Nginx >= 1.27.3 could do it
# itself (`server ... resolve`); this works with every version. POSIX sh: Alpine has no bash.
set -eu
host=${UPSTREAM%:*}
interval=${UPSTREAM_RECHECK_SECONDS:-5}

resolve() { getent hosts "$host" 2>/dev/null | awk '{print $1}' | sort | tr '\n' ' '; }

if ! command -v getent >/dev/null; then
  echo "$0: no getent: Nginx will not follow $host to a new address until it restarts" >&2
  exit 0
fi
(
  last=$(resolve)
  while sleep "$interval"; do
    now=$(resolve)
    if [ -n "$now" ] && [ "$now" != "$last" ]; then
      echo "$0: $host moved from ${last:-nowhere} to $now, reloading nginx" >&2
      nginx -s reload && last=$now
    fi
  done
) </dev/null >/dev/null &
