"""The WordPress plugin's files, without a running WordPress: PHP syntax, translations, the zip to upload,
and the rules that keep the key and markup out of the browser."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "plugins" / "wordpress" / "chatbot-faq"
LANGUAGES = PLUGIN / "languages"
PHP_FILES = sorted(PLUGIN.rglob("*.php"))


def _need(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: run `make deps-clients`"
    return path


@pytest.mark.parametrize("path", PHP_FILES, ids=lambda p: str(p.relative_to(PLUGIN)))
def test_php_files_parse(path: Path) -> None:
    proc = subprocess.run([_need("php"), "-l", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", PHP_FILES, ids=lambda p: str(p.relative_to(PLUGIN)))
def test_php_files_cannot_be_called_directly(path: Path) -> None:
    text = path.read_text()
    if path.name == "index.php":
        assert "Silence is golden" in text
    elif path.name == "uninstall.php":
        assert "if ( ! defined( 'WP_UNINSTALL_PLUGIN' ) )" in text
    else:
        assert "if ( ! defined( 'ABSPATH' ) ) {\n\texit;\n}" in text


def test_the_french_translation_is_complete_and_compiled() -> None:
    po = LANGUAGES / "chatbot-faq-fr_FR.po"
    pot = LANGUAGES / "chatbot-faq.pot"
    complete = subprocess.run(
        [_need("msgcmp"), str(po), str(pot)], capture_output=True, text=True, check=False
    )
    assert complete.returncode == 0, complete.stderr
    stats = subprocess.run(
        [_need("msgfmt"), "--check", "--statistics", "-o", "-", str(po)], capture_output=True, check=False
    )
    assert stats.returncode == 0, stats.stderr
    assert b"untranslated" not in stats.stderr, stats.stderr
    assert b"fuzzy" not in stats.stderr, stats.stderr
    # The committed .mo is what msgfmt makes of the committed .po.
    assert (LANGUAGES / "chatbot-faq-fr_FR.mo").read_bytes() == stats.stdout


def test_the_template_lists_every_string_of_the_sources(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.pot"
    subprocess.run(
        [
            _need("xgettext"),
            "--language=PHP",
            "--from-code=UTF-8",
            *(f"--keyword={k}" for k in ("__", "_e", "esc_html__", "esc_html_e", "esc_attr__", "esc_attr_e")),
            "-o",
            str(fresh),
            *(str(p.relative_to(PLUGIN)) for p in PHP_FILES),
        ],
        cwd=PLUGIN,
        check=True,
        capture_output=True,
    )
    missing = subprocess.run(
        [_need("msgcomm"), "--unique", "--less-than=2", str(fresh), str(LANGUAGES / "chatbot-faq.pot")],
        capture_output=True,
        text=True,
        check=False,
    )
    new = [m for m in re.findall(r'^msgid "(.+)"$', missing.stdout, re.MULTILINE) if m]
    committed = (LANGUAGES / "chatbot-faq.pot").read_text()
    assert [m for m in new if f'msgid "{m}"' not in committed] == [], "run `make wp-pot`"


def test_the_guides_french_strings_are_the_french_version() -> None:
    po = (LANGUAGES / "chatbot-faq-fr_FR.po").read_text()
    for english, french in [
        ("Smart FAQ", "FAQ Intelligent"),
        ("Ask a question...", "Posez une question..."),
        ("Send", "Envoyer"),
    ]:
        assert f'msgid "{english}"\nmsgstr "{french}"' in po


def test_make_wp_plugin_builds_the_zip_to_upload() -> None:
    proc = subprocess.run(["make", "-s", "wp-plugin"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    version = re.search(r"^ \* Version:\s*(\S+)", (PLUGIN / "chatbot-faq.php").read_text(), re.MULTILINE)
    assert version
    with zipfile.ZipFile(ROOT / "build" / "wordpress" / f"chatbot-faq-{version.group(1)}.zip") as archive:
        names = set(archive.namelist())
        assert archive.testzip() is None
    expected = {
        f"chatbot-faq/{p.relative_to(PLUGIN)}"
        for p in PLUGIN.rglob("*")
        if p.is_file() and p.suffix != ".pot"
    }
    assert expected <= names
    # One top folder named like the plugin, as WordPress's uploader expects.
    assert {n.split("/", 1)[0] for n in names} == {"chatbot-faq"}


def test_the_chat_box_never_renders_replies_as_html_nor_inlines_scripts() -> None:
    script = (PLUGIN / "assets" / "js" / "chatbot-faq.js").read_text()
    assert "textContent = text" in script
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    for path in PHP_FILES:
        text = path.read_text()
        assert "<script" not in text, path
        assert "wp_add_inline_script" not in text, path
        assert "wp_localize_script" not in text, path
    # The key is read by PHP only: the settings, the settings page (is one saved?) and the client sending it.
    readers = [p.name for p in PHP_FILES if "get( 'api_key' )" in p.read_text()]
    assert sorted(readers) == [
        "class-chatbot-faq-admin.php",
        "class-chatbot-faq-client.php",
        "class-chatbot-faq-settings.php",
    ]
