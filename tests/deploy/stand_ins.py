"""Stand-ins for the CLIs the deploy scripts call where the real ones would reach Google or GitHub.

Each records its arguments for the test to read: FAKE_GCLOUD and FAKE_GH for deploy/gcp-setup.sh
(test_gcp_setup.py), IAP_TUNNEL for release.sh's `gcloud compute start-iap-tunnel` ProxyCommand
(test_iap_tunnel.py), which it replaces by a relay to the rehearsal's sshd.
"""

from __future__ import annotations

import stat
from pathlib import Path


def install_tool(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


FAKE_GCLOUD = r"""#!/usr/bin/env bash
# Records the call; `describe` and `list` find things only when FAKE_EXISTS=1; some reads answer fixed values.
printf '%s\n' "$*" >>"$FAKE_LOG"
printf '%q ' "$@" >>"$FAKE_ARGV"; printf '\n' >>"$FAKE_ARGV"
# The files handed to gcloud (rendered in a temporary folder the script removes): kept for the test.
prev=
for a; do
  case $prev in
    --config-from-file | --policy-from-file) mkdir -p "$FAKE_DIR/files"; cp "$a" "$FAKE_DIR/files/" ;;
  esac
  prev=$a
done
args=" $* "
case $args in
  *" projects describe "*) echo 123456789012; exit 0 ;;
  *" auth print-access-token "*) echo "$FAKE_TOKEN"; exit 0 ;;
  *" addresses describe "*)
    [ "$FAKE_EXISTS" = 1 ] || [ -f "$FAKE_DIR/address" ] || exit 1; echo 203.0.113.10; exit 0 ;;
  *" addresses create "*) touch "$FAKE_DIR/address"; exit 0 ;;
  *" get-guest-attributes "*) printf 'ssh-ed25519\t%s\n' "$FAKE_HOST_KEY"; exit 0 ;;
  *" channels create "*) echo "$FAKE_CHANNEL"; exit 0 ;;
  *" channels list "*) [ "$FAKE_EXISTS" != 1 ] || echo "$FAKE_CHANNEL"; exit 0 ;;
  *" uptime create "*) echo "$FAKE_CHECK"; exit 0 ;;
  *" uptime list-configs "*) [ "$FAKE_EXISTS" != 1 ] || echo "$FAKE_CHECK"; exit 0 ;;
  *" policies list "*) [ "$FAKE_EXISTS" != 1 ] || echo "projects/my-project/alertPolicies/77"; exit 0 ;;
  *" describe "*) [ "$FAKE_EXISTS" = 1 ]; exit ;;
esac
"""
FAKE_GH = r"""#!/usr/bin/env bash
printf 'gh %s\n' "$*" >>"$FAKE_LOG"
if [ "$1" = secret ]; then printf 'stdin %s\n' "$(head -c 40)" >>"$FAKE_LOG"; fi
"""
IAP_TUNNEL = r"""#!/usr/bin/env bash
# gcloud compute start-iap-tunnel INSTANCE PORT --listen-on-stdin ...: relays stdin/stdout to 127.0.0.1:PORT.
printf '%q ' "$@" >>"$TUNNEL_LOG"; printf '\n' >>"$TUNNEL_LOG"
[ "$1 $2" = "compute start-iap-tunnel" ] || exit 2
exec python3 -c '
import os, socket, sys, threading
conn = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def upstream():
    while data := os.read(0, 65536):
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)
threading.Thread(target=upstream, daemon=True).start()
while data := conn.recv(65536):
    os.write(1, data)
' "$4"
"""
