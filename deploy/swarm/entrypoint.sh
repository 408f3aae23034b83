#!/bin/sh
# The chatbot's entrypoint on Docker Swarm, mounted from a Swarm config (deploy/swarm/stack.yaml): the image is
# the one a single VM runs, unchanged. POSIX sh: the slim Python image has no bash requirement.
#
# 1. Settings kept as Swarm secrets: each file /run/secrets/NAME whose NAME is a variable name (API_KEY,
#    OPENAI_API_KEY, WIDGET_SECRET...) becomes that variable for the service, which reads its settings from the
#    environment. The values never enter the service's definition (`docker service inspect`, `docker inspect`),
#    an argument list or a log line.
# 2. Swarm takes a task out of DNS (`tasks.chatbot`) about 2 s before it sends SIGTERM, and Nginx notices at its
#    next check (UPSTREAM_RECHECK_SECONDS). So on SIGTERM the service keeps serving DRAIN_SECONDS more, while
#    Nginx stops sending to it; only then does it get SIGTERM itself and finish what it holds, streamed replies
#    included (SHUTDOWN_GRACE_SECONDS), before it exits. stop_grace_period covers both.
set -u

for file in /run/secrets/*; do
  [ -f "$file" ] || continue
  name=${file##*/}
  case $name in '' | [0-9]* | *[!A-Z0-9_]*) continue ;; esac
  value=$(cat "$file")
  export "$name=$value"
done
unset file name value

"$@" &
child=$!

stop() {
  sleep "${DRAIN_SECONDS:-5}"
  kill -TERM "$child" 2>/dev/null || true
}
trap stop TERM INT

# `wait` also returns when a trapped signal arrives: wait again until the service itself has exited.
while :; do
  wait "$child"
  status=$?
  kill -0 "$child" 2>/dev/null || exit "$status"
done
