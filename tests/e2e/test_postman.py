"""The Postman collection, run by newman (npm) against the real stack over HTTPS, as CI does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
NEWMAN = ROOT / "node_modules" / ".bin" / "newman"
COLLECTION = ROOT / "postman" / "chatbot-mvp.postman_collection.json"
ENVIRONMENT = ROOT / "postman" / "chatbot-mvp.postman_environment.json"
ARTIFACTS = ROOT / "test-artifacts"
REQUESTS = [
    "GET / (service is running)",
    "POST /chat (a question)",
    "POST /chat (streaming)",
    "POST /chat without x-api-key",
    "POST /chat with a wrong x-api-key",
    "POST /chat without a message",
    "GET /api-docs/openapi.json (the OpenAPI document)",
]


def _newman(
    stack: Stack, report: Path, *, api_key: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    assert NEWMAN.exists(), "newman is missing: run `make deps-clients` (npm ci)"
    proc = subprocess.run(
        [
            str(NEWMAN),
            "run",
            str(COLLECTION),
            "--environment",
            str(ENVIRONMENT),
            "--env-var",
            f"baseUrl={stack.https_url}",
            "--env-var",
            f"apiKey={api_key}",
            # TLS verified against the stack's own self-signed certificate, not switched off.
            "--ssl-extra-ca-certs",
            str(stack.ca_file),
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--color",
            "off",
            "--timeout-request",
            "20000",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert report.exists(), proc.stdout + proc.stderr
    return proc, json.loads(report.read_text())


def test_the_collection_passes_against_the_stack_over_https(stack: Stack, tmp_path: Path) -> None:
    proc, report = _newman(stack, tmp_path / "newman.json", api_key=stack.api_key)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "newman.txt").write_text(proc.stdout)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = report["run"]
    assert [e["item"]["name"] for e in run["executions"]] == REQUESTS
    assert run["stats"]["requests"] == {"total": 7, "pending": 0, "failed": 0}
    # Every request carries assertions on its status and its body; none failed, none was skipped.
    assert run["stats"]["assertions"]["total"] == 19
    assert run["stats"]["assertions"]["failed"] == 0
    assert run["failures"] == []
    for execution in run["executions"]:
        names = [a["assertion"] for a in execution.get("assertions", [])]
        assert any(n.startswith("status is") for n in names), execution["item"]["name"]
        assert not any(a.get("skipped") for a in execution.get("assertions", []))
    assert all(e["response"]["code"] < 500 for e in run["executions"])


def test_the_collection_catches_a_wrong_key(stack: Stack, tmp_path: Path) -> None:
    """With a key the stack does not know, the question's assertions fail: the collection really checks."""
    proc, report = _newman(stack, tmp_path / "newman.json", api_key="not-the-stack-key")

    assert proc.returncode != 0
    failed = {(f["source"]["name"], f["error"]["test"]) for f in report["run"]["failures"]}
    assert ("POST /chat (a question)", "status is 200") in failed
    assert ("POST /chat (a question)", "body has a non-empty reply") in failed
    # The requests that need no key (or expect a refusal) still pass.
    assert {name for name, _ in failed} == {
        "POST /chat (a question)",
        "POST /chat (streaming)",
        "POST /chat without a message",
    }


def test_the_collection_is_importable_as_is() -> None:
    collection = json.loads(COLLECTION.read_text())
    environment = json.loads(ENVIRONMENT.read_text())
    assert (
        collection["info"]["schema"] == "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
    )
    assert [item["name"] for item in collection["item"]] == REQUESTS
    assert {v["key"]: v["value"] for v in environment["values"]} == {
        "baseUrl": "https://localhost",
        "apiKey": "",
    }
    # No key is committed: the environment's apiKey is empty and marked secret.
    assert next(v for v in environment["values"] if v["key"] == "apiKey")["type"] == "secret"
