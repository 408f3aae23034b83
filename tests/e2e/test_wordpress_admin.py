"""The WordPress plugin's settings page (administrators only, the key never shown), wp-config.php constants,
and uninstall, on the real site of tests/e2e/wordpress/harness.py.
"""

from __future__ import annotations

import re
import secrets

import httpx
import pytest

from tests.e2e.wordpress.harness import ROOT, Chatbot, WordPress, form_fields, leaks

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SETTINGS_SCREENSHOT = ROOT / "test-artifacts" / "wordpress-settings.png"
SETTINGS_PAGE = "/wp-admin/options-general.php?page=chatbot-faq"


def test_the_settings_page_is_for_administrators_and_never_shows_the_key(
    wordpress: WordPress, chatbot: Chatbot
) -> None:
    wordpress.configure(chatbot)
    wordpress.wp("locale", {"locale": ""})
    with httpx.Client(timeout=60, follow_redirects=True) as admin:
        wordpress.login(admin, "admin", wordpress.admin_password)
        page = admin.get(wordpress.base_url + SETTINGS_PAGE)
        assert page.status_code == 200
        assert "<h1>Chatbot FAQ</h1>" in page.text
        assert f'value="{chatbot.url}"' in page.text
        key_field = re.search(r'<input type="password"[^>]*id="chatbot_faq_api_key"[^>]*>', page.text)
        assert key_field
        assert 'value=""' in key_field.group(0)
        assert "Saved (hidden)" in page.text
        assert chatbot.api_key not in page.text
        assert "unencrypted" not in page.text

        # Saving the form with the key field left empty keeps the key; other fields are sanitised.
        fields = form_fields(page.text)
        assert fields["option_page"] == "chatbot_faq"
        saved = admin.post(
            wordpress.base_url + "/wp-admin/options.php",
            data={
                **fields,
                "chatbot_faq_settings[api_url]": chatbot.url + "/",
                "chatbot_faq_settings[api_key]": "",
                "chatbot_faq_settings[form]": "1",
                "chatbot_faq_settings[rate_limit]": "5",
                "chatbot_faq_settings[title]": "Aide <script>alert(1)</script>",
                "chatbot_faq_settings[placeholder]": "Votre question ici",
            },
        )
        assert saved.status_code == 200
        assert "settings-updated=true" in str(saved.url)
        assert chatbot.api_key not in saved.text
        stored = wordpress.wp("get-settings")
        assert stored["api_key"] == chatbot.api_key
        assert stored["api_url"] == chatbot.url
        assert stored["verify_tls"] is False
        assert stored["rate_limit"] == 5
        assert stored["title"] == "Aide"
        assert stored["placeholder"] == "Votre question ici"

        # A key pasted with spaces and a line break is stored as the header value it must be.
        pasted = admin.post(
            wordpress.base_url + "/wp-admin/options.php",
            data={
                **fields,
                "chatbot_faq_settings[api_url]": chatbot.url,
                "chatbot_faq_settings[api_key]": f"  {chatbot.api_key}\r\n",
                "chatbot_faq_settings[form]": "1",
            },
        )
        assert pasted.status_code == 200
        assert wordpress.wp("get-settings")["api_key"] == chatbot.api_key

        # Without the form's nonce, nothing is saved.
        forged = admin.post(
            wordpress.base_url + "/wp-admin/options.php",
            data={**fields, "_wpnonce": "0123456789", "chatbot_faq_settings[title]": "Forged"},
        )
        assert forged.status_code == 403
        assert wordpress.wp("get-settings")["title"] == "Aide"

        # An http:// address to another machine would carry the key in clear: the page says so.
        wordpress.configure(Chatbot(url="http://chatbot.example.com", api_key=chatbot.api_key))
        warned = admin.get(wordpress.base_url + SETTINGS_PAGE).text
        assert "the API key would cross the network unencrypted" in warned
        # The page as an administrator sees it in a browser (the README shows it, hence a stable address), the
        # key nowhere.
        wordpress.configure(Chatbot(url="https://chatbot.example.com", api_key=chatbot.api_key))
        SETTINGS_SCREENSHOT.parent.mkdir(exist_ok=True)
        seen = wordpress.browse(
            url=wordpress.base_url + SETTINGS_PAGE,
            cookies=[
                {"name": c.name, "value": c.value or "", "domain": "127.0.0.1", "path": "/"}
                for c in admin.cookies.jar
            ],
            elementScreenshot={"selector": "#wpbody-content .wrap", "path": str(SETTINGS_SCREENSHOT)},
        )
        assert seen["pageStatus"] == 200
        assert "Connection to the chatbot" in seen["domHtml"]
        assert leaks(chatbot.api_key, seen) == []
        assert SETTINGS_SCREENSHOT.stat().st_size > 5000
        wordpress.configure(chatbot, title="Aide")

    password = secrets.token_urlsafe(12)
    wordpress.wp("add-user", {"login": "editor1", "password": password, "role": "editor"})
    with httpx.Client(timeout=60, follow_redirects=True) as editor:
        wordpress.login(editor, "editor1", password)
        refused = editor.get(wordpress.base_url + SETTINGS_PAGE)
        assert refused.status_code == 403
        assert chatbot.api_key not in refused.text
        posted = editor.post(
            wordpress.base_url + "/wp-admin/options.php",
            data={**fields, "chatbot_faq_settings[title]": "Editor was here"},
        )
        assert posted.status_code == 403
    assert wordpress.wp("get-settings")["title"] == "Aide"


def test_wp_config_constants_win_over_the_settings_page(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    wordpress.wp("locale", {"locale": ""})
    # The settings page holds a wrong address and key; wp-config.php holds the right ones.
    wordpress.configure(Chatbot(url="https://127.0.0.1:9", api_key="stale-key"), verify_tls=True)
    wordpress.set_constants(
        {
            "CHATBOT_FAQ_API_URL": chatbot.url,
            "CHATBOT_FAQ_API_KEY": chatbot.api_key,
            "CHATBOT_FAQ_VERIFY_TLS": False,
        }
    )
    try:
        answered = wordpress.ask(visitor, "Bonjour des constantes", wordpress.nonce(visitor))
        assert answered.status_code == 200, answered.text
        assert "Bonjour des constantes" in answered.json()["reply"]

        with httpx.Client(timeout=60, follow_redirects=True) as admin:
            wordpress.login(admin, "admin", wordpress.admin_password)
            page = admin.get(wordpress.base_url + SETTINGS_PAGE).text
        assert page.count("Set in wp-config.php: this value cannot be changed here.") == 3
        assert re.search(r'id="chatbot_faq_api_key"[^>]*disabled', page)
        assert chatbot.api_key not in page
        assert "stale-key" not in page
    finally:
        wordpress.set_constants({})


def test_uninstall_removes_the_plugins_data(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    wordpress.configure(chatbot, rate_limit=5)
    # Leave a rate-limit window behind, as visitors do.
    assert wordpress.ask(visitor, "Bonjour", wordpress.nonce(visitor)).status_code == 200
    try:
        left = wordpress.wp("uninstall")
        assert left == {"option": None, "leftovers": 0, "active": False}
    finally:
        assert wordpress.wp("activate") == {"active": True}
