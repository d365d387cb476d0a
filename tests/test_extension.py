"""End to end: the unpacked extension in Debian's Chromium (Playwright, no downloaded browser),
on fixture pages like Gmail, Zendesk and an editor inside an iframe, talking to the real Sävy server
with the embedded model. Replace, then Ctrl+Z, must give back the exact draft; the quoted thread and
signature must be byte-identical after Replace; with the server down the draft stays untouched."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from savy.settings import REPO_ROOT

from .conftest import TOKEN, LiveServer, free_port

playwright_sync = pytest.importorskip("playwright.sync_api")

EXT = REPO_ROOT / "extension"
PAGES = Path(__file__).parent / "pages"
CHROMIUM = os.environ.get("SAVY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ["SAVY_SCREENSHOTS"]) if os.environ.get("SAVY_SCREENSHOTS") else None


@pytest.fixture(scope="module")
def pages_url() -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(PAGES))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    assert Path(CHROMIUM).exists(), (
        f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium package "
        "(or set SAVY_CHROMIUM)")
    pw = playwright_sync.sync_playwright().start()
    try:
        with launch(pw, tmp_path_factory.mktemp("chromium-profile")) as ctx:
            ctx.savy_pw = pw
            yield ctx
    finally:
        pw.stop()


@contextlib.contextmanager
def launch(pw: Any, profile: Path) -> Iterator[Any]:
    """Chromium with the unpacked extension; ctx.savy_sw is its service worker, ctx.savy_id its id."""
    ctx = pw.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True,
        locale="en-US", viewport={"width": 1100, "height": 800},
        args=[f"--disable-extensions-except={EXT}", f"--load-extension={EXT}", "--no-sandbox",
              "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run", "--lang=en-US"])
    try:
        sw = ctx.service_workers[0] if ctx.service_workers else ctx.wait_for_event("serviceworker", timeout=30000)
        ctx.savy_sw = sw
        ctx.savy_id = sw.url.split("/")[2]
        yield ctx
    finally:
        ctx.close()


def configure(ctx: Any, server: str, token: str = TOKEN, hints: bool = True, hooks: bool = True,
              sites: tuple[str, ...] = ("http://127.0.0.1",)) -> None:
    """The extension's settings, as the options page stores them: the fixture pages' site added
    (loopback pages get no content script otherwise); `hooks` opens the panel's shadow root and its
    state attributes to the test (off for what a page can see)."""
    ctx.savy_sw.evaluate(
        "async (s) => { await chrome.storage.local.set({settings: s}); await globalThis.savySyncSites(); }",
        {"server": server, "token": token, "hints": hints, "disabledHosts": [], "testHooks": hooks, "sites": list(sites)})


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab in the extension's browser, closed after the test."""
    tab = browser.new_page()
    yield tab
    tab.close()


@pytest.fixture
def ext(browser: Any, live: LiveServer) -> Any:
    configure(browser, live.url)
    return browser


def shot(page: Any, name: str) -> None:
    if SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


# How each fixture exposes its editor, the draft inside it, and what must never change.
FIXTURES = {
    "gmail": {
        "page": "gmail.html", "frame": None, "editor": "#editor",
        "draft": "Paketti 20417 on Postin terminaalissa Vantaalla. Se toimitetaan perille 3.12.2026 mennessä.",
        "customer": "tilaukseni 20417 on ollut matkalla jo viikon",
        "kept": [".gmail_signature", ".gmail_quote"], "facts": ["20417", "3.12.2026"],
    },
    "zendesk": {
        "page": "zendesk.html", "frame": None, "editor": "#reply",
        "draft": "Refund of £49.00 for the duplicate charge on order 77120 was issued today. "
                 "It shows on your card within 5 business days.",
        "customer": "I was charged twice for order 77120",
        "kept": [], "facts": ["£49.00", "77120"],
    },
    "iframe": {
        "page": "iframe.html", "frame": "#frame", "editor": "#editor",
        "draft": "No problem. Your account 4471-22 is active again and the invoice INV-9031 is closed.",
        "customer": "Thank you so much for sorting out my account yesterday",
        "kept": [".signature"], "facts": ["4471-22", "INV-9031"],
        # the accept-thanks fix of "No problem." opens the reply: no bank opener, no alternatives
        "opener": False,
    },
}

DRAFT_JS = """(el) => el.tagName === 'TEXTAREA' ? el.value : el.innerHTML"""


def scope(page: Any, fx: dict) -> Any:
    return page.frame_locator(fx["frame"]) if fx["frame"] else page


def ui(page: Any, fx: dict) -> Any:
    return scope(page, fx).locator("savy-ui")


def editor_state(page: Any, fx: dict) -> dict:
    ed = scope(page, fx).locator(fx["editor"])
    state = {"raw": ed.evaluate(DRAFT_JS), "kept": [ed.locator(k).evaluate("n => n.outerHTML") for k in fx["kept"]]}
    if fx["editor"] == "#reply":  # textarea: the signature is the text from the "-- " line on
        state["kept"] = [state["raw"][state["raw"].index("\n-- \n"):]]
    return state


def draft_text(page: Any, fx: dict) -> str:
    ed = scope(page, fx).locator(fx["editor"])
    if fx["editor"] == "#reply":
        return ed.evaluate("el => el.value.split('\\n-- \\n')[0].trim()")
    return ed.evaluate("""(el) => { const c = el.cloneNode(true);
        c.querySelectorAll('.gmail_signature,.gmail_quote,.signature').forEach(n => n.remove());
        return c.innerText.trim(); }""")


@pytest.mark.parametrize("name", list(FIXTURES))
def test_rewrite_replace_then_undo_restores_exact_draft(ext: Any, pages_url: str, name: str, page: Any) -> None:
    fx = FIXTURES[name]
    page.goto(f"{pages_url}/{fx['page']}")
    ed = scope(page, fx).locator(fx["editor"])
    ed.click()
    button = ui(page, fx).locator("button.btn")
    button.wait_for(state="visible", timeout=10000)
    assert "Sävy" in button.get_attribute("aria-label")
    before = editor_state(page, fx)
    assert draft_text(page, fx).replace("\n", " ") == fx["draft"]
    shot(page, f"{name}-button")

    button.click()
    panel = ui(page, fx).locator("[role=dialog]")
    panel.wait_for(state="visible")
    # the adapter picked up the customer's message, and the agent can see and edit it
    assert fx["customer"] in ui(page, fx).locator("#savy-customer").input_value()
    replace = panel.get_by_role("button", name="Replace")
    replace.wait_for(state="visible")
    page.wait_for_function(
        "([f, s]) => { const r = (f ? document.querySelector(f).contentDocument : document)"
        ".querySelector('savy-ui').shadowRoot; return r.querySelector('.panel').dataset.state === 'done' }",
        arg=[fx["frame"], "done"], timeout=120000)
    result = json.loads(panel.get_attribute("data-result"))
    rewrite = result["rewrite"]
    assert rewrite.strip() != fx["draft"]
    for fact in fx["facts"]:
        assert fact in rewrite
    if result["source"] == "model":  # the model's text reached the panel as it was written
        assert int(panel.get_attribute("data-deltas")) >= 1
    assert panel.locator("ins").count() >= 1  # the diff shows what was added
    assert panel.locator(".chip").count() == len(result["applied_rules"])
    # the constrained rewrite offers other openings; one click swaps the first sentence, and
    # Replace then writes exactly the version shown
    alts = result["alternatives"]
    if not fx.get("opener", True):
        assert result["opener"] is None and alts == [] and panel.locator("button.alt").count() == 0
        alts = []
    else:
        assert alts, "the embedded model's rewrite came without alternative openings"
    buttons = panel.locator("button.alt")
    if alts:
        assert buttons.count() == len(alts) + 1
        assert buttons.nth(0).get_attribute("aria-pressed") == "true"
        buttons.nth(1).click()
        assert buttons.nth(1).get_attribute("aria-pressed") == "true"
        assert buttons.nth(0).get_attribute("aria-pressed") == "false"
        result = json.loads(panel.get_attribute("data-result"))
        assert result["rewrite"] == alts[0]["rewrite"] and result["opener"] == alts[0]["opener"]
        rewrite = result["rewrite"]
        assert alts[0]["opener"].strip()[:12].lower() in panel.locator(".out").inner_text().lower()
    for fact in fx["facts"]:
        assert fact in rewrite
    # nothing changed in the editor before Replace
    assert editor_state(page, fx) == before
    shot(page, f"{name}-panel")

    replace.click()
    page.wait_for_timeout(200)
    after = editor_state(page, fx)
    assert after["kept"] == before["kept"], "quoted thread / signature changed"
    assert re.sub(r"\s+", " ", draft_text(page, fx)) == re.sub(r"\s+", " ", rewrite.strip())

    ed.focus()
    page.keyboard.press("Control+z")
    page.wait_for_timeout(200)
    restored = editor_state(page, fx)
    assert draft_text(page, fx).replace("\n", " ") == fx["draft"]
    assert restored["kept"] == before["kept"]
    assert restored["raw"] == before["raw"], "Ctrl+Z did not give back the exact original"


def test_server_down_gives_clear_error_and_keeps_draft(browser: Any, pages_url: str, page: Any) -> None:
    configure(browser, f"http://127.0.0.1:{free_port()}")
    fx = FIXTURES["zendesk"]
    page.goto(f"{pages_url}/{fx['page']}")
    page.locator(fx["editor"]).click()
    before = editor_state(page, fx)
    page.locator("savy-ui button.btn").click()
    status = page.locator("savy-ui .status.error")
    status.wait_for(state="visible", timeout=15000)
    assert "isn't running" in status.inner_text() and "savy serve" in status.inner_text()
    assert page.locator("savy-ui").get_by_role("button", name="Replace").is_disabled()
    assert editor_state(page, fx) == before
    shot(page, "server-down")


def test_skips_opted_out_fields_and_search_boxes(ext: Any, pages_url: str, page: Any) -> None:
    page.goto(f"{pages_url}/zendesk.html")
    button = page.locator("savy-ui button.btn")
    page.locator("#reply").click()
    button.wait_for(state="visible")
    for sel in ("#notes", "#search"):  # spellcheck="false" and a search box
        page.locator(sel).click()
        button.wait_for(state="hidden")


def test_inline_hints_flag_the_draft_without_the_model(ext: Any, pages_url: str, page: Any) -> None:
    page.goto(f"{pages_url}/iframe.html")
    frame = page.frame_locator("#frame")
    frame.locator("#editor").click()
    page.keyboard.press("End")
    page.keyboard.type(" ")  # hints start once the agent has typed in the editor
    button = frame.locator("savy-ui button.btn")
    # "No problem." belittles the customer's thanks: the analyzer flags it as a hint
    page.wait_for_function(
        "() => /hint/.test(document.querySelector('#frame').contentDocument.querySelector('savy-ui')"
        ".shadowRoot.querySelector('button.btn').getAttribute('aria-label'))", timeout=15000)
    assert "1 hint" in button.get_attribute("aria-label")


def test_options_page_validates_server_and_token_live(ext: Any, live: LiveServer, page: Any) -> None:
    page.goto(f"chrome-extension://{ext.savy_id}/options.html")
    check = page.locator("#check")
    page.locator("#server").fill("http://example.com:8765")
    page.wait_for_function("() => /this computer/.test(document.querySelector('#check').textContent)")
    page.locator("#server").fill(live.url)
    page.locator("#token").fill("wrong-token-000000")
    page.wait_for_function("() => /token doesn't match/.test(document.querySelector('#check').textContent)")
    page.locator("#token").fill(TOKEN)
    page.wait_for_function("() => /Connected/.test(document.querySelector('#check').textContent)")
    assert "rules" in check.inner_text()
    page.get_by_role("button", name="Save").click()
    page.wait_for_function("() => /Saved/.test(document.querySelector('#saved').textContent)")
    stored = ext.savy_sw.evaluate("() => chrome.storage.local.get('settings')")
    assert stored["settings"]["server"] == live.url and stored["settings"]["token"] == TOKEN
    shot(page, "options")


def _menu_click(ctx: Any, selection: str) -> None:
    """What the service worker does for the context-menu entry (a real menu can't be clicked headless)."""
    ctx.savy_sw.evaluate(
        """async (sel) => { const [tab] = await chrome.tabs.query({active: true, lastFocusedWindow: true});
           await chrome.tabs.sendMessage(tab.id, {kind: 'ui/open', selection: sel, frameTargeted: false}); }""",
        selection)


def test_context_menu_uses_the_selection_as_customer_message(ext: Any, pages_url: str, page: Any) -> None:
    page.goto(f"{pages_url}/zendesk.html")
    page.bring_to_front()
    # no editor focused yet: a clear hint instead of a silent nothing
    _menu_click(ext, "")
    toast = page.locator("savy-ui .toast")
    toast.wait_for(state="visible")
    assert "reply box" in toast.inner_text()
    page.locator("#reply").click()
    picked = "I've been waiting three days for someone to sort this out"
    _menu_click(ext, picked)
    page.locator("savy-ui [role=dialog]").wait_for(state="visible")
    assert page.locator("savy-ui #savy-customer").input_value() == picked
    assert "selection" in page.locator("savy-ui #savy-src").inner_text()
    page.keyboard.press("Escape")  # cancels the stream and closes the panel, draft untouched
    page.locator("savy-ui [role=dialog]").wait_for(state="hidden")
    assert page.locator("#reply").input_value().startswith("Refund of £49.00")


class _FakeStreamHandler(http.server.BaseHTTPRequestHandler):
    """/v1/rewrite/stream with a fixed result, for what the panel does with it (the real server
    and model are tested above): these tests need a result with warnings, on demand."""

    warnings = (
        "Model attempt 1 rejected by the guard: missing fact 20417.",
        "Model attempt 2 rejected by the guard: missing fact 20417.",
        "Using the rules-only rewrite.",
        "Blames the customer: the rules could not fix it automatically.",
    )

    analyzed: list[str] = []  # drafts sent to /v1/analyze
    streamed: list[dict] = []  # bodies sent to /v1/rewrite/stream

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/v1/analyze":
            type(self).analyzed.append(body["draft"])
            out = json.dumps({"language": "en", "address": "unknown", "customer_emotion": "neutral",
                              "signals": [], "findings": [], "facts": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        if self.path != "/v1/rewrite/stream":
            self.send_error(404)
            return
        type(self).streamed.append(body)
        result = {"rewrite": "Thanks for your patience! " + body["draft"], "language": "en",
                  "customer_emotion": "neutral", "applied_rules": [], "warnings": list(self.warnings),
                  "source": "rules", "model": "fake", "timings": {"total_ms": 1200.0}}
        events = [("delta", {"text": "Thanks", "attempt": 1, "tokens": 1}),
                  ("delta", {"text": " for", "attempt": 1, "tokens": 2}), ("done", result)]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def fake_server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _FakeStreamHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _panel_done(page: Any) -> None:
    page.wait_for_function(
        "() => document.querySelector('savy-ui').shadowRoot.querySelector('.panel').dataset.state === 'done'",
        timeout=30000)


def test_server_warnings_are_summarised_and_kept_as_details(browser: Any, fake_server: str, pages_url: str,
                                                            page: Any) -> None:
    configure(browser, fake_server, hints=False)
    page.goto(f"{pages_url}/zendesk.html")
    page.locator("#reply").click()
    button = page.locator("savy-ui button.btn")
    button.wait_for(state="visible")
    assert "Alt+Shift+S" in button.get_attribute("title")
    button.click()
    _panel_done(page)
    lines = page.locator("savy-ui .warn").all_inner_texts()
    # one localised line per kind: the rejected attempts are implied by the rules-only rewrite
    assert len(lines) == 2, lines
    assert "rules-only rewrite" in lines[0] and "could not fix everything automatically (1)" in lines[1]
    details = page.locator("savy-ui details.details")
    assert "Details" in details.locator("summary").inner_text()
    assert details.locator("li").all_text_contents() == list(_FakeStreamHandler.warnings)
    # the live status says the phase, never a token count
    status = page.locator("savy-ui .status")
    assert status.get_attribute("aria-live") == "polite" and "token" not in status.inner_text()
    assert "notes below" in status.inner_text()
    page.keyboard.press("Escape")
    page.locator("savy-ui [role=dialog]").wait_for(state="hidden")
    assert page.evaluate("document.activeElement.id") == "reply"  # focus back in the editor


def test_page_selection_counts_only_while_still_on_the_page(browser: Any, fake_server: str, pages_url: str,
                                                            page: Any) -> None:
    configure(browser, fake_server, hints=False)
    page.goto(f"{pages_url}/plain.html")
    customer = page.locator("savy-ui #savy-customer")
    # an older selection whose text has since gone from the page is not the customer's message
    page.locator("#old").click(click_count=3)
    page.locator("#reply").click()
    page.evaluate("document.getElementById('old').remove()")
    page.locator("savy-ui button.btn").click()
    _panel_done(page)
    assert customer.input_value() == ""
    assert "none found" in page.locator("savy-ui #savy-src").inner_text()
    page.keyboard.press("Escape")
    # a fresh selection still on the page is, shown as such, and the agent can clear it
    page.locator("#msg").click(click_count=3)
    page.locator("#reply").click()
    page.locator("savy-ui button.btn").click()
    _panel_done(page)
    assert customer.input_value().startswith("Where is my parcel?")
    assert "selection" in page.locator("savy-ui #savy-src").inner_text()
    page.locator("savy-ui").get_by_role("button", name="Clear the customer's message").click()
    assert customer.input_value() == ""
    page.keyboard.press("Escape")


def test_after_an_extension_reload_the_old_page_says_reload(browser: Any, tmp_path: Path,
                                                            pages_url: str) -> None:
    with launch(browser.savy_pw, tmp_path / "profile") as ctx:  # its own browser: this one reloads Sävy
        configure(ctx, f"http://127.0.0.1:{free_port()}", hints=False)
        page = ctx.new_page()
        page.goto(f"{pages_url}/plain.html")
        page.locator("#reply").click()
        page.locator("savy-ui button.btn").wait_for(state="visible")
        page.locator("h1, p").first.click()  # leave the editor
        with contextlib.suppress(Exception):  # the worker goes away while answering
            ctx.savy_sw.evaluate("() => chrome.runtime.reload()")
        page.wait_for_timeout(1000)
        page.locator("#reply").click()
        toast = page.locator("savy-ui .toast")
        toast.wait_for(state="visible", timeout=10000)
        assert "reload this page" in toast.inner_text()
        assert page.locator("savy-ui button.btn").count() == 0


def test_a_page_cannot_make_the_extension_send_its_text(browser: Any, fake_server: str, pages_url: str,
                                                        page: Any) -> None:
    """A page script that creates a reply box, fills it and focuses it (and fires input events)
    gets no hint request: hints start only after the agent really typed in that editor."""
    configure(browser, fake_server, hints=True)
    _FakeStreamHandler.analyzed.clear()
    page.goto(f"{pages_url}/plain.html")
    page.evaluate("""() => {
        const t = document.createElement('textarea');
        t.id = 'hostile';
        t.value = 'SECRET page-chosen text that must never reach the server';
        document.body.append(t);
        t.focus();
        for (let i = 0; i < 3; i++) t.dispatchEvent(new Event('input', { bubbles: true }));
    }""")
    page.wait_for_timeout(2500)  # hints would have gone out after ~700 ms
    assert _FakeStreamHandler.analyzed == []
    # the same box, typed in by the agent (trusted keys), does get hints: the check can fail
    page.locator("#hostile").click()
    page.keyboard.type(" ok")
    page.wait_for_timeout(2500)
    assert any("SECRET" in d for d in _FakeStreamHandler.analyzed)


def test_a_page_cannot_close_the_panel_or_clear_the_customer_message(browser: Any, fake_server: str,
                                                                   pages_url: str, page: Any) -> None:
    """Synthetic clicks and keys from the page (the panel's shadow root is reachable) do nothing;
    the agent's own Escape still closes it."""
    configure(browser, fake_server, hints=False)
    page.goto(f"{pages_url}/zendesk.html")
    page.locator("#reply").click()
    page.locator("savy-ui button.btn").click()
    _panel_done(page)
    page.evaluate("""() => {
        const r = document.querySelector('savy-ui').shadowRoot;
        for (const b of r.querySelectorAll('.row button, button.x')) b.click();
        r.querySelector('.panel').dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
    }""")
    page.wait_for_timeout(300)
    panel = page.locator("savy-ui [role=dialog]")
    assert panel.is_visible()
    assert page.locator("savy-ui #savy-customer").input_value() != ""
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")


def test_a_hostile_page_sees_nothing_and_cannot_pick_the_customer_message(browser: Any, fake_server: str,
                                                                         pages_url: str, page: Any) -> None:
    """As a page script sees Sävy without the test hooks: a closed shadow root, no state on the
    host, and a selection the page makes itself is not taken as the customer's message; the same
    text selected by the agent is (so the check can fail)."""
    configure(browser, fake_server, hints=False, hooks=False)
    page.goto(f"{pages_url}/plain.html")
    page.bring_to_front()
    page.evaluate("""() => { const r = document.createRange(); r.selectNodeContents(document.getElementById('msg'));
        getSelection().removeAllRanges(); getSelection().addRange(r); }""")
    page.locator("#reply").click()
    _FakeStreamHandler.streamed.clear()
    _menu_click(browser, "")  # the agent opens the panel (the menu entry; the page cannot)
    page.wait_for_function("() => document.querySelector('savy-ui')")
    for _ in range(100):
        if _FakeStreamHandler.streamed:
            break
        page.wait_for_timeout(100)
    assert _FakeStreamHandler.streamed and _FakeStreamHandler.streamed[0]["customer_message"] is None
    seen = page.evaluate("""() => { const h = document.querySelector('savy-ui');
        return { root: h.shadowRoot === null, attrs: [...h.attributes].map(a => a.name), html: h.innerHTML,
                 text: document.body.innerText.includes('Thanks for your patience') }; }""")
    assert seen == {"root": True, "attrs": [], "html": "", "text": False}, seen
    page.keyboard.press("Escape")
    # the agent's own selection of the same text is the customer's message
    page.reload()
    page.locator("#msg").click(click_count=3)
    page.locator("#reply").click()
    _FakeStreamHandler.streamed.clear()
    _menu_click(browser, "")
    for _ in range(100):
        if _FakeStreamHandler.streamed:
            break
        page.wait_for_timeout(100)
    assert (_FakeStreamHandler.streamed[0]["customer_message"] or "").startswith("Where is my parcel?")


def test_no_content_script_on_a_loopback_page_the_agent_did_not_add(browser: Any, fake_server: str,
                                                                   pages_url: str, page: Any) -> None:
    """A local dev server (or Sävy's own /docs) is not a reply box: content scripts run on loopback
    pages only for the sites added in the options (here none); every other test adds 127.0.0.1."""
    configure(browser, fake_server, sites=())
    page.goto(f"{pages_url}/plain.html")
    page.locator("#reply").click()
    page.keyboard.type(" ok")
    page.wait_for_timeout(1500)
    assert page.locator("savy-ui").count() == 0
    configure(browser, fake_server)
    page.reload()
    page.locator("#reply").click()
    page.locator("savy-ui button.btn").wait_for(state="visible", timeout=10000)
