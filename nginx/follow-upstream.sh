#!/bin/sh
# Keeps Nginx's `upstream chatbot` equal to the chatbot replicas, as they come and go. Nginx resolves names only at
# start (`server ... resolve` needs Nginx >= 1.27.3), so this script resolves UPSTREAM's name itself (every
# replica's address: compose's service name, or Swarm's `tasks.chatbot`), writes one `server` line per replica
# into the file the upstream block includes, and reloads Nginx gracefully when the list changes (open
# connections and streams finish on the old workers). POSIX sh: Alpine has no bash.
#
#   follow-upstream.sh            run by the image's entrypoint (/docker-entrypoint.d/): writes the list once (every
#                                 address the name has), then follows the name every UPSTREAM_RECHECK_SECONDS
#   chatbot-upstream sync         the same check, now: a new address joins once it answers UPSTREAM_READY_PATH
#   chatbot-upstream drain ADDR.. takes replicas out before they are stopped (deploy/rollout.sh): returns once no
#                                 Nginx worker of the old configuration takes new requests; refuses to drain the last
#   chatbot-upstream undrain ADDR..  forgets a drain (its container is gone, or stays after all), then syncs
#   chatbot-upstream list         the addresses Nginx sends requests to
set -eu
UPSTREAM=${UPSTREAM:-chatbot:3000}
host=${UPSTREAM%:*}
port=${UPSTREAM##*:}
interval=${UPSTREAM_RECHECK_SECONDS:-2}
ready_path=${UPSTREAM_READY_PATH:-/readyz}
servers=${UPSTREAM_SERVERS_FILE:-/etc/nginx/upstream/chatbot.conf}
state=${UPSTREAM_STATE_DIR:-/run/chatbot-upstream}
me=follow-upstream

say() { echo "$me: $*" >&2; }

resolve() { getent hosts "$host" 2>/dev/null | awk '{print $1}' | sort -u; }

# The replicas in the file (the placeholder written when there is none carries no max_fails).
current() { sed -n 's/^server \[\{0,1\}\([^] ]*\)\]\{0,1\}:[0-9]* max_fails.*/\1/p' "$servers" 2>/dev/null | sort -u; }

drained() { sort -u "$state/drained" 2>/dev/null || true; }

ready() { # address: the replica answers its readiness path (2xx)
  case $1 in *:*) url="http://[$1]:$port$ready_path" ;; *) url="http://$1:$port$ready_path" ;; esac
  if command -v curl >/dev/null; then curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; return; fi
  wget -q -O /dev/null -T 2 "$url" 2>/dev/null
}

write_servers() { # addresses, one per line on stdin
  tmp=$servers.tmp
  {
    echo "# Written by follow-upstream.sh from $host (port $port); rewritten as replicas come and go."
    n=0
    while read -r addr; do
      [ -n "$addr" ] || continue
      case $addr in *:*) addr="[$addr]" ;; esac
      echo "server $addr:$port max_fails=1 fail_timeout=5s;"
      n=$((n + 1))
    done
    # No replica yet (or none left): a valid upstream that fails at once, so clients get the JSON 503.
    [ "$n" -gt 0 ] || echo "server 127.0.0.1:$port down;"
  } >"$tmp"
  mv -f "$tmp" "$servers"
}

workers() { # PIDs of Nginx workers that take new requests (not "worker process is shutting down")
  for dir in /proc/[0-9]*; do
    [ "$(tr '\0' '\n' <"$dir/cmdline" 2>/dev/null | head -n 1)" = "nginx: worker process" ] && echo "${dir#/proc/}"
  done
  return 0
}

reload() { # returns once every worker that took requests before the reload has stopped taking new ones
  before=$(workers)
  nginx -t -q 2>/dev/null || { say "the new configuration does not load: Nginx keeps the previous one"; return 1; }
  nginx -s reload 2>/dev/null || { say "nginx -s reload failed"; return 1; }
  i=0
  while [ "$i" -lt 100 ]; do
    old=0
    now=$(workers)
    for pid in $before; do
      case " $(echo "$now" | tr '\n' ' ') " in *" $pid "*) old=1 ;; esac
    done
    [ "$old" -eq 0 ] && [ -n "$now" ] && return 0
    sleep 0.1
    i=$((i + 1))
  done
  say "reloaded, but the previous workers still take requests after 10 s"
}

apply() { # the new list on stdin: written, then loaded; the previous file comes back if Nginx refuses it
  cp -f "$servers" "$servers.prev" 2>/dev/null || true
  write_servers
  reload || { mv -f "$servers.prev" "$servers"; return 1; }
}

lock() {
  mkdir -p "$state"
  i=0
  until mkdir "$state/lock" 2>/dev/null; do
    i=$((i + 1))
    # A holder that died (killed exec) leaves its lock: taken over after 30 s.
    if [ "$i" -gt 300 ]; then rm -rf "$state/lock"; i=0; fi
    sleep 0.1
  done
}
unlock() { rmdir "$state/lock" 2>/dev/null || true; }

sync_servers() { # [probe]: the new list from DNS and the drains; probe: new addresses join only when ready
  found=$(resolve)
  # A name that does not resolve at all is a DNS hiccup or no replica left: keep what Nginx has.
  [ -n "$found" ] || return 0
  # Drains of addresses that left DNS are over (their container is gone).
  for addr in $(drained); do
    if echo "$found" | grep -Fqx "$addr"; then echo "$addr"; fi
  done >"$state/drained.tmp"
  mv -f "$state/drained.tmp" "$state/drained"
  out=$(drained)
  have=$(current)
  next=
  for addr in $found; do
    if echo "$out" | grep -Fqx "$addr"; then continue; fi
    if ! echo "$have" | grep -Fqx "$addr" && [ "${1:-}" = probe ] && ! ready "$addr"; then continue; fi
    next="$next$addr
"
  done
  next=$(printf '%s' "$next" | sort -u)
  [ "$next" != "$have" ] || return 0
  say "replicas of $host: $(echo "$have" | tr '\n' ' ')-> $(echo "$next" | tr '\n' ' ')"
  printf '%s\n' "$next" | apply
}

case ${1:-start} in
  start)
    mkdir -p "$(dirname "$servers")" "$state"
    rm -rf "$state/lock" "$state/drained"
    # At start every address the name has (Nginx cannot wait for readiness probes here); later ones join when ready.
    resolve | write_servers
    [ -n "$(current)" ] || say "$host does not resolve yet: clients get 503 until a replica appears"
    (
      while sleep "$interval"; do
        lock
        sync_servers probe || true
        unlock
      done
    ) </dev/null >/dev/null &
    ;;
  sync)
    lock
    trap unlock EXIT
    sync_servers probe
    current
    ;;
  drain)
    shift
    lock
    trap unlock EXIT
    for addr in "$@"; do echo "$addr" >>"$state/drained"; done
    have=$(current)
    left=$(echo "$have" | grep -Fvx "$(drained)" || true)
    [ "$left" != "$have" ] || exit 0
    if [ -z "$left" ]; then
      # Draining the last replica would leave Nginx nothing to send to: keep it, and say so.
      grep -Fvx "$(printf '%s\n' "$@")" "$state/drained" >"$state/drained.tmp" || true
      mv -f "$state/drained.tmp" "$state/drained"
      say "not draining $*: no other replica would be left"
      exit 1
    fi
    printf '%s\n' "$left" | apply
    ;;
  undrain)
    shift
    lock
    trap unlock EXIT
    touch "$state/drained"
    grep -Fvx "$(printf '%s\n' "$@")" "$state/drained" >"$state/drained.tmp" || true
    mv -f "$state/drained.tmp" "$state/drained"
    sync_servers probe
    ;;
  list) current ;;
  *)
    say "usage: chatbot-upstream [sync | drain ADDR... | undrain ADDR... | list]"
    exit 64
    ;;
esac
