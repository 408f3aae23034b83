"""deploy/k8s: the GKE manifests render, pass kubernetes-validate --strict and checkov, and fit together.

No cluster runs here (and `kubectl apply --dry-run=client` needs one), so what is checked is offline: the core
resources against Kubernetes' own schemas (the newest version kubernetes-validate knows, and 1.30, the oldest
with the preStop `sleep` action), the GKE resources against hand-written shapes (k8s_harness.CRDS), checkov's
security rules, and the links between resources that only a cluster would otherwise reveal.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from chatbot.faq import FaqStore
from tests.deploy.k8s_harness import (
    CRDS,
    K8S,
    PROVIDER_SECRET,
    REPO,
    SAMPLE_ENV,
    crd_errors,
    documents,
    find,
    render,
    shape_errors,
    tool,
)

KUBE_VERSIONS = ("1.37", "1.30")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("k8s")
    done = render(tmp, SAMPLE_ENV)
    assert done.returncode == 0, done.stderr
    out = tmp / "chatbot.yaml"
    out.write_text(done.stdout, encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def docs(rendered: Path) -> list[dict[str, Any]]:
    return documents(rendered.read_text(encoding="utf-8"))


def _validate(path: Path, version: str) -> subprocess.CompletedProcess[str]:
    command = [str(tool("kubernetes-validate")), "--strict", "-k", version, str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = find(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_core_resources_pass_strict_validation(
    rendered: Path, docs: list[dict[str, Any]], version: str
) -> None:
    done = _validate(rendered, version)
    assert done.returncode == 0, done.stdout + done.stderr
    passed = re.findall(r"passed for resource (\S+)", done.stdout)
    unknown = set(re.findall(r"Couldn't find schema for kind (\S+)", done.stdout + done.stderr))
    assert len(passed) == len(docs) - len(unknown)
    # Whatever Kubernetes' schemas do not cover is checked by shape below, and nothing else slips through.
    assert unknown == set(CRDS)


def test_strict_validation_refuses_a_misspelt_field(rendered: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = rendered.read_text(encoding="utf-8")
    broken.write_text(text.replace("readinessProbe:", "readynessProbe:", 1), encoding="utf-8")
    done = _validate(broken, KUBE_VERSIONS[0])
    assert done.returncode != 0
    assert "readynessProbe" in done.stdout + done.stderr


def test_gke_resources_have_their_shapes(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        if doc["kind"] in CRDS:
            assert crd_errors(doc) == []
    # The shapes are strict: an unknown field is an error.
    backend = find(docs, "BackendConfig")
    assert crd_errors({**backend, "spec": {**backend["spec"], "timeoutSecs": 30}}) != []
    spc = find(docs, "SecretProviderClass")
    assert spc["spec"]["provider"] == "gke"
    entries = yaml.safe_load(spc["spec"]["parameters"]["secrets"])
    assert shape_errors(entries, [PROVIDER_SECRET], "secrets") == []
    assert {e["path"]: e["resourceName"] for e in entries} == {
        "API_KEY": "projects/my-project/secrets/chatbot-api-key/versions/latest",
        "OPENAI_API_KEY": "projects/my-project/secrets/chatbot-openai-api-key/versions/latest",
        "WIDGET_SECRET": "projects/my-project/secrets/chatbot-widget-secret/versions/latest",
        "REDIS_URL": "projects/my-project/secrets/chatbot-redis-url/versions/latest",
    }
    assert find(docs, "ManagedCertificate")["spec"]["domains"] == ["chat.example.com"]
    redirect = find(docs, "FrontendConfig")["spec"]["redirectToHttps"]
    assert redirect == {"enabled": True, "responseCodeName": "MOVED_PERMANENTLY_DEFAULT"}


def _checkov(directory: Path) -> dict[str, Any]:
    command = [str(tool("checkov")), "-d", str(directory), "--framework", "kubernetes", "--skip-download"]
    command += ["--output", "json"]
    env = {**os.environ, "LOG_LEVEL": "WARNING"}  # checkov reads LOG_LEVEL too
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)
    report = json.loads(done.stdout)
    return report[0] if isinstance(report, list) else report  # type: ignore[no-any-return]


def test_checkov_finds_nothing_unexplained() -> None:
    report = _checkov(K8S)
    summary = report["summary"]
    templates = [d for p in sorted(K8S.glob("*.yaml")) for d in documents(p.read_text(encoding="utf-8"))]
    assert summary["failed"] == 0, [c["check_id"] for c in report["results"]["failed_checks"]]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= len(templates)
    # Every skip carries its reason, in the manifest next to what it excuses.
    for check in report["results"]["skipped_checks"]:
        assert len(check["check_result"].get("suppress_comment", "")) > 40, check["check_id"]


def test_checkov_catches_a_writable_root_filesystem(tmp_path: Path) -> None:
    weakened = tmp_path / "k8s"
    shutil.copytree(K8S, weakened, ignore=shutil.ignore_patterns("*.py", "*.txt", "*.in", "*.example"))
    deployment = weakened / "deployment.yaml"
    text = deployment.read_text(encoding="utf-8")
    deployment.write_text(text.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"))
    failed = {c["check_id"] for c in _checkov(weakened)["results"]["failed_checks"]}
    assert "CKV_K8S_22" in failed


def test_resources_refer_to_each_other(docs: list[dict[str, Any]]) -> None:
    deployment = find(docs, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    pod = _pod(docs)
    for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy", "PodMonitoring"):
        spec = find(docs, kind)["spec"]
        selector = spec.get("podSelector") or spec["selector"]
        assert (selector.get("matchLabels") or selector).items() <= labels.items(), kind
    assert find(docs, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] == "chatbot"
    assert "replicas" not in deployment["spec"]  # the HPA owns it
    service = find(docs, "Service")
    assert json.loads(service["metadata"]["annotations"]["cloud.google.com/backend-config"]) == {
        "default": "chatbot"
    }
    ingress = find(docs, "Ingress")
    assert ingress["metadata"]["annotations"]["networking.gke.io/managed-certificates"] == "chatbot"
    assert ingress["spec"]["rules"][0]["host"] == "chat.example.com"
    assert pod["serviceAccountName"] == find(docs, "ServiceAccount")["metadata"]["name"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert find(docs, "ConfigMap", volumes["faq"]["configMap"]["name"])["data"]["faq.md"].startswith("# FAQ")
    assert volumes["secrets"]["csi"]["driver"] == "secrets-store-gke.csi.k8s.io"
    assert find(
        docs, "SecretProviderClass", volumes["secrets"]["csi"]["volumeAttributes"]["secretProviderClass"]
    )
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"chatbot"}


def test_load_balancer_health_and_timeouts_fit_the_pod(docs: list[dict[str, Any]]) -> None:
    pod = _pod(docs)
    container = pod["containers"][0]
    backend = find(docs, "BackendConfig")["spec"]
    assert (
        container["readinessProbe"]["httpGet"]["path"] == backend["healthCheck"]["requestPath"] == "/readyz"
    )
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert backend["healthCheck"]["port"] == container["ports"][0]["containerPort"] == 3000
    # A streamed reply the load balancer lets run, and drains, still fits in the pod's grace period.
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert backend["connectionDraining"]["drainingTimeoutSec"] >= backend["timeoutSec"] >= 300
    assert pod["terminationGracePeriodSeconds"] > pause + backend["timeoutSec"]
    assert find(docs, "Deployment")["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_pod_runs_unprivileged_as_the_image_user(docs: list[dict[str, Any]]) -> None:
    pod = _pod(docs)
    container = pod["containers"][0]
    uid = re.search(r"--uid (\d+)", (REPO / "chatbot/Dockerfile").read_text(encoding="utf-8"))
    assert uid
    assert pod["securityContext"]["runAsUser"] == int(uid.group(1))
    assert pod["securityContext"]["runAsNonRoot"] is True
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert "/tmp" in mounts  # the service's only writable place
    assert all("subPath" not in m for m in mounts.values())  # a subPath mount never sees a ConfigMap update
    labels = find(docs, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_settings_fit_gke(docs: list[dict[str, Any]]) -> None:
    settings = find(docs, "ConfigMap", "chatbot-settings")["data"]
    container = _pod(docs)["containers"][0]
    assert settings["WORKERS"] == container["resources"]["limits"]["cpu"] == "1"
    assert settings["PROXIES_COUNT"] == "2"  # X-Forwarded-For: <client>, <load balancer>
    assert settings["GOOGLE_CLOUD_LOGGING"] == "false"  # GKE ships stdout already
    faq_mount = next(m for m in container["volumeMounts"] if m["name"] == "faq")["mountPath"]
    assert settings["FAQ_FILE"] == f"{faq_mount}/faq.md"
    assert settings["CORS_ORIGINS"] == "https://www.example.com"
    assert settings["RATE_LIMIT_PER_IP"] == "30"
    assert container["image"] == f"europe-west9-docker.pkg.dev/my-project/chatbot/chatbot:{SAMPLE_ENV['TAG']}"


def test_a_settings_change_rolls_the_pods_and_a_faq_change_does_not(tmp_path: Path) -> None:
    def checksum(env: dict[str, str], faq: Path | None = None) -> str:
        done = render(tmp_path, env, faq=faq)
        assert done.returncode == 0, done.stderr
        annotations = find(documents(done.stdout), "Deployment")["spec"]["template"]["metadata"][
            "annotations"
        ]
        return str(annotations["checksum/settings"])

    first = checksum(SAMPLE_ENV)
    other_faq = tmp_path / "faq.md"
    other_faq.write_text("## Question ?\n\nRéponse.\n", encoding="utf-8")
    assert checksum(SAMPLE_ENV, other_faq) == first
    assert checksum({**SAMPLE_ENV, "LOG_LEVEL": "DEBUG"}) != first


@pytest.mark.parametrize(
    ("env", "environ", "message"),
    [
        ({**SAMPLE_ENV, "OPENAI_API_KEY": "sk-123"}, {}, "OPENAI_API_KEY: a secret"),
        ({**SAMPLE_ENV, "PORT": "8080"}, {}, "PORT: set by the manifests"),
        (SAMPLE_ENV, {"TAG": "latest"}, "TAG: expected an image tag other than latest"),
        ({k: v for k, v in SAMPLE_ENV.items() if k != "DOMAIN"}, {}, "DOMAIN: required"),
        (SAMPLE_ENV, {"SECRETS": "OPENAI_API_KEY"}, "SECRETS: API_KEY is required"),
    ],
)
def test_render_refuses_what_would_break_or_leak(
    tmp_path: Path, env: dict[str, str], environ: dict[str, str], message: str
) -> None:
    done = render(tmp_path, env, environ)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""
    assert "sk-123" not in done.stderr


def test_the_environment_picks_the_image_and_the_secrets(tmp_path: Path) -> None:
    done = render(tmp_path, SAMPLE_ENV, {"TAG": "abc1234", "SECRETS": "API_KEY REDIS_URL"})
    assert done.returncode == 0, done.stderr
    docs = documents(done.stdout)
    assert _pod(docs)["containers"][0]["image"].endswith("/chatbot:abc1234")
    entries = yaml.safe_load(find(docs, "SecretProviderClass")["spec"]["parameters"]["secrets"])
    assert [e["path"] for e in entries] == ["API_KEY", "REDIS_URL"]


def test_secret_files_become_the_service_environment(docs: list[dict[str, Any]], tmp_path: Path) -> None:
    container = _pod(docs)["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "secrets")["mountPath"]
    script = container["args"][0]
    assert mount in script
    assert script.endswith("exec python -m chatbot")
    # What the Secret Manager add-on writes: one file per variable, as stored (`echo` adds a newline).
    (tmp_path / "API_KEY").write_text("key-1,key-2\n", encoding="utf-8")
    (tmp_path / "REDIS_URL").write_text("rediss://:a$b c@10.0.0.3:6378/0", encoding="utf-8")
    probe = script.replace(mount, str(tmp_path)).replace("exec python -m chatbot", "exec env")
    done = subprocess.run(
        [*container["command"], probe], capture_output=True, text=True, timeout=10, check=True
    )
    assert "API_KEY=key-1,key-2\n" in done.stdout
    assert "REDIS_URL=rediss://:a$b c@10.0.0.3:6378/0\n" in done.stdout


def test_faq_reload_sees_a_configmap_update(tmp_path: Path) -> None:
    """The kubelet updates a ConfigMap volume by writing a new folder and flipping the `..data` symlink."""

    def publish(version: str, text: str) -> None:
        folder = tmp_path / f"..{version}"
        folder.mkdir()
        (folder / "faq.md").write_text(text, encoding="utf-8")
        (tmp_path / "..data_tmp").symlink_to(folder.name)
        os.replace(tmp_path / "..data_tmp", tmp_path / "..data")

    publish("2026_01_01_00_00_00.1", "## Horaires ?\n\nDe 9 h à 18 h.\n")
    (tmp_path / "faq.md").symlink_to("..data/faq.md")
    store = FaqStore(tmp_path / "faq.md", check_interval=0)
    assert len(store.current()) == 1
    publish("2026_01_01_00_01_00.2", "## Horaires ?\n\nDe 9 h à 18 h.\n\n## Adresse ?\n\n1 rue de la Paix.\n")
    assert len(store.current()) == 2
