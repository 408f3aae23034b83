#!/usr/bin/env python3
"""Render deploy/k8s into one manifest for `kubectl apply -f`: the templates with their placeholders filled
from .env.k8s, plus two generated ConfigMaps (the service's settings, and the FAQ file). Standard library
only, so it runs wherever kubectl does (Cloud Shell, a laptop). docs/k8s.md explains each setting.

    python3 deploy/k8s/render.py [--env-file .env.k8s] [--faq faq/faq.md] [-o build/k8s/chatbot.yaml]

In .env.k8s, the deploy keys (PROJECT_ID, TAG, DOMAIN, ...) say where and what to deploy; a value given in
the environment wins, so `TAG=<sha> render.py` rolls out another image. Every other key is a setting of the
service and goes to the chatbot-settings ConfigMap. Secrets never go in that file: Secret Manager holds them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NAMESPACE = "chatbot"
# Applied in this order: the namespace before what lives in it; the generated ConfigMaps go after the
# service account.
TEMPLATES = (
    "namespace.yaml",
    "serviceaccount.yaml",
    "secrets.yaml",
    "deployment.yaml",
    "service.yaml",
    "ingress.yaml",
    "autoscaling.yaml",
    "networkpolicy.yaml",
    "podmonitoring.yaml",
)
DEFAULT_SECRETS = "API_KEY OPENAI_API_KEY WIDGET_SECRET REDIS_URL"
DEPLOY_DEFAULTS = {
    "PROJECT_ID": "",
    "REGION": "europe-west9",
    "REPOSITORY": "chatbot",
    "REGISTRY": "",
    "TAG": "",
    "DOMAIN": "",
    "STATIC_IP_NAME": "chatbot-ip",
    "SSL_POLICY": "chatbot-tls",
    "SECRETS": DEFAULT_SECRETS,
}
# The manifests decide these (the container port, the FAQ mount): a value in .env.k8s would break them.
FIXED_SETTINGS = {"HOST": "0.0.0.0", "PORT": "3000", "FAQ_FILE": "/app/faq/faq.md"}
# What fits GKE unless .env.k8s says otherwise: one worker per pod (the CPU limit is one CPU); two trusted
# proxy hops, because Google's load balancer appends "<client>, <load balancer>" to X-Forwarded-For; logs to
# Cloud Logging through GKE's own agent reading stdout, so the service must not ship them a second time.
SETTING_DEFAULTS = {"WORKERS": "1", "PROXIES_COUNT": "2", "GOOGLE_CLOUD_LOGGING": "false"}
KNOWN_SECRETS = frozenset(DEFAULT_SECRETS.split())
CONFIGMAP_LIMIT = 1_000_000  # bytes; Kubernetes refuses ConfigMaps over 1 MiB

_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_CHECKS = {
    "PROJECT_ID": (re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]"), "a Google Cloud project id"),
    "REGION": (re.compile(r"[a-z]+-[a-z]+[0-9]+"), "a region such as europe-west9"),
    "REPOSITORY": (re.compile(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?"), "an Artifact Registry repository id"),
    "REGISTRY": (
        re.compile(r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+"),
        "an image path without the image name",
    ),
    # Docker's tag grammar; `latest` moves, and a moving tag would never roll the pods.
    "TAG": (re.compile(r"(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"), "an image tag other than latest"),
    # What a Google-managed certificate accepts: one non-wildcard name of at most 63 characters.
    "DOMAIN": (
        re.compile(r"(?=.{1,63}$)([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?"),
        "a lower-case DNS name of at most 63 characters, no wildcard",
    ),
    "STATIC_IP_NAME": (re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"), "a Compute Engine resource name"),
    "SSL_POLICY": (re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"), "a Compute Engine resource name"),
}


class RenderError(Exception):
    """A setting is missing or wrong; the message names it."""


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as in .env.example: `#` comments, blank lines, optional quotes around a value."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _ENV_NAME.fullmatch(key):
            raise RenderError(f"{path}:{number}: not a KEY=VALUE line")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def deploy_values(file_values: dict[str, str], environ: dict[str, str]) -> dict[str, str]:
    values = {
        key: environ.get(key) or file_values.get(key) or default for key, default in DEPLOY_DEFAULTS.items()
    }
    for key in ("PROJECT_ID", "TAG", "DOMAIN"):
        if not values[key]:
            raise RenderError(f"{key}: required but not set (in .env.k8s or the environment)")
    values["REGISTRY"] = values["REGISTRY"] or (
        f"{values['REGION']}-docker.pkg.dev/{values['PROJECT_ID']}/{values['REPOSITORY']}"
    )
    for key, (pattern, meaning) in _CHECKS.items():
        if not pattern.fullmatch(values[key]):
            raise RenderError(f"{key}: expected {meaning}, got {values[key]!r}")
    return values


def secret_names(values: dict[str, str]) -> list[str]:
    names = values["SECRETS"].replace(",", " ").split()
    for name in names:
        if not _ENV_NAME.fullmatch(name):
            raise RenderError(f"SECRETS: {name!r} is not a variable name")
    if "API_KEY" not in names:
        raise RenderError("SECRETS: API_KEY is required (the service does not start without it)")
    return names


def secret_id(name: str) -> str:
    """API_KEY -> chatbot-api-key: the Secret Manager secret that holds a variable."""
    return "chatbot-" + name.lower().replace("_", "-")


def service_settings(file_values: dict[str, str], secrets: list[str]) -> dict[str, str]:
    settings = dict(SETTING_DEFAULTS)
    for key, value in file_values.items():
        if key in DEPLOY_DEFAULTS or not value:
            continue
        if key in KNOWN_SECRETS or key in secrets:
            raise RenderError(
                f"{key}: a secret; put it in Secret Manager ({secret_id(key)}), not in .env.k8s"
            )
        if key in FIXED_SETTINGS:
            raise RenderError(f"{key}: set by the manifests on GKE; remove it from .env.k8s")
        settings[key] = value
    settings.update(FIXED_SETTINGS)
    return dict(sorted(settings.items()))


def yaml_string(value: str) -> str:
    """A double-quoted YAML scalar holding exactly `value` (JSON's escapes, minus what YAML forbids)."""
    quoted = json.dumps(value, ensure_ascii=False)
    # YAML refuses these raw inside a document even where JSON allows them.
    return re.sub("[\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff]", lambda m: f"\\u{ord(m.group()):04x}", quoted)


def configmap(name: str, data: dict[str, str]) -> str:
    lines = [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {NAMESPACE}",
        "  labels:",
        "    app.kubernetes.io/name: chatbot",
        "    app.kubernetes.io/part-of: chatbot-mvp",
        "data:",
    ]
    lines += [f"  {yaml_string(key)}: {yaml_string(value)}" for key, value in data.items()]
    return "\n".join(lines) + "\n"


def fill(template: str, name: str, values: dict[str, str]) -> str:
    """Replace each ${NAME}; placeholders sit inside double-quoted scalars, so a value stays one string."""
    missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(template)} - values.keys())
    if missing:
        raise RenderError(f"{name}: unknown placeholder(s) {', '.join(missing)}")

    def replace(match: re.Match[str]) -> str:
        before = template[template.rfind("\n", 0, match.start()) + 1 : match.start()]
        if before.replace('\\"', "").count('"') % 2 == 0:
            raise RenderError(f"{name}: ${{{match.group(1)}}} must be inside double quotes")
        return yaml_string(values[match.group(1)])[1:-1]

    return _PLACEHOLDER.sub(replace, template)


def render(file_values: dict[str, str], environ: dict[str, str], faq: Path) -> str:
    values = deploy_values(file_values, environ)
    secrets = secret_names(values)
    settings = service_settings(file_values, secrets)
    try:
        faq_text = faq.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RenderError(f"FAQ file {faq}: {error}") from error
    if len(faq_text.encode()) > CONFIGMAP_LIMIT:
        raise RenderError(f"FAQ file {faq}: over {CONFIGMAP_LIMIT} bytes, too large for a ConfigMap")
    project = values["PROJECT_ID"]
    entries = [
        f"- resourceName: projects/{project}/secrets/{secret_id(name)}/versions/latest\n  path: {name}"
        for name in secrets
    ]
    placeholders = {
        "REGISTRY": values["REGISTRY"],
        "TAG": values["TAG"],
        "DOMAIN": values["DOMAIN"],
        "STATIC_IP_NAME": values["STATIC_IP_NAME"],
        "SSL_POLICY": values["SSL_POLICY"],
        "SECRET_LIST": "\n".join(entries) + "\n",
        "SETTINGS_SHA256": hashlib.sha256(json.dumps(settings).encode()).hexdigest(),
    }
    documents = [fill((HERE / name).read_text(encoding="utf-8"), name, placeholders) for name in TEMPLATES]
    generated = [configmap("chatbot-settings", settings), configmap("chatbot-faq", {"faq.md": faq_text})]
    documents[2:2] = generated
    return "---\n" + "---\n".join(documents)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--env-file", type=Path, default=Path(".env.k8s"), help="settings (default: .env.k8s)"
    )
    parser.add_argument("--faq", type=Path, default=REPO / "faq/faq.md", help="the FAQ (default: faq/faq.md)")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    args = parser.parse_args(argv)
    try:
        if not args.env_file.is_file():
            raise RenderError(f"{args.env_file}: no such file (copy deploy/k8s/env.k8s.example there)")
        manifest = render(read_env_file(args.env_file), dict(os.environ), args.faq)
    except RenderError as error:
        print(f"render: {error}", file=sys.stderr)
        return 2
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(manifest, encoding="utf-8")
    else:
        sys.stdout.write(manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
