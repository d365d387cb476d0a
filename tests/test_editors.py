"""Replace and undo in the editors real webmails and helpdesks run on: fixture pages built from the
editors' own npm packages (tests/web, installed and bundled by `make test` — no CDN), the
unpacked extension in Debian's Chromium, the real server with the embedded model.

For each editor: the agent types a three-paragraph draft, Sävy's button shows, Replace puts the
rewrite into the editor's own model (read through the editor's API, not the DOM) as three
paragraphs, the undo the toast promises (Ctrl+Z, or Sävy's own Undo) gives back the draft in the
editor's saved format byte for byte, typing still works afterwards, and the page logs no error.
"""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import WEB, free_port
from .test_extension import _QuietHandler, browser, configure, ext, page  # noqa: F401  (fixtures)

DRAFT = ["Hi Tom,", "Your order 77120 shipped today, tracking number JJFI6620014471.", "Best, Sara"]
CUSTOMER = "Hi, where is my order 77120? It was supposed to arrive yesterday."

# editor -> (page, frame holding the editable element or None, the editable element)
PAGES = {
    "prosemirror": (None, ".ProseMirror"),
    "tiptap": (None, ".tiptap"),
    "quill": (None, ".ql-editor"),
    "froala": (None, ".fr-element"),
    "textarea": (None, "#editor"),
    "contenteditable": (None, "#editor"),
    "roosterjs": (None, "#editor"),
    "tinymce": ("iframe", "body"),
    "ckeditor5": (None, ".ck-editor__editable"),
    "lexical": (None, "#editor"),
}


@pytest.fixture(scope="module")
def editor_pages(web_modules: Path) -> Iterator[str]:
    """The fixture pages, built (tests/web/build.mjs) and served from tests/web."""
    subprocess.run(["node", "build.mjs"], cwd=WEB, check=True, timeout=300)
    handler = functools.partial(_QuietHandler, directory=str(WEB))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/dist"
    httpd.shutdown()


def _open(page: Any, url: str, name: str) -> tuple[Any, Any, list[str]]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/{name}.html")
    page.wait_for_function("() => window.savyTest", timeout=30000)
    frame_sel, editable = PAGES[name]
    scope = page.frame_locator(frame_sel) if frame_sel else page
    return scope, scope.locator(editable).first, errors


def _type_draft(page: Any, editable: Any) -> None:
    """The agent selects the customer's message on the page (the editor may sit in an iframe), then
    types the draft: the editor's undo history is what it is in real use."""
    page.locator(".customer-msg").click(click_count=3)
    editable.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    for i, line in enumerate(DRAFT):
        if i:
            page.keyboard.press("Enter")
        page.keyboard.type(line)
    page.wait_for_timeout(300)  # editors that batch their history (Lexical, roosterjs) close the step


def _rewrite(page: Any, scope: Any) -> dict:
    ui = scope.locator("savy-ui")
    button = ui.locator("button.btn")
    button.wait_for(state="visible", timeout=10000)
    button.click()
    panel = ui.locator("[role=dialog]")
    panel.wait_for(state="visible")
    ui.locator(".panel[data-state=done]").wait_for(state="attached", timeout=120000)
    assert ui.locator("#savy-customer").input_value() == CUSTOMER  # the selection, across frames too
    return json.loads(panel.get_attribute("data-result"))


@pytest.mark.parametrize("how", ["promised", "undo-button"])
@pytest.mark.parametrize("name", list(PAGES))
def test_replace_lands_in_the_editor_model_and_undo_restores_it(ext: Any, editor_pages: str, page: Any,  # noqa: F811
                                                               name: str, how: str) -> None:
    scope, editable, errors = _open(page, editor_pages, name)
    _type_draft(page, editable)
    assert page.evaluate("() => savyTest.text()") == "\n".join(DRAFT)
    saved = page.evaluate("() => savyTest.data()")

    result = _rewrite(page, scope)
    rewrite = result["rewrite"]
    assert rewrite.split("\n")[0] == DRAFT[0] and rewrite.split("\n")[-1] == DRAFT[-1]
    assert "77120" in rewrite and rewrite != "\n".join(DRAFT)
    scope.locator("savy-ui").get_by_role("button", name="Replace").click()
    toast = scope.locator("savy-ui .toast")
    toast.wait_for(state="visible", timeout=10000)
    assert toast.get_attribute("data-outcome") == "replaced", toast.inner_text()
    page.wait_for_timeout(500)  # and after the editor's own re-render
    # in the editor's own model, line for paragraph (the rewrite adds a closing paragraph)
    assert page.evaluate("() => savyTest.text()") == rewrite
    assert page.evaluate("() => savyTest.paragraphs()") == len(rewrite.split("\n")) >= 3

    if how == "promised":  # the undo the toast names: Ctrl+Z where verified for this editor
        assert "Ctrl+Z" in toast.inner_text()
        editable.focus()
        page.keyboard.press("Control+z")
    else:  # Sävy's own Undo, offered everywhere
        toast.get_by_role("button", name="Undo").click()
        scope.locator("savy-ui .toast[data-outcome=undone]").wait_for(state="attached", timeout=10000)
    page.wait_for_timeout(500)
    assert page.evaluate("() => savyTest.data()") == saved, "the undo did not give back the exact draft"

    # the editor still takes the agent's typing
    editable.focus()
    page.keyboard.press("Control+End")
    page.keyboard.type("!")
    page.wait_for_timeout(200)
    assert page.evaluate("() => savyTest.text()").endswith("Best, Sara!")
    assert not errors, errors


def test_an_editor_that_reverts_the_rewrite_gets_the_honest_message(ext: Any, editor_pages: str,  # noqa: F811
                                                                    page: Any) -> None:
    """A page whose editor puts its own model back after any outside edit (as CKEditor 5 did with
    execCommand): Sävy never says "Replaced" over the unchanged draft, and the draft is intact."""
    scope, editable, errors = _open(page, editor_pages, "contenteditable")
    _type_draft(page, editable)
    page.evaluate("""() => { const el = document.querySelector('#editor'); const keep = el.innerHTML;
        el.addEventListener('input', () => setTimeout(() => { el.innerHTML = keep; }, 30)); }""")
    saved = page.evaluate("() => savyTest.data()")
    _rewrite(page, scope)
    scope.locator("savy-ui").get_by_role("button", name="Replace").click()
    status = scope.locator("savy-ui .status.error")
    status.wait_for(state="visible", timeout=10000)
    assert "Copy" in status.inner_text()
    assert scope.locator("savy-ui .toast").get_attribute("data-outcome") != "replaced"
    page.wait_for_timeout(300)
    assert page.evaluate("() => savyTest.data()") == saved
