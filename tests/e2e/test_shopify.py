"""The Shopify theme app extension (plugins/shopify/): Shopify's own Theme Check finds no error, the app embed
renders the right script tag (liquidjs), and a storefront-like page holding it chats in Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.e2e.conftest import Stack
from tests.e2e.widget.harness import (
    EXTENSION,
    FRENCH,
    WidgetRun,
    render_block,
    shopify_settings,
    theme_check,
)


def test_theme_check_finds_no_error(tmp_path: Path) -> None:
    offenses = theme_check()
    assert [o for o in offenses if o["severity"] == 0] == []
    # The same check does catch what Shopify refuses in an app block: it is really running.
    broken = tmp_path / "broken"
    shutil.copytree(EXTENSION, broken)
    block = broken / "blocks" / "chatbot.liquid"
    refused = "{% javascript %}var x;{% endjavascript %}<script src='/a.js'></script>"
    block.write_text(block.read_text() + refused)
    found = {o["check"] for o in theme_check(broken) if o["severity"] == 0}
    assert {"AppBlockValidTags", "ParserBlockingScript"} <= found


def test_the_app_embed_renders_one_deferred_script_tag(stack: Stack) -> None:
    rendered = render_block(shopify_settings(stack), "fr")
    assert f'src="{stack.https_url}/widget.js"' in rendered  # the trailing / of the setting is dropped
    for attribute in (
        f'data-key="{stack.widget_key}"',
        'data-lang="fr"',  # "auto": the storefront's language
        'data-title="FAQ Intelligent"',  # from the French storefront locale
        'data-color="#008060"',
        'data-position="left"',
        "defer",
    ):
        assert attribute in rendered
    english = render_block({**shopify_settings(stack), "language": "en", "title": "Help"}, "en")
    assert 'data-lang="en"' in english
    assert 'data-title="Help"' in english
    # Nothing at all without a key, or with a host that is not https (the storefront would block it).
    assert render_block({**shopify_settings(stack), "key": " "}, "fr").strip() == ""
    plain = stack.https_url.replace("https:", "http:")
    assert render_block({**shopify_settings(stack), "host": plain}, "fr").strip() == ""


def test_a_storefront_page_with_the_block_chats(widget_run: WidgetRun) -> None:
    seen = widget_run["shopify"]
    # The block's colour and position; a page without them (the CSP test's) keeps the defaults.
    green = {"background": "rgb(0, 128, 96)", "color": "rgb(255, 255, 255)", "left": 20}
    assert seen["launcherStyle"] == green
    default = widget_run["csp"]["launcherStyle"]
    assert (default["background"], default["left"]) == ("rgb(26, 86, 219)", 1280 - 20 - 60)
    assert seen["texts"] == FRENCH
    assert len(seen["ask"]["seen"]) >= 3  # streamed
    assert seen["ask"]["status"] == "Réponse terminée."
    assert seen["feedbackStatus"] == "Merci pour votre avis !"
    [rated] = widget_run.responses("shopify", "/feedback")
    assert rated["status"] == 204
    assert [m["role"] for m in seen["restored"]] == ["user", "assistant"]
    assert seen["restored"][1]["links"][0]["href"] == "https://example.com/suivi"
    assert seen["afterNew"]["transcript"] == []
    [deleted] = widget_run.responses("shopify", "/conversations/", "DELETE")
    assert deleted["status"] == 204
    assert seen["csp"] == []
