"""Helpers for tests/deploy/test_k8s.py: run deploy/k8s/render.py, find documents, locate the checking tools,
and the shapes of the GKE resources that kubernetes-validate has no schema for.

The shapes are written by hand from the resources' own definitions (ingress-gce's BackendConfig and
FrontendConfig types, gke-managed-certs' CRD, the Secrets Store CSI driver's CRD and Google's provider config,
Google Managed Prometheus' PodMonitoring). They cover the fields these manifests may use, and refuse any other
key, so a misspelt field fails here instead of being dropped silently by the cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy/k8s"
TOOLS = REPO / "build/k8s-tools/bin"
SAMPLE_ENV = {
    "PROJECT_ID": "my-project",
    "TAG": "0123456789abcdef0123456789abcdef01234567",
    "DOMAIN": "chat.example.com",
    "CORS_ORIGINS": "https://www.example.com",
    "RATE_LIMIT_PER_IP": "30",
}
#: The deploy keys render.py reads from the environment; cleared so the caller's shell cannot leak in.
DEPLOY_KEYS = frozenset(
    (
        "PROJECT_ID",
        "REGION",
        "REPOSITORY",
        "REGISTRY",
        "TAG",
        "DOMAIN",
        "STATIC_IP_NAME",
        "SSL_POLICY",
        "SECRETS",
    )
)


def tool(name: str) -> Path:
    """A binary of build/k8s-tools; missing, the test is skipped, or fails in CI (`make deps` builds it)."""
    path = TOOLS / name
    if not path.is_file():
        reason = f"{path} is missing: run `make deps-k8s`"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"k8s checks cannot run in CI: {reason}")
        pytest.skip(reason)
    return path


def render(
    tmp: Path, env_file: dict[str, str], environ: dict[str, str] | None = None, faq: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run render.py as a user does, with `env_file` written as .env.k8s."""
    path = tmp / ".env.k8s"
    path.write_text("".join(f"{key}={value}\n" for key, value in env_file.items()), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key not in DEPLOY_KEYS}
    env.update(environ or {})
    command = [sys.executable, str(K8S / "render.py"), "--env-file", str(path)]
    if faq is not None:
        command += ["--faq", str(faq)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def find(docs: list[dict[str, Any]], kind: str, name: str = "chatbot") -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


@dataclass(frozen=True)
class MapOf:
    """A mapping with free keys and values of one shape (labels, annotations, parameters)."""

    value: Any


METADATA = {"name": str, "namespace": str, "labels": MapOf(str), "annotations": MapOf(str)}
SELECTOR = {"matchLabels": MapOf(str), "matchExpressions": list}
#: kind -> (apiVersion, shape of spec) for every resource kubernetes-validate cannot check.
CRDS: dict[str, tuple[str, dict[str, Any]]] = {
    "BackendConfig": (
        "cloud.google.com/v1",
        {
            "timeoutSec": int,
            "connectionDraining": {"drainingTimeoutSec": int},
            "healthCheck": {
                "checkIntervalSec": int,
                "timeoutSec": int,
                "healthyThreshold": int,
                "unhealthyThreshold": int,
                "type": str,
                "port": int,
                "requestPath": str,
            },
            "customRequestHeaders": {"headers": [str]},
            "customResponseHeaders": {"headers": [str]},
            "sessionAffinity": {"affinityType": str, "affinityCookieTtlSec": int},
            "securityPolicy": {"name": str},
            "logging": {"enable": bool, "sampleRate": (int, float)},
            "iap": dict,
            "cdn": dict,
        },
    ),
    "FrontendConfig": (
        "networking.gke.io/v1beta1",
        {"sslPolicy": str, "redirectToHttps": {"enabled": bool, "responseCodeName": str}},
    ),
    "ManagedCertificate": ("networking.gke.io/v1", {"domains": [str]}),
    "SecretProviderClass": (
        "secrets-store.csi.x-k8s.io/v1",
        {"provider": str, "parameters": MapOf(str), "secretObjects": list},
    ),
    "PodMonitoring": (
        "monitoring.googleapis.com/v1",
        {
            "selector": SELECTOR,
            "endpoints": [{"port": (str, int), "path": str, "interval": str, "timeout": str, "scheme": str}],
            "targetLabels": dict,
            "limits": dict,
            "filterRunning": bool,
        },
    ),
}
#: One entry of the Secret Manager provider's `secrets` parameter (its config.go).
PROVIDER_SECRET = {"resourceName": str, "path": str, "fileName": str, "mode": int}


def shape_errors(value: Any, shape: Any, where: str) -> list[str]:
    """Where `value` leaves `shape`: an unknown key, a wrong type, recursively."""
    if isinstance(shape, MapOf):
        if not isinstance(value, dict):
            return [f"{where}: expected a mapping"]
        return [e for k, v in value.items() for e in shape_errors(v, shape.value, f"{where}.{k}")]
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected a mapping"]
        unknown = [f"{where}.{key}: unknown field" for key in value if key not in shape]
        return unknown + [
            e for k, v in value.items() if k in shape for e in shape_errors(v, shape[k], f"{where}.{k}")
        ]
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [e for i, item in enumerate(value) for e in shape_errors(item, shape[0], f"{where}[{i}]")]
    # bool is an int in Python; YAML's true must not pass for a number.
    if not isinstance(value, shape) or (isinstance(value, bool) and shape in (int, (int, float))):
        return [f"{where}: {type(value).__name__} where {shape} was expected"]
    return []


def crd_errors(doc: dict[str, Any]) -> list[str]:
    api_version, spec = CRDS[doc["kind"]]
    where = f"{doc['kind']}/{doc.get('metadata', {}).get('name')}"
    errors = [] if doc.get("apiVersion") == api_version else [f"{where}: apiVersion is not {api_version}"]
    shape = {"apiVersion": str, "kind": str, "metadata": METADATA, "spec": spec}
    return errors + shape_errors(doc, shape, where)
