"""The widget in real Chromium on pages of other sites (harness: tests/e2e/widget/), against the real stack:
the loader, a conversation driven by keyboard alone, streaming, Stop, reload, feedback, phones, friendly
failures, a strict CSP, the demo page, secrets and accessibility."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from chatbot import texts
from tests.e2e.conftest import Stack
from tests.e2e.widget.harness import ARTIFACTS, FRENCH, WidgetRun

#: Shopify's limit for an app embed's JavaScript (Theme Check's AssetSizeAppBlockJavaScript), and ours.
LOADER_LIMIT = 10_000


def test_the_loader_is_small_and_cached_and_the_panel_immutable(stack: Stack) -> None:
    with stack.client() as client:
        loader = client.get("/widget.js", headers={"Accept-Encoding": "gzip"})
        assert loader.status_code == 200
        assert loader.headers["content-type"] == "text/javascript; charset=utf-8"
        assert loader.headers["content-encoding"] == "gzip"
        assert loader.num_bytes_downloaded <= LOADER_LIMIT
        assert len(gzip.compress(loader.content, 9)) <= LOADER_LIMIT
        assert loader.headers["cache-control"] == "public, max-age=300"
        assert "nosniff" in loader.headers["x-content-type-options"]
        again = client.get("/widget.js", headers={"If-None-Match": loader.headers["etag"]})
        assert again.status_code == 304
        [panel_path] = re.findall(r"/widget/[0-9a-f]{16}/panel\.js", loader.text)
        panel = client.get(panel_path)
        assert panel.status_code == 200
        assert panel.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert panel.headers["access-control-allow-origin"] == "*"  # import() from any page is a CORS fetch
        stale = client.get("/widget/0123456789abcdef/panel.js", follow_redirects=False)
        assert (stale.status_code, stale.headers["location"]) == (307, panel_path)
        assert client.get("/widget/nope/panel.js").json() == {"error": "Ressource introuvable."}
    sizes = {"loader_gzip_bytes": loader.num_bytes_downloaded, "panel_gzip_bytes": panel.num_bytes_downloaded}
    (ARTIFACTS / "widget-sizes.json").write_text(json.dumps(sizes), encoding="utf-8")


def test_keyboard_alone_opens_the_dialog_and_escape_gives_focus_back(widget_run: WidgetRun) -> None:
    seen = widget_run["conversation"]
    assert seen["launcher"] == {"label": "Open the chat", "expanded": "false"}
    assert seen["focusAfterTab"] == "button.launcher"
    assert seen["focusAfterOpen"] == "textarea."
    assert seen["dialog"] == {
        "panel": {"role": "dialog", "aria-labelledby": "cb-title"},
        "title": "Smart FAQ",
        "log": {"role": "log", "aria-live": "polite"},
        "status": {"role": "status"},
        "label": "Your question",
        "expanded": "true",
    }
    assert seen["focusBeforeEscape"] == "textarea."
    assert seen["afterEscape"] == {"focus": "button.launcher", "expanded": "false"}


def test_replies_stream_in_as_text_with_only_web_links_clickable(widget_run: WidgetRun) -> None:
    seen = widget_run["conversation"]
    streamed = seen["stream"]
    # Eight pieces 150 ms apart: the visitor sees the reply grow, the log is busy and the status line speaks.
    assert len(streamed["seen"]) >= 5
    grown = zip(streamed["seen"], streamed["seen"][1:], strict=False)
    assert all(b.strip().startswith(a.strip()) for a, b in grown)
    assert streamed["busySeen"]
    assert streamed["statusWhileStreaming"] == "Thinking…"
    assert streamed["status"] == "Reply complete."
    assert streamed["ended"] > 900
    [first_reply] = [m for m in seen["restored"] if m["role"] == "assistant"][:1]
    assert "<b>bold</b> javascript:alert(1)" in first_reply["text"]  # markup stays text
    assert first_reply["elements"] == ["a"]
    assert first_reply["links"] == [
        {"href": "https://example.com/refunds", "target": "_blank", "rel": "noopener noreferrer nofollow"}
    ]


def test_stop_ends_the_reply_and_closes_the_model_stream(widget_run: WidgetRun) -> None:
    stop = widget_run["conversation"]["stop"]
    assert stop["sendLabelWhileStreaming"] == "Stop the reply"
    assert stop["status"] == "Reply stopped."
    assert stop["transcript"]["mark"] == "(reply interrupted)"
    assert stop["transcript"]["text"].strip()  # what came before Stop stays
    [chat] = [r for r in widget_run.responses("conversation", "/chat") if "#stream:60x100" in r["postData"]]
    [stream] = [s for s in widget_run.streams if s["request_id"] == chat["headers"]["x-request-id"]]
    assert stream["closed_by_client"]
    assert not stream["completed"]
    assert stream["pieces_sent"] < 30
    assert stream["ended"] - stop["stoppedAt"] < 1.5


def test_the_transcript_survives_a_reload_until_a_new_conversation(widget_run: WidgetRun) -> None:
    seen = widget_run["conversation"]
    assert [(m["role"], m["text"][:24]) for m in seen["restored"]] == [
        ("user", "Where are refunds explai"),
        ("assistant", "Echo: Where are refunds "),
        ("user", "#stream:8x150 Tell me mo"),
        ("assistant", "Echo: #stream:8x150 Tell"),
    ]  # the stopped exchange was not kept by the server
    assert seen["restoredStatus"] == "Conversation restored."
    [before] = seen["storedBeforeNew"].values()
    [after] = seen["afterNew"]["stored"].values()
    assert before["conversation"]
    assert after["conversation"] is None
    assert seen["afterNew"]["transcript"] == []
    [deleted] = widget_run.responses("conversation", "/conversations/", "DELETE")
    assert deleted["url"].endswith(before["conversation"])
    assert deleted["status"] == 204
    [fresh] = seen["storedAfterNewAsk"].values()
    assert fresh["conversation"] not in (None, before["conversation"])
    assert fresh["token"] == before["token"]  # the same visitor


def test_feedback_is_logged_with_its_request_id_and_reaches_cloud_logging(
    widget_run: WidgetRun, stack: Stack
) -> None:
    assert widget_run["conversation"]["feedback"] == {
        "status": "Thank you for your feedback!",
        "pressed": "Helpful",
    }
    [rated] = widget_run.responses("conversation", "/feedback")
    assert rated["status"] == 204
    request_id = rated["headers"]["x-request-id"]
    conversation = json.loads(rated["postData"])["conversation_id"]
    assert json.loads(rated["postData"]) == {"conversation_id": conversation, "rating": "up"}
    [record] = stack.wait_for_log("chatbot", lambda r: r.get("request_id") == request_id and "rating" in r)
    assert (record["rating"], record["conversation_id"]) == ("up", conversation)
    [shipped] = [e for e in widget_run.cloud_entries if e["labels"]["request_id"] == request_id]
    assert shipped["jsonPayload"]["rating"] == "up"


def test_phones_get_a_full_screen_french_panel_with_16px_input(widget_run: WidgetRun) -> None:
    seen = widget_run["phone"]
    assert seen["panelBox"] == {"x": 0, "y": 0, "width": 390, "height": 844}
    assert seen["inputFontSize"] == "16px"  # iOS zooms into anything smaller
    assert seen["texts"] == FRENCH
    assert seen["ask"]["statusWhileStreaming"] == "Réflexion en cours…"
    assert seen["ask"]["status"] == "Réponse terminée."
    assert (ARTIFACTS / "widget-phone.png").stat().st_size > 10_000


def test_offline_and_rate_limited_visitors_are_told_what_to_do(widget_run: WidgetRun) -> None:
    seen = widget_run["states"]
    assert seen["offline"]["status"] == "Offline: check your connection, then try again."
    assert seen["offline"]["inputKept"] == "Are you there?"  # nothing lost
    limited = seen["limited"]
    # RATE_LIMIT_PER_VISITOR is 20/minute: by the 20th question after "Hello" the visitor is refused (sooner
    # when a request lost to a network change was counted and sent again), and told when to retry.
    assert 15 <= limited["asked"] <= 20
    assert re.fullmatch(r"Too many questions at once: try again in \d+ s\.", limited["status"])
    assert limited["sendDisabled"]
    [refused] = [r for r in widget_run.responses("states", "/chat") if r["status"] == 429]
    assert int(refused["headers"]["retry-after"]) > 0
    assert '"visitor";r=0' in refused["headers"]["ratelimit"]


def test_an_unlisted_site_gets_a_friendly_refusal(widget_run: WidgetRun, stack: Stack) -> None:
    seen = widget_run["refused"]
    assert seen["ask"]["status"] == "This site is not allowed to use this chatbot."
    assert seen["ask"]["inputKept"] == "Hello from a site the chatbot does not know"
    assert seen["transcript"] == []
    assert not widget_run.responses("refused", "/chat")
    with stack.client() as client:  # what the server answered that browser (which could not read it)
        preflight = client.options(
            "/widget/session",
            headers={"Origin": widget_run.unlisted, "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers
        refused = client.post(
            "/widget/session", json={"key": stack.widget_key}, headers={"Origin": widget_run.unlisted}
        )
    assert (refused.status_code, refused.json()) == (403, {"error": texts.WIDGET_REFUSED})


def test_a_page_with_a_strict_csp_reports_no_violation(widget_run: WidgetRun) -> None:
    seen = widget_run["csp"]
    assert seen["ask"]["status"] == "Reply complete."
    assert seen["csp"] == []
    assert not [line for line in seen["consoleBeforeControl"] if "Content Security Policy" in line]
    assert seen["controlCsp"] == 1  # an inline style added afterwards is caught: the listener works


def test_the_demo_page_works_under_its_own_strict_csp(widget_run: WidgetRun, stack: Stack) -> None:
    with stack.client() as client:
        page = client.get("/demo")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    snippet = f'src="{stack.https_url}/widget.js" data-key="{stack.widget_key}"'
    assert snippet in page.text.replace("&quot;", '"')
    seen = widget_run["demo"]
    assert seen["texts"]["title"] == "FAQ Intelligent"
    assert seen["ask"]["status"] == "Réponse terminée."
    assert [m["role"] for m in seen["restored"]] == ["user", "assistant"]  # same-origin GET of the transcript
    assert seen["csp"] == []


def test_no_secret_reaches_the_browser(widget_run: WidgetRun, stack: Stack) -> None:
    secrets = {"API_KEY": stack.api_key, "WIDGET_SECRET": stack.settings["WIDGET_SECRET"]}
    secrets["OPENAI_API_KEY"] = stack.upstream_key
    seen_everything = json.dumps(widget_run.results)
    assert stack.widget_key in seen_everything  # the recording holds what was sent
    for name, value in secrets.items():
        assert value not in seen_everything, f"{name} reached the browser"


@pytest.mark.parametrize("scenario", ["conversation", "phone"])
def test_accessibility_scan_finds_nothing_serious(widget_run: WidgetRun, scenario: str) -> None:
    scan = widget_run[scenario]["axe"]
    assert scan["widgetNodesChecked"] > 20  # axe went inside the shadow root
    serious = [v for v in scan["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == []
