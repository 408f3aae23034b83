"""The installed Google Cloud CLI as the deploy tests use it: its command tree, API schemas and configuration.

- `check_call`: is a recorded `gcloud ...` call one this CLI accepts: an existing command (its release track
  included), flags it defines, allowed values for flags with choices. The reference is the CLI's own static
  completion tree (`data/cli/gcloud_completions.py`, what its fast completion reads: every command and visible
  flag of this installation), not a list written here.
- `unknown_fields`: the fields of an API JSON document (an AlertPolicy, a LogMetric) that the CLI's generated
  client for that API does not know, enum values included.
- `config_dir`: a gcloud configuration folder aimed at local fakes (endpoint overrides, a token file), with
  the Compute Engine check answered in advance, so that the real gcloud talks to loopback only.

Outside CI, tests that need the CLI are skipped when it is not installed (`unavailable`); in CI they fail.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from tests.deploy.harness import unavailable


@cache
def sdk_root() -> Path:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        unavailable("the Google Cloud CLI (gcloud) is not installed")
        raise AssertionError("unreachable")
    # bin/gcloud, usually through a link from /usr/bin.
    return Path(gcloud).resolve().parent.parent


@cache
def command_tree() -> dict[str, Any]:
    tree_file = sdk_root() / "data/cli/gcloud_completions.py"
    if not tree_file.is_file():
        unavailable(f"this gcloud has no static command tree ({tree_file})")
    tree: dict[str, Any] = runpy.run_path(str(tree_file))["STATIC_COMPLETION_CLI_TREE"]
    return tree


def check_call(argv: list[str], hidden: frozenset[str] = frozenset()) -> list[str]:
    """Problems with one call (argv after `gcloud`), empty when the CLI accepts it; `hidden`: flags known to
    be accepted though not listed (hidden flags, checked separately)."""
    tree = command_tree()
    node, path, positional, problems = tree, ["gcloud"], 0, []
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word.startswith("--"):
            name, has_value, value = word.partition("=")
            if name in hidden:
                continue
            spec = node["flags"].get(name, tree["flags"].get(name))
            if spec is None and name.startswith("--no-"):
                spec = node["flags"].get("--" + name[5:])
                if spec != "bool":
                    spec = None
            if spec is None:
                problems.append(f"{' '.join(path)}: no flag {name}")
            elif spec != "bool":
                if not has_value:
                    if i >= len(argv):
                        problems.append(f"{' '.join(path)}: {name} needs a value")
                        break
                    value = argv[i]
                    i += 1
                if isinstance(spec, list) and value not in spec:
                    problems.append(f"{' '.join(path)}: {name} {value!r} is not one of {spec}")
        elif positional == 0 and word in node["commands"]:
            node = node["commands"][word]
            path.append(word)
        else:
            positional += 1
    if node["commands"]:
        problems.append(f"{' '.join(path)} is a command group, not a command")
    return problems


_SCHEMA_CHECK = """
import json, sys
sys.path[:0] = [sys.argv[1] + "/lib", sys.argv[1] + "/lib/third_party"]
from apitools.base.protorpclite import messages
from apitools.base.py import encoding
from googlecloudsdk.generated_clients.apis.logging.v2 import logging_v2_messages as logging_v2
from googlecloudsdk.generated_clients.apis.monitoring.v3 import monitoring_v3_messages as monitoring_v3
kinds = {"AlertPolicy": monitoring_v3.AlertPolicy, "LogMetric": logging_v2.LogMetric}

def unknown(message, path):
    found = [f"{path}.{name}" for name in message.all_unrecognized_fields()]
    for field in message.all_fields():
        if isinstance(field, messages.MessageField):
            values = getattr(message, field.name)
            for n, value in enumerate(values if field.repeated else [values]):
                if isinstance(value, messages.Message):
                    found += unknown(value, f"{path}.{field.name}" + (f"[{n}]" if field.repeated else ""))
    return found

print(json.dumps(unknown(encoding.JsonToMessage(kinds[sys.argv[2]], sys.stdin.read()), sys.argv[2])))
"""


def unknown_fields(kind: str, document: str) -> list[str]:
    """Paths of the fields (and enum values) of `document` that this CLI's `kind` message does not define."""
    done = subprocess.run(
        [sys.executable, "-c", _SCHEMA_CHECK, str(sdk_root()), kind],
        input=document,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout)
    return found


def config_dir(path: Path, token_file: Path, project: str, endpoints: dict[str, str]) -> Path:
    """A gcloud configuration folder (CLOUDSDK_CONFIG) that reaches `endpoints` ({"secretmanager": URL})."""
    (path / "configurations").mkdir(parents=True, exist_ok=True)
    overrides = "".join(f"{api} = {url}\n" for api, url in endpoints.items())
    (path / "configurations/config_default").write_text(
        f"[core]\nproject = {project}\ndisable_usage_reporting = true\n"
        f"[auth]\naccess_token_file = {token_file}\n"
        f"[component_manager]\ndisable_update_check = true\n"
        f"[api_endpoint_overrides]\n{overrides}",
        encoding="utf-8",
    )
    (path / "active_config").write_text("default", encoding="utf-8")  # no newline: gcloud reads it verbatim
    # gcloud asks the network whether it runs on Compute Engine unless this cache answers first.
    (path / "gce").write_text("False", encoding="utf-8")
    return path


def cli_env(config: Path) -> dict[str, str]:
    """The environment for the real gcloud with `config`, and nothing of this machine's own configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSDK_")}
    # Keep the machine's CA bundle (an egress proxy may re-sign), drop any other CLOUDSDK setting.
    if "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE" in os.environ:
        env["CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE"] = os.environ["CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE"]
    env["CLOUDSDK_CONFIG"] = str(config)
    return env
