#!/bin/sh
# Run by the image's entrypoint before Nginx starts (/docker-entrypoint.d/). Nginx reads its certificate at start
# and on reload only; this loop reloads it (gracefully: connections open on the old certificate finish) when
# certs/fullchain.pem or privkey.pem change: a renewal by the certbot container (docs/certificates.md), a
# certificate dropped in by hand, `FORCE=1 make certs`. A pair that does not load (half copied, a key that does
# not match) fails `nginx -t`: Nginx keeps the certificate it has, the next round tries again, and one that still
# fails a round later is logged as an ERROR. Polling, not a signal from the certbot container (containers do not
# share PIDs) nor inotify (not in the image; blind to Docker Desktop's shared folders). POSIX sh: Alpine has no
# bash.
set -eu
dir=${CERT_DIR:-/etc/nginx/certs}
interval=${CERT_RECHECK_SECONDS:-5}

# One JSON line (Cloud Logging's severity), like the access log; messages are fixed texts.
log() { printf '{"severity": "%s", "logger": "nginx.certificate", "message": "%s"}\n' "$1" "$2"; }
fingerprint() { cat "$dir/fullchain.pem" "$dir/privkey.pem" 2>/dev/null | cksum; }

(
  served=$(fingerprint)
  seen=$served
  reported=
  while sleep "$interval"; do
    now=$(fingerprint)
    if [ "$now" != "$served" ]; then
      if tested=$(nginx -t -q 2>&1); then
        # Its own "signal process started" notice is noise here; a failure would show on the next round.
        if nginx -s reload 2>/dev/null; then
          served=$now
          log INFO "certificate files changed: nginx reloaded, new connections get the new certificate"
        fi
      elif [ "$now" = "$seen" ] && [ "$now" != "$reported" ]; then
        # The same files failed last round too: not a copy in progress. Said once; tried again every round
        # (a failure may also come from elsewhere: the upstream's name not resolving while it is recreated).
        reported=$now
        reason=$(printf '%s' "$tested" | head -n 1 | tr -d '"\134\n' | tr -c '[:print:]' ' ')
        log ERROR "certificate files changed but the configuration does not load ($reason): nginx keeps serving \
the previous certificate, tries again every ${interval} s"
      fi
    fi
    seen=$now
  done
) </dev/null &
