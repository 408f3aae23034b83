"""`make faq-gaps`: the questions the FAQ did not answer (the stack's /reports/faq-gaps), as a table.

Reads API_KEY and HTTPS_PORT from .env and trusts certs/fullchain.pem (the stack's own certificate); BASE_URL,
API_KEY and LIMIT in the environment override them.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _dotenv() -> dict[str, str]:
    path = ROOT / ".env"
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)
    return {k.strip(): v.strip().strip("'\"") for k, v in pairs if not k.lstrip().startswith("#")}


def main() -> int:
    env = _dotenv()
    key = os.environ.get("API_KEY") or env.get("API_KEY", "").split(",")[0]
    if not key:
        print("faq-gaps: no API_KEY (run make up first, or pass API_KEY=...)", file=sys.stderr)
        return 2
    port = env.get("HTTPS_PORT") or "443"
    base = os.environ.get("BASE_URL") or f"https://localhost{'' if port == '443' else ':' + port}"
    cert = ROOT / "certs" / "fullchain.pem"
    context = ssl.create_default_context(cafile=str(cert) if cert.is_file() else None)
    limit = os.environ.get("LIMIT", "50")
    url = f"{base}/reports/faq-gaps?limit={limit}"
    request = urllib.request.Request(url, headers={"x-api-key": key})  # noqa: S310 (https only, see base)
    try:
        with urllib.request.urlopen(request, timeout=15, context=context) as response:  # noqa: S310
            report = json.load(response)
    except (urllib.error.URLError, OSError) as error:
        print(f"faq-gaps: cannot read {base}/reports/faq-gaps: {error}", file=sys.stderr)
        return 1
    if not report["enabled"]:
        print("FAQ gaps are not recorded: set FAQ_GAPS=true in .env, then make up.")
        return 0
    print(f"Questions the FAQ did not answer, last {report['days']} days, most frequent first:\n")
    print(f"{'count':>6} {'👍':>4} {'👎':>4}  question")
    for gap in report["gaps"]:
        print(f"{gap['count']:>6} {gap['up']:>4} {gap['down']:>4}  {gap['question']}")
    if not report["gaps"]:
        print("   (none yet)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
