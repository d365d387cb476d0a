"""The extension's pure-logic unit tests (Node's built-in runner) and static guarantees: no
content-side network calls, no broad host permission, both locales complete, the Firefox build."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from savy.settings import REPO_ROOT

EXT = REPO_ROOT / "extension"


def test_node_unit_tests_pass() -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed for the extension's unit tests (`make test` installs it)"
    r = subprocess.run([node, "--test", str(EXT / "tests")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert re.search(r"# pass [1-9]", r.stdout)


def test_only_the_service_worker_touches_the_network() -> None:
    net = re.compile(r"\b(fetch|XMLHttpRequest|WebSocket|EventSource|sendBeacon)\b\s*\(?")
    content_side = [EXT / "content.js", *(EXT / "lib").glob("*.js"), EXT / "options.js", EXT / "popup.js"]
    for f in content_side:
        code = re.sub(r"//.*", "", f.read_text(encoding="utf-8"))
        assert not net.search(code), f"{f.name} calls the network"
    assert "fetch(" in (EXT / "background.js").read_text(encoding="utf-8")


def test_manifest_asks_for_no_broad_host_permission() -> None:
    m = json.loads((EXT / "manifest.json").read_text(encoding="utf-8"))
    assert m["manifest_version"] == 3
    hosts = m["host_permissions"]
    assert all(re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])/\*$", h) for h in hosts), hosts
    # granted at install: nothing beyond loopback; the options page asks for one added site at a time
    # (chrome.permissions.request for that origin), which these optional patterns only make possible
    assert m.get("optional_host_permissions", []) in ([], ["https://*/*", "http://*/*"])
    assert "<all_urls>" not in json.dumps(m) and "*://*/*" not in json.dumps(m)
    for cs in m["content_scripts"]:
        for pattern in cs["matches"]:
            assert not re.match(r"^(\*|https?)://\*/", pattern), pattern
    assert "tabs" not in m["permissions"] and "webRequest" not in m["permissions"]


def test_locales_are_complete_and_used() -> None:
    en = json.loads((EXT / "_locales/en/messages.json").read_text(encoding="utf-8"))
    fi = json.loads((EXT / "_locales/fi/messages.json").read_text(encoding="utf-8"))
    assert en.keys() == fi.keys()
    code = "".join(p.read_text(encoding="utf-8") for p in EXT.glob("*.[jh][st]*"))
    used = set(re.findall(r"""\bt\(\s*["'`]([A-Za-z_]+)["'`]""", code)) | set(re.findall(r'data-i18n="(\w+)"', code))
    assert used - en.keys() == set(), used - en.keys()
    assert "Sävy" in en["buttonLabel"]["message"] and "Sävy" in fi["buttonLabel"]["message"]


def test_build_makes_chrome_zip_and_firefox_xpi(tmp_path) -> None:  # type: ignore[no-untyped-def]
    subprocess.run([sys.executable, str(EXT / "build.py")], check=True, capture_output=True, timeout=60)
    with zipfile.ZipFile(EXT / "dist" / "savy-firefox.xpi") as z:
        mf = json.loads(z.read("manifest.json"))
        assert mf["background"] == {"scripts": ["lib/shared.js", "background.js"]}
        assert mf["browser_specific_settings"]["gecko"]["id"]
        assert "content.js" in z.namelist() and not any(n.startswith("tests/") for n in z.namelist())
    with zipfile.ZipFile(EXT / "dist" / "savy-chrome.zip") as z:
        assert json.loads(z.read("manifest.json"))["background"] == {"service_worker": "background.js"}


def test_firefox_package_passes_web_ext_lint(web_modules: Path) -> None:
    """Mozilla's own linter (the checks addons.mozilla.org runs) on the built Firefox package."""
    subprocess.run([sys.executable, str(EXT / "build.py")], check=True, capture_output=True, timeout=60)
    r = subprocess.run([str(web_modules / ".bin" / "web-ext"), "lint", "--source-dir", str(EXT / "dist" / "firefox"),
                        "--output", "json", "--no-config-discovery"], capture_output=True, text=True, timeout=300)
    report = json.loads(r.stdout)
    found = [(m["code"], m.get("description", m["message"])) for k in ("errors", "warnings") for m in report[k]]
    assert not found, found


def test_toast_promises_ctrl_z_only_for_editors_the_browser_tests_cover() -> None:
    """The toast says "Ctrl+Z brings your draft back" for an editor marked `verified` in
    lib/editors.js; every such editor has its fixture page in tests/test_editors.py (which presses
    Ctrl+Z there), and the others are promised only Sävy's own Undo."""
    from .test_editors import PAGES

    src = (EXT / "lib" / "editors.js").read_text(encoding="utf-8")
    verified = set(re.findall(r'id: "([\w]+)",[^}]*verified: true', src))
    unverified = set(re.findall(r'id: "([\w]+)",[^}]*verified: false', src))
    assert verified and unverified and not verified & unverified
    covered = set(PAGES) | {"plain" if "contenteditable" in PAGES else ""}
    assert verified <= covered, verified - covered
    content = (EXT / "content.js").read_text(encoding="utf-8")
    assert 't(integration.verified ? "replacedUndo" : "replacedSavyUndo")' in content
    msgs = json.loads((EXT / "_locales" / "en" / "messages.json").read_text(encoding="utf-8"))
    assert "Ctrl+Z" in msgs["replacedUndo"]["message"] and "Ctrl+Z" not in msgs["replacedSavyUndo"]["message"]


def test_warning_kinds_match_the_servers_wording() -> None:
    """The panel sorts the server's warnings by their wording; a reworded warning would fall into
    "other" silently, so every prefix the extension matches must be one the pipeline writes."""
    shared = (EXT / "lib" / "shared.js").read_text(encoding="utf-8")
    pipeline = (REPO_ROOT / "server" / "savy" / "pipeline.py").read_text(encoding="utf-8")
    wording = re.findall(r"w\.(?:startsWith|endsWith)\((['\"])(.+?)\1\)", shared)
    assert len(wording) >= 4  # rules used, draft kept, not fixed, busy
    for _, text in wording:
        assert text.rstrip('"') in pipeline.replace("\\'", "'"), text
    assert re.search(r"Model attempt \{n\} rejected by the guard", pipeline)


def test_message_kinds_come_from_one_table() -> None:
    """Every message kind is a KINDS constant (lib/shared.js): a typo in a literal "settings/get"
    would be a message no one answers, found only by clicking."""
    kinds = set(re.findall(r'^\s+[A-Z_]+: "([a-z]+(?:/[a-z]+)?)",$', (EXT / "lib" / "shared.js").read_text(encoding="utf-8"), re.M))
    assert {"settings/get", "rewrite/start", "tab/open"} <= kinds
    for f in [EXT / "content.js", EXT / "background.js", EXT / "options.js", EXT / "popup.js"]:
        code = f.read_text(encoding="utf-8")
        assert not re.search(r'kind:\s*["\']', code), f"{f.name} writes a message kind as a literal"
        for page in ("popup", "options"):
            html = (EXT / f"{page}.html").read_text(encoding="utf-8")
            assert html.index("lib/shared.js") < html.index(f"{page}.js"), f"{page}.html loads shared.js first"
