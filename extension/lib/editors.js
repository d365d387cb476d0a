// Editor integrations: which rich-text editor an editable element belongs to, and the paths its own
// model and undo stack accept. No single path works everywhere: execCommand("insertText") reaches
// ProseMirror/Tiptap, Quill, TinyMCE, roosterjs, textareas and plain contenteditables, while CKEditor 5
// redraws its unchanged model over it and Lexical drops its line breaks; those, and Froala (whose
// undo misses an execCommand edit), take a paste event with the text as paragraphs. Undo the same
// way: the editor's own keystroke where it keeps its own history, the browser's undo where the
// browser's history is the editor's. Measured in Debian's Chromium on each editor's npm package
// (tests/test_editors.py); `verified` marks the editors those tests cover.
(function (root) {
  "use strict";

  // insert: "exec" (execCommand insertText) | "paste" (a paste event with text/plain and text/html)
  // undo: "exec" (execCommand undo) | "key" (a Ctrl+Z keydown to the editor, which handles its own)
  const EDITORS = [
    { id: "ckeditor5", name: "CKEditor 5", match: ".ck-editor__editable", insert: "paste", undo: "key", verified: true },
    { id: "lexical", name: "Lexical", match: "[data-lexical-editor]", insert: "paste", undo: "key", verified: true },
    { id: "froala", name: "Froala", match: ".fr-element", insert: "paste", undo: "key", verified: true },
    { id: "tinymce", name: "TinyMCE", match: "body#tinymce, .mce-content-body", insert: "exec", undo: "exec", verified: true },
    { id: "prosemirror", name: "ProseMirror", match: ".ProseMirror", insert: "exec", undo: "key", verified: true },
    { id: "quill", name: "Quill", match: ".ql-editor", insert: "exec", undo: "exec", verified: true },
    // Outlook on the web: roosterjs marks its root only with an inline user-select style
    { id: "roosterjs", name: "roosterjs", match: "div[aria-label='Message body'], [id^='editorParent'], div[style*='user-select: text']",
      insert: "exec", undo: "exec", verified: true },
    // recognised, not covered by a test here: Sävy's own Undo is offered, Ctrl+Z is not promised
    { id: "slate", name: "Slate", match: "[data-slate-editor]", insert: "paste", undo: "key", verified: false },
    { id: "draftjs", name: "Draft.js", match: ".public-DraftEditor-content", insert: "paste", undo: "key", verified: false },
  ];
  const TEXTAREA = Object.freeze({ id: "textarea", name: "", insert: "exec", undo: "exec", verified: true, rich: false });
  const PLAIN = Object.freeze({ id: "plain", name: "", insert: "exec", undo: "exec", verified: true, rich: false });

  /** The integration for an editable root element (a textarea or a contenteditable's root). */
  function recognise(el) {
    if (!el || el.nodeType !== 1) return PLAIN;
    if (el.tagName === "TEXTAREA") return TEXTAREA;
    for (const e of EDITORS) {
      if (el.matches(e.match)) return { ...e, rich: true };
    }
    return PLAIN;
  }

  const escapeHtml = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

  /** Each line of `text` as a paragraph: how the agent's Enter made them in a rich editor. */
  function paragraphsHtml(text) {
    return text.split("\n").map((line) => `<p>${line ? escapeHtml(line) : "<br>"}</p>`).join("");
  }

  /** Put `text` over the current selection of `el` by the integration's path. Returns whether the
   *  editor said it took it (the caller verifies what the editor's model then holds). */
  function insert(el, integration, text) {
    const doc = el.ownerDocument;
    if (integration.insert === "paste") {
      const view = doc.defaultView;
      const dt = new view.DataTransfer();
      dt.setData("text/plain", text);
      dt.setData("text/html", paragraphsHtml(text));
      const ev = new view.ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true });
      el.dispatchEvent(ev);
      return ev.defaultPrevented; // the editor handled the paste itself
    }
    try {
      return doc.execCommand("insertText", false, text);
    } catch (_) {
      return false;
    }
  }

  /** One undo step in the editor's own history. */
  function undo(el, integration) {
    const doc = el.ownerDocument;
    if (integration.undo === "key") {
      const view = doc.defaultView;
      const mac = /Mac|iPhone|iPad/.test(view.navigator.platform || "");
      const init = { key: "z", code: "KeyZ", keyCode: 90, which: 90, bubbles: true, cancelable: true, ctrlKey: !mac, metaKey: mac };
      el.dispatchEvent(new view.KeyboardEvent("keydown", init));
      el.dispatchEvent(new view.KeyboardEvent("keyup", init));
      return;
    }
    try {
      doc.execCommand("undo");
    } catch (_) { /* nothing to undo */ }
  }

  const api = { EDITORS, recognise, insert, undo, paragraphsHtml };
  root.SavyEditors = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
