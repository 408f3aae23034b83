#!/bin/sh
# Run by the image's entrypoint before Nginx starts (/docker-entrypoint.d/). Nginx also writes its access and
# error lines to /var/log/edge (a volume the edge log shipper reads, chatbot/shipper/). Past EDGE_LOG_MAX_BYTES a
# file is renamed to NAME.1 (replacing the previous one) and Nginx reopens its logs; the shipper finishes the
# renamed file before it goes on with the new one. So the volume holds at most two files of that size per log,
# whether or not anything ships them. POSIX sh: Alpine has no bash.
set -eu
dir=/var/log/edge
max=${EDGE_LOG_MAX_BYTES:-10485760}
interval=${EDGE_LOG_CHECK_SECONDS:-10}

case $max in
  '' | *[!0-9]*) echo "$0: EDGE_LOG_MAX_BYTES must be a number of bytes (got '$max')" >&2; exit 1 ;;
esac
case $interval in
  '' | *[!0-9]* | 0) echo "$0: EDGE_LOG_CHECK_SECONDS must be a whole number of seconds >= 1 (got '$interval')" >&2; exit 1 ;;
esac
(
  while sleep "$interval"; do
    rotated=
    for name in access.log error.log; do
      size=$(stat -c %s "$dir/$name" 2>/dev/null || echo 0)
      if [ "$size" -gt "$max" ] && mv -f "$dir/$name" "$dir/$name.1"; then rotated=1; fi
    done
    # Nginx (root master) creates the files anew; until then its workers append to the renamed ones. Quiet when
    # it works: the signal process's own notice is not JSON and says nothing useful.
    if [ -n "$rotated" ] && ! out=$(nginx -s reopen 2>&1); then echo "$0: nginx -s reopen failed: $out" >&2; fi
  done
) </dev/null >/dev/null &
