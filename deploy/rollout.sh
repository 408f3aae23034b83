# shellcheck shell=bash
# Sourced by deploy/deploy.sh (never run alone): `rollout TAG` brings the running stack to release TAG without a
# moment where clients are refused. Releases, rollbacks and key rotations (deploy/rotate.sh) all go through it.
#
#   1. The other services (Redis, a VM-local override's) are brought up as compose sees fit: recreated only when
#      their configuration changed.
#   2. The chatbot's replicas (CHATBOT_REPLICAS), one at a time: a new replica starts beside the old ones and must
#      become healthy (a crash or a timeout stops the rollout: deploy.sh rolls back through this same path); then
#      one old replica is taken out of Nginx (`chatbot-upstream drain`, a graceful reload), stopped with SIGTERM
#      (it finishes what it serves, streamed replies included, within stop_grace_period) and removed.
#   3. Nginx is recreated only when what it runs changed: its image's files and settings (not the label naming
#      the commit, which every build changes) or its compose settings. Otherwise the running one stays, with its
#      client connections.
# Uses deploy.sh's compose(), say(), DIR, PROJECT, REGISTRY and WAIT_TIMEOUT.

ROLL_SERVICE=chatbot
EDGE_SERVICE=nginx

containers() { # service [--all]: the project's containers of that service, oldest replica number first
  docker ps "${@:2}" --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1" \
    --format '{{.Label "com.docker.compose.container-number"}} {{.Names}}' | sort -n | awk '{print $2}'
}

upstream() { # chatbot-upstream (nginx/follow-upstream.sh) in the running Nginx; nothing when there is none yet
  local edge
  edge=$(containers "$EDGE_SERVICE" | head -n 1)
  [ -n "$edge" ] || return 0
  docker exec "$edge" chatbot-upstream "$@"
}

addresses() { # container: its addresses on the project's networks (where Nginx reaches it)
  docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$1" 2>/dev/null | xargs
}

health() { # container: "running healthy", "running starting", "exited ", ... and its restart count
  docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}} {{.RestartCount}}' \
    "$1" 2>/dev/null || echo "gone - 0"
}

wait_healthy() { # container: healthy within WAIT_TIMEOUT; a crash (exit or restart) fails at once
  local deadline=$((SECONDS + WAIT_TIMEOUT)) status check restarts
  while [ "$SECONDS" -lt "$deadline" ]; do
    read -r status check restarts <<<"$(health "$1")"
    if [ "$status" = running ] && { [ "$check" = healthy ] || [ -z "$check" ]; }; then return 0; fi
    if [ "$restarts" != 0 ] || [ "$status" = exited ] || [ "$status" = dead ] || [ "$status" = gone ]; then
      say "$1 crashed while starting ($status, $restarts restart(s))"
      return 1
    fi
    sleep 1
  done
  say "$1 is not healthy after ${WAIT_TIMEOUT}s (${check:-no healthcheck})"
  return 1
}

retire() { # container: out of Nginx, then stopped gracefully and removed
  local name=$1 addrs grace status
  addrs=$(addresses "$name")
  read -r status _ <<<"$(health "$name")"
  # StopTimeout is compose's stop_grace_period: SIGTERM, then this long to finish what it serves.
  grace=$(docker inspect -f '{{if .Config.StopTimeout}}{{.Config.StopTimeout}}{{else}}10{{end}}' "$name")
  if [ "$status" = running ] && [ -n "$addrs" ]; then
    # New requests go to the other replicas from now on; this one only finishes what it holds.
    # shellcheck disable=SC2086 # one argument per address
    upstream drain $addrs || say "WARNING: Nginx could not take $name out first; stopping it anyway"
  fi
  say "stop $name (SIGTERM; up to ${grace}s to finish what it serves)"
  docker stop --time "$grace" "$name" >/dev/null 2>&1 || true
  docker rm --force "$name" >/dev/null 2>&1 || true
  # The address may be given to a new replica: Nginx must not keep it out.
  # shellcheck disable=SC2086
  [ -z "$addrs" ] || upstream undrain $addrs >/dev/null || true
}

roll_replicas() { # tag: the chatbot's replicas replaced one at a time by the release's
  local tag=$1 want replicas name hash state fresh stale total added
  want=$(compose "$tag" config --hash "$ROLL_SERVICE" | awk '{print $2}')
  # deploy.replicas of the release's compose file (CHATBOT_REPLICAS); a compose file without it means one.
  replicas=$(compose "$tag" config "$ROLL_SERVICE" | awk -v s="  $ROLL_SERVICE:" \
    '$0 == s {in_s = 1; next} /^  [^ ]/ {in_s = 0} in_s && /^      replicas:/ {print $2; exit}')
  replicas=${replicas:-1}
  while :; do
    fresh=() stale=()
    while read -r name; do
      hash=$(docker inspect -f '{{index .Config.Labels "com.docker.compose.config-hash"}}' "$name")
      read -r state _ <<<"$(health "$name")"
      if [ "$state" != running ]; then
        # Stopped, crashed or restarting: it serves nothing, whatever its release.
        say "remove $name ($state)"
        docker rm --force "$name" >/dev/null
      elif [ "$hash" = "$want" ]; then
        fresh+=("$name")
      else
        stale+=("$name")
      fi
    done < <(containers "$ROLL_SERVICE" --all)

    if [ "${#fresh[@]}" -lt "$replicas" ]; then
      # Nothing serves yet (a first deploy): all at once. Otherwise one more beside the running ones.
      total=$((${#fresh[@]} + ${#stale[@]} + 1))
      [ "$((${#fresh[@]} + ${#stale[@]}))" -gt 0 ] || total=$replicas
      say "start $ROLL_SERVICE replica(s) of $tag ($total running when done)"
      compose "$tag" up --detach --no-deps --no-recreate --no-build --pull never --scale "$ROLL_SERVICE=$total" \
        "$ROLL_SERVICE" || { say "compose could not start a $ROLL_SERVICE replica of $tag"; return 1; }
      added=0
      for name in $(containers "$ROLL_SERVICE"); do
        [[ " ${fresh[*]} ${stale[*]} " == *" $name "* ]] && continue
        wait_healthy "$name" || return 1
        added=1
      done
      [ "$added" = 1 ] || { say "no new $ROLL_SERVICE replica appeared"; return 1; }
      # In Nginx before any old one leaves: its readiness is checked there too.
      upstream sync >/dev/null || say "WARNING: Nginx did not take the new replica in yet"
    elif [ "${#stale[@]}" -gt 0 ]; then
      retire "${stale[0]}"
    elif [ "${#fresh[@]}" -gt "$replicas" ]; then
      # CHATBOT_REPLICAS lowered: the newest go.
      retire "${fresh[-1]}"
    else
      say "$ROLL_SERVICE: ${#fresh[@]} replica(s) of $tag, healthy"
      return 0
    fi
  done
}

same_image() { # image image: the same files and run settings; labels (the commit they name) left aside
  local format='{{json .RootFS.Layers}} {{json .Config.Env}} {{json .Config.Cmd}} {{json .Config.Entrypoint}}'
  format+=' {{json .Config.ExposedPorts}} {{json .Config.Healthcheck}} {{.Config.User}} {{.Config.WorkingDir}}'
  format+=' {{.Config.StopSignal}} {{json .Config.Volumes}}'
  local a b
  a=$(docker image inspect -f "$format" "$1" 2>/dev/null) || return 1
  b=$(docker image inspect -f "$format" "$2" 2>/dev/null) || return 1
  [ "$a" = "$b" ]
}

edge_tag() { # tag: the tag to run Nginx from: the running one's when the release's image is the same
  local edge ref
  edge=$(containers "$EDGE_SERVICE" | head -n 1)
  [ -n "$edge" ] || { echo "$1"; return; }
  ref=$(docker inspect -f '{{.Config.Image}}' "$edge")
  if [[ $ref == "$REGISTRY/chatbot-nginx:"* ]] && docker image inspect "$ref" >/dev/null 2>&1 \
    && same_image "$ref" "$REGISTRY/chatbot-nginx:$1"; then
    echo "${ref##*:}"
  else
    echo "$1"
  fi
}

rollout() { # tag
  local tag=$1 others edge_tag
  say "rollout of $tag (project $PROJECT; each new container gets ${WAIT_TIMEOUT}s to become healthy)"
  mapfile -t others < <(compose "$tag" config --services | grep -vxE "$ROLL_SERVICE|$EDGE_SERVICE" || true)
  # --no-build/--pull never: the VM runs exactly the images CI built and pushed; it never builds or guesses.
  # (Named, never none: `up` without names would recreate the chatbot's replicas all at once.)
  if [ "${#others[@]}" -gt 0 ]; then
    compose "$tag" up --detach --wait --wait-timeout "$WAIT_TIMEOUT" --no-build --pull never --remove-orphans \
      --no-deps "${others[@]}" || { say "services of $tag did not become healthy: ${others[*]}"; return 1; }
  fi
  roll_replicas "$tag" || return 1
  edge_tag=$(edge_tag "$tag")
  [ "$edge_tag" = "$tag" ] || say "nginx: the image of $tag is the running one's ($edge_tag): kept unless its settings changed"
  # Nginx's relative paths (./certs) resolve against DIR, not the release folder, so that its compose settings
  # stay the same from one release to the next; compose then recreates it only when they or its image changed.
  NGINX_TAG=$edge_tag PROJECT_DIR=$DIR compose "$tag" up --detach --wait --wait-timeout "$WAIT_TIMEOUT" \
    --no-build --pull never --no-deps "$EDGE_SERVICE" || { say "nginx of $tag did not become healthy"; return 1; }
  # DOMAIN gone from .env: the certbot an earlier deploy started stops (its profile is off now).
  [ -n "$(env_value DOMAIN)" ] || compose "$tag" --profile acme rm --stop --force certbot >/dev/null 2>&1 || true
}
