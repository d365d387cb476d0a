// Sävy's content script: finds the reply editor, shows the button and the panel, and edits text the
// native way so Ctrl+Z restores the draft. It never touches the network: every server call is a
// kind-keyed message to the service worker.
(function () {
  "use strict";
  // injected twice (static + on demand): keep the first, unless an extension update orphaned it
  const prev = window.__savyContent;
  if (prev && !(prev.alive && !prev.alive())) return;
  if (prev) prev.retire();
  window.__savyContent = { alive: () => !dead && !S.contextInvalidated(RUNTIME), retire: () => retire() };

  const S = globalThis.SavyShared;
  const A = globalThis.SavyAdapters;
  const E = globalThis.SavyEditors;
  const K = S.KINDS;
  const RUNTIME = chrome.runtime; // this copy's own: after an update, its id is gone
  const t = (key, subs) => {
    try {
      return chrome.i18n.getMessage(key, subs) || key;
    } catch (_) {
      return key; // an orphaned copy
    }
  };
  const UPDATED = t("err_updated"); // read now: an orphaned copy may not reach its messages
  const LANG = chrome.i18n.getUILanguage().startsWith("fi") ? "fi" : "en";
  const HOST = location.hostname;
  const DEFAULT_SHORTCUT = "Alt+Shift+S"; // manifest.json's suggested key for the "rewrite" command
  // the shadow root is open (end-to-end tests read it), so a page script could click our buttons:
  // only the agent's own clicks and keys count
  const trusted = (f) => (e) => { if (e.isTrusted) f(e); };

  let settings = { hints: true, disabledHosts: [], testHooks: false };
  // Sävy's own browser tests switch this on through the service worker (a page cannot): an open
  // shadow root and the panel's state as data attributes. Otherwise the page sees none of it.
  const hooks = () => settings.testHooks === true;
  let editor = null; // the reply editor the UI is attached to
  let lastOutsideSelection = null; // {text, at, range}: a page selection outside any editor, a candidate customer message
  let hintTimer = 0;
  let hintSeq = 0;
  let findings = [];
  let ui = null;
  let dead = false; // orphaned by an extension update or reload, or replaced by a newer copy

  // ---------- editors ----------

  function editableRoot(node) {
    let el = node && node.nodeType === 1 ? node : node && node.parentElement;
    if (!el || (ui && ui.host.contains(el))) return null;
    if (el.tagName === "TEXTAREA") return el;
    if (!el.isContentEditable) return null;
    while (el.parentElement && el.parentElement.isContentEditable) el = el.parentElement;
    return el;
  }

  function optedOut(el) {
    if (el.disabled || el.readOnly) return true;
    if (el.closest("[data-enable-grammarly='false'], [data-savy='off']")) return true;
    // a recognised rich editor is a reply box whatever its spellcheck or its one-line height
    // (TinyMCE's body has spellcheck="false" and starts 22 px high)
    if (E.recognise(el).rich) return false;
    if (el.getAttribute("spellcheck") === "false") return true;
    const role = (el.getAttribute("role") || "").toLowerCase();
    if (role === "searchbox" || role === "combobox") return true;
    if (el.closest("form[role='search'], [role='search']")) return true;
    const r = el.getBoundingClientRect();
    return r.width < 120 || r.height < 24;
  }

  /** The agent's draft in an editor: its text, and where it sits (for the replacement). */
  function readDraft(el) {
    if (el.tagName === "TEXTAREA") {
      const b = S.draftBounds(el.value);
      return { text: el.value.slice(b.start, b.end), start: b.start, end: b.end };
    }
    const adapter = A.pick(document, HOST);
    const kept = A.keptNodes(adapter, el);
    let boundary = null;
    for (const n of kept) {
      if (!boundary || (n.compareDocumentPosition(boundary) & Node.DOCUMENT_POSITION_FOLLOWING)) boundary = n;
    }
    let first = null;
    let last = null;
    const out = A.walkText(el, { stopAt: boundary, onText: (node) => {
      const raw = node.data;
      const m = raw.match(/[^\s\u00a0]/);
      if (!m) return;
      if (!first) first = [node, m.index];
      let j = raw.length;
      while (j > 0 && /[\s\u00a0]/.test(raw[j - 1])) j--;
      last = [node, j];
    } });
    const text = out.replace(/ *\n */g, "\n").replace(/ {2,}/g, " ").trim();
    let range = null;
    if (first && last) {
      range = document.createRange();
      range.setStart(first[0], first[1]);
      range.setEnd(last[0], last[1]);
    }
    return { text, range };
  }

  const norm = (s) => String(s).replace(/[\s\u00a0]+/g, " ").trim();
  // the same text paragraph for paragraph (an editor's empty paragraphs and spacing aside)
  const sameLines = (a, b) => {
    const lines = (x) => String(x).split("\n").map(norm).filter(Boolean).join("\n");
    return lines(a) === lines(b);
  };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // an editor applies a paste or an input in the next frames, and may redraw its model after that
  const nextFrames = () => Promise.race([sleep(120), new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))]);
  const settle = async () => { await nextFrames(); await sleep(60); };

  /** Select the draft's text in `el` (what the rewrite replaces), focused. False when it is empty. */
  function selectDraft(el) {
    const cur = readDraft(el);
    el.focus();
    if (el.tagName === "TEXTAREA") {
      el.setSelectionRange(cur.start, cur.end);
      return true;
    }
    if (!cur.range) return false;
    const sel = el.ownerDocument.getSelection();
    sel.removeAllRanges();
    sel.addRange(cur.range);
    return true;
  }

  /** Whether the editor holds `text` now and still after its own redraw. */
  async function holds(el, text) {
    await settle();
    if (!sameLines(readDraft(el).text, text)) return false;
    await sleep(250);
    return sameLines(readDraft(el).text, text);
  }

  /** Replace the draft through the path the editor's own model and undo stack accept (one undo
   *  step), then check, after the editor settles, that its model holds exactly the rewrite; if not,
   *  put the draft back. Returns an error code, or null when the rewrite is in. */
  async function replaceDraft(el, sentDraft, newText) {
    if (readDraft(el).text !== sentDraft) return "draft_changed";
    const ed = E.recognise(el);
    if (!selectDraft(el)) return "empty_draft";
    await nextFrames(); // editors that sync their model's selection from the page's (CKEditor 5, Lexical)
    const before = el.tagName === "TEXTAREA" ? el.value : null;
    const took = E.insert(el, ed, newText);
    if (!took && el.tagName === "TEXTAREA" && el.value === before) {
      // no execCommand (some browsers/pages): the standard API, and tell the page's framework
      const cur = readDraft(el);
      el.setRangeText(newText, cur.start, cur.end, "end");
      el.dispatchEvent(new InputEvent("input", { bubbles: true, inputType: "insertReplacementText", data: newText }));
    }
    if (await holds(el, newText)) return null;
    // the editor refused or reverted it, or took it only in part: its own undo puts the draft back
    if (!sameLines(readDraft(el).text, sentDraft)) {
      E.undo(el, ed);
      await settle();
    }
    return sameLines(readDraft(el).text, sentDraft) ? "replace_failed" : "replace_partial";
  }

  /** Sävy's Undo after a Replace: the editor's own undo, checked; if the editor's history does not
   *  give the draft back, the draft's text is put back by the same path as the rewrite. */
  async function undoReplace(r) {
    const el = r.editor;
    if (!el.isConnected || !sameLines(readDraft(el).text, r.rewrite)) return "undo_changed";
    el.focus();
    E.undo(el, r.integration);
    await settle();
    if (readDraft(el).text === r.draft) return null;
    if (!sameLines(readDraft(el).text, r.rewrite) || !selectDraft(el)) return "undo_failed";
    E.insert(el, r.integration, r.draft);
    return (await holds(el, r.draft)) ? null : "undo_failed";
  }

  // ---------- the customer's message ----------

  function customerMessage(el) {
    const adapter = A.pick(document, HOST);
    const fromSite = A.customerMessage(adapter, document, el);
    if (fromSite) return { text: fromSite, source: t("sourceSite", [adapter.name]) };
    // an editor in a same-origin iframe: the thread is usually in the parent page
    try {
      if (window.top !== window && window.top.document) {
        const topAdapter = A.pick(window.top.document, window.top.location.hostname);
        const text = A.customerMessage(topAdapter, window.top.document, null);
        if (text) return { text, source: t("sourceSite", [topAdapter.name]) };
      }
    } catch (_) { /* cross-origin parent */ }
    const selected = outsideSelection();
    if (selected) return { text: selected, source: t("sourceSelection") };
    return { text: "", source: t("sourceNone") };
  }

  /** The page's selection outside any editor, as clean text ("" when there is none). */
  function currentOutsideSelection() {
    const s = document.getSelection();
    if (!s || s.isCollapsed || !s.anchorNode) return "";
    if (editableRoot(s.anchorNode) || (ui && ui.host.contains(s.anchorNode))) return "";
    return S.cleanPageText(s.toString());
  }

  /** The remembered selection, if it is still current, or recent and still on the page. */
  function outsideSelection() {
    const sel = lastOutsideSelection;
    if (!sel) return "";
    // a range's text has no line breaks between blocks, a selection's has: compare without whitespace
    const squash = (x) => x.replace(/[\s\u00a0]+/g, "");
    const present = !sel.range.collapsed && squash(sel.range.toString()).includes(squash(sel.text));
    if (S.selectionStillValid(sel, { now: Date.now(), current: currentOutsideSelection(), present })) return sel.text;
    lastOutsideSelection = null;
    return "";
  }

  // Only the agent's own selection counts: one that a trusted mouse or key gesture ends on. A page
  // script can select text, but it cannot click or type as the agent.
  const rememberSelection = (e) => {
    if (!e.isTrusted) return;
    const text = currentOutsideSelection();
    if (text.length < 2) return;
    const range = document.getSelection().getRangeAt(0);
    if (e.type === "mouseup" && e.target && e.target.nodeType === 1 && !range.intersectsNode(e.target)) return;
    // the range is live: it follows the page's edits and collapses when its text is removed
    lastOutsideSelection = { text, at: Date.now(), range: range.cloneRange() };
  };
  document.addEventListener("mouseup", rememberSelection, true);
  document.addEventListener("keyup", rememberSelection, true);

  // ---------- UI (shadow DOM, so page styles neither leak in nor out) ----------

  const CSS = `
  :host { all: initial; }
  * { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  .btn { position: fixed; z-index: 2147483646; display: none; align-items: center; gap: 4px; height: 28px;
    padding: 0 8px; border-radius: 14px; border: 1px solid #b9c4d6; background: #fff; color: #1d3b6a;
    font-size: 13px; font-weight: 600; cursor: pointer; box-shadow: 0 1px 4px rgba(0,0,0,.15); }
  .btn:focus-visible, button:focus-visible, textarea:focus-visible { outline: 2px solid #2a62c9; outline-offset: 2px; }
  .badge { min-width: 18px; height: 18px; border-radius: 9px; background: #c4572a; color: #fff; font-size: 11px;
    display: inline-flex; align-items: center; justify-content: center; padding: 0 4px; }
  .panel { position: fixed; z-index: 2147483647; width: min(440px, calc(100vw - 16px)); max-height: min(calc(100vh - 16px), 640px);
    overflow: auto; background: #fff; color: #1b1f24; border: 1px solid #b9c4d6; border-radius: 10px;
    box-shadow: 0 6px 24px rgba(0,0,0,.2); padding: 12px; font-size: 13px; line-height: 1.45; display: none; }
  .head { display: flex; justify-content: space-between; align-items: baseline; gap: 6px; }
  h2 { font-size: 14px; margin: 0 0 8px; display: flex; justify-content: space-between; align-items: center; }
  label { font-weight: 600; display: block; margin: 6px 0 2px; }
  .src { color: #5a6270; font-weight: 400; }
  textarea { width: 100%; min-height: 52px; max-height: 140px; resize: vertical; font-size: 12px; border: 1px solid #c9d1dd;
    border-radius: 6px; padding: 4px 6px; }
  .progress { display: flex; gap: 8px; align-items: baseline; margin: 8px 0; }
  .status { flex: 1; color: #33415c; min-height: 1.2em; }
  .meter { color: #5a6270; font-size: 12px; }
  .status.error { color: #a52a1a; font-weight: 600; }
  .out { white-space: pre-wrap; border: 1px solid #e1e6ee; border-radius: 6px; padding: 8px; min-height: 40px; background: #fafbfd; }
  ins { background: #dcf5e3; text-decoration: none; } del { background: #fbe1dd; color: #7a2a1a; }
  .alts { display: flex; flex-wrap: wrap; gap: 4px; margin: 8px 0 0; align-items: center; }
  .alts-label { font-size: 12px; color: #4a5568; margin-right: 4px; }
  .alt { border: 1px solid #c9d1dd; border-radius: 6px; padding: 2px 8px; font-size: 12px; background: #fff; cursor: pointer; max-width: 100%; text-align: left; }
  .alt[aria-pressed="true"] { background: #e6eefb; border-color: #3b6fd4; }
  .chips { display: flex; flex-wrap: wrap; gap: 4px; margin: 8px 0; padding: 0; list-style: none; }
  .chip { border: 1px solid #c9d1dd; border-radius: 12px; padding: 2px 8px; font-size: 12px; background: #f1f4f9; cursor: help; }
  .why { font-size: 12px; color: #33415c; margin: 4px 0; }
  .warn { color: #7a5200; font-size: 12px; margin: 2px 0; }
  .details { color: #5a6270; font-size: 12px; margin: 2px 0; } .details ul { margin: 2px 0; padding-left: 18px; }
  .hints { margin: 6px 0; padding-left: 18px; } .hints li { margin: 2px 0; }
  .row { display: flex; gap: 6px; margin-top: 10px; flex-wrap: wrap; }
  .row button, .x { border: 1px solid #b9c4d6; background: #fff; border-radius: 6px; padding: 4px 10px; cursor: pointer; font-size: 13px; }
  .row button.primary { background: #1d3b6a; color: #fff; border-color: #1d3b6a; }
  .row button[disabled] { opacity: .45; cursor: default; }
  .x { padding: 0 6px; }
  .toast { position: fixed; z-index: 2147483647; right: 16px; top: 16px; max-width: 360px; background: #1b1f24; color: #fff;
    padding: 8px 12px; border-radius: 8px; font-size: 13px; display: none; }
  .toast .toast-action { background: transparent; color: #9ecbff; border: 1px solid #9ecbff; border-radius: 4px;
    padding: 1px 8px; margin-left: 6px; font: inherit; cursor: pointer; }
  `;

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (v !== false && v != null) el.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids) if (k != null) el.append(k);
    return el;
  }

  function buildUi() {
    const host = document.createElement("savy-ui");
    const shadow = host.attachShadow({ mode: hooks() ? "open" : "closed" });
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
    } catch (_) { /* checked below */ }
    // keys typed in the panel must not reach the page's single-key shortcuts (Gmail's "#" deletes)
    for (const type of ["keydown", "keypress", "keyup"]) shadow.addEventListener(type, (e) => e.stopPropagation());
    const badge = h("span", { class: "badge", "aria-hidden": "true" });
    badge.style.display = "none";
    // the page's tab order reaches the button only at its end: the shortcut is the keyboard way in
    const button = h("button", { class: "btn", type: "button", lang: LANG, "aria-label": t("buttonLabel"),
      title: t("buttonTitle", [DEFAULT_SHORTCUT]), "aria-keyshortcuts": DEFAULT_SHORTCUT,
      onmousedown: (e) => e.preventDefault(), // keep the editor's focus and selection
      onclick: trusted(() => openPanel({ start: true })) }, "Sävy", badge);
    if (!dead) nameShortcut(button);
    // announced: only the phase changes setStatus writes; the token count and streamed text are not
    const status = h("div", { class: "status", role: "status", "aria-live": "polite" });
    const meter = h("span", { class: "meter", "aria-hidden": "true" });
    const clear = h("button", { class: "x", type: "button", "aria-label": t("clearCustomerLabel"), onclick: trusted(() => clearCustomer()) },
      t("clearCustomer"));
    const customer = h("textarea", { id: "savy-customer", "aria-describedby": "savy-src",
      oninput: () => { clear.hidden = !customer.value; } });
    const src = h("span", { class: "src", id: "savy-src" });
    const out = h("div", { class: "out", role: "region", "aria-label": t("rewriteLabel"), tabindex: "0" });
    const chips = h("ul", { class: "chips", "aria-label": t("rulesLabel") });
    // other openings the server offers: one click swaps the first sentence before Replace
    const alts = h("div", { class: "alts", role: "group", "aria-label": t("openersLabel") });
    const why = h("div", { class: "why", "aria-live": "polite" });
    const warnings = h("div", {});
    const hintsTitle = h("label", {}, t("hintsTitle"));
    const hints = h("ul", { class: "hints" });
    const replace = h("button", { class: "primary", type: "button", onclick: trusted(onReplace), disabled: true }, t("replace"));
    const copy = h("button", { type: "button", onclick: trusted(onCopy), disabled: true }, t("copy"));
    const retry = h("button", { type: "button", onclick: trusted(() => startRewrite()) }, t("retry"));
    // page scripts can reach into the panel: only the agent's own clicks and keys act on it
    const cancel = h("button", { type: "button", onclick: trusted(() => closePanel()) }, t("cancel"));
    const close = h("button", { class: "x", type: "button", "aria-label": t("close"), onclick: trusted(() => closePanel()) }, "×");
    const panel = h("div", { class: "panel", role: "dialog", lang: LANG, "aria-modal": "false", "aria-labelledby": "savy-title",
      onkeydown: trusted((e) => { if (e.key === "Escape") { e.stopPropagation(); closePanel(); } }) },
    h("h2", {}, h("span", { id: "savy-title" }, t("panelTitle")), close),
    h("div", { class: "head" }, h("label", { for: "savy-customer" }, t("customerLabel"), " ", src), clear), customer,
    hintsTitle, hints,
    h("div", { class: "progress" }, status, meter), out, alts, chips, why, warnings,
    h("div", { class: "row" }, replace, copy, retry, cancel));
    const toast = h("div", { class: "toast", role: "alert", lang: LANG });
    shadow.append(button, panel, toast);
    document.documentElement.append(host);
    // Firefox may ignore a sheet adopted from a content script (without an error): then a <style>,
    // whose text set by the content script follows the extension's CSP there, not the page's
    if (getComputedStyle(button).position !== "fixed") {
      const style = document.createElement("style");
      style.textContent = CSS;
      shadow.prepend(style);
    }
    return { host, shadow, button, badge, panel, status, meter, customer, src, clear, out, alts, chips, why, warnings, hints, hintsTitle,
      replace, copy, retry, cancel, toast, port: null, keepAlive: 0, sent: null, result: null, streamed: "", attempt: 0 };
  }

  /** A message to the service worker; its answer when ok, else null (an orphaned script after an
   *  extension update says so and stops). */
  async function askWorker(msg) {
    let res;
    try {
      res = await chrome.runtime.sendMessage(msg);
    } catch (e) {
      if (S.contextInvalidated(RUNTIME, e)) orphaned();
      return null;
    }
    return res && res.ok ? res : null;
  }

  /** The tooltip (the button's accessible description) names the shortcut the browser has now. */
  async function nameShortcut(button) {
    const res = await askWorker({ kind: K.SHORTCUT_GET });
    if (!res) return;
    button.title = res.shortcut ? t("buttonTitle", [res.shortcut]) : t("buttonTitleNoKey");
    // aria-keyshortcuts takes key names ("Alt+Shift+S"), not the symbols macOS shows
    if (/^[\w+]+$/.test(res.shortcut)) button.setAttribute("aria-keyshortcuts", res.shortcut);
    else button.removeAttribute("aria-keyshortcuts");
  }

  function ensureUi() {
    if (!ui || !ui.host.isConnected) ui = buildUi();
    return ui;
  }

  function place() {
    if (!ui || !editor || !editor.isConnected) return;
    const r = editor.getBoundingClientRect();
    const b = ui.button;
    b.style.left = `${Math.max(4, Math.min(window.innerWidth - 90, r.right - 84))}px`;
    b.style.top = `${Math.max(4, Math.min(window.innerHeight - 32, r.bottom - 34))}px`;
    if (ui.panel.style.display === "block") {
      const p = ui.panel;
      const w = p.offsetWidth || 440;
      p.style.left = `${Math.max(8, Math.min(window.innerWidth - w - 8, r.right - w))}px`;
      const hgt = p.offsetHeight || 300;
      let top = r.bottom + 8; // below the editor, else above it, else as low as fits
      if (top + hgt > window.innerHeight - 8) top = r.top - hgt - 8;
      if (top < 8) top = Math.max(8, window.innerHeight - hgt - 8);
      p.style.top = `${top}px`;
    }
  }

  function showButton(el) {
    ensureUi();
    editor = el;
    ui.button.style.display = "inline-flex";
    place();
  }

  function hideButton() {
    if (ui && ui.panel.style.display !== "block") ui.button.style.display = "none";
  }

  /** A short notice; `outcome` is a styling and test hook, `action` a button ({label, run}). */
  function toast(message, { outcome = "", action = null } = {}) {
    ensureUi();
    ui.toast.replaceChildren(h("span", {}, message));
    if (action) {
      ui.toast.append(" ", h("button", { class: "toast-action", type: "button", onclick: trusted(action.run) }, action.label));
    }
    if (hooks()) ui.toast.dataset.outcome = outcome;
    ui.toast.style.display = "block";
    clearTimeout(ui.toastTimer);
    ui.toastTimer = setTimeout(() => { ui.toast.style.display = "none"; }, action ? 12000 : 6000);
  }

  // the panel's phase as data attributes: styling hooks, and what end-to-end tests wait on
  function setPhase(phase) {
    if (hooks()) ui.panel.dataset.state = phase;
    if (phase === "working") {
      if (hooks()) ui.panel.dataset.deltas = "0";
      delete ui.panel.dataset.result;
    }
    // busy on the streamed text only: on the panel it would hold back the status announcements too
    ui.out.setAttribute("aria-busy", String(phase === "working"));
    if (phase !== "working") ui.meter.textContent = "";
  }

  function setStatus(text, isError) {
    if (ui.status.textContent !== text) ui.status.textContent = text; // the same text is not news
    ui.status.classList.toggle("error", !!isError);
    place(); // the panel grew or shrank
  }

  function errorText(code, message) {
    const known = ["server_down", "bad_token", "busy", "timeout", "too_large", "invalid", "forbidden", "draft_changed",
      "replace_failed", "replace_partial", "empty_draft", "disconnected", "cancelled"];
    const base = known.includes(code) ? t(`err_${code}`) : t("err_server_error");
    return message && !["server_down", "cancelled"].includes(code) ? `${base} (${message})` : base;
  }

  function renderHints() {
    if (!ui) return;
    ui.hints.textContent = "";
    const show = findings.length > 0;
    ui.hintsTitle.style.display = show ? "block" : "none";
    ui.hints.style.display = show ? "block" : "none";
    for (const f of findings) {
      ui.hints.append(h("li", {}, h("q", {}, f.text), ` — ${f.message}`, f.suggestion ? ` ${t("tryInstead")} ${f.suggestion}` : ""));
    }
    ui.badge.textContent = String(findings.length);
    ui.badge.style.display = show ? "inline-flex" : "none";
    ui.button.setAttribute("aria-label", !show ? t("buttonLabel") : findings.length === 1 ? t("buttonLabelOneHint") : t("buttonLabelHints", [String(findings.length)]));
  }

  function openPanel({ start, customerOverride } = {}) {
    if (!editor || !editor.isConnected) {
      toast(t("err_no_editor"));
      return;
    }
    ensureUi();
    const wasOpen = ui.panel.style.display === "block";
    ui.panel.style.display = "block";
    ui.button.style.display = "inline-flex";
    renderHints();
    place();
    if (wasOpen && !customerOverride) {
      if (start) startRewrite();
    } else {
      const c = customerOverride ? { text: customerOverride, source: t("sourceSelection") } : customerMessage(editor);
      showCustomer(c.text, c.source);
      // none here: the agent may have selected it in another frame of the tab (the page around an
      // editor in an iframe, or a thread in a frame); its content script remembers it
      const other = c.text ? Promise.resolve(null) : askWorker({ kind: K.SELECTION_FRAMES });
      other.then((r) => {
        if (r && r.text && !ui.customer.value) showCustomer(S.cleanPageText(r.text), t("sourceSelection"));
        if (start) startRewrite();
      });
    }
    (start ? ui.cancel : ui.customer).focus({ preventScroll: true });
  }

  function showCustomer(text, source) {
    ui.customer.value = text;
    ui.src.textContent = `(${source})`;
    ui.clear.hidden = !text;
  }

  /** The agent says this is not the customer's message: forget it, and a remembered selection too. */
  function clearCustomer() {
    lastOutsideSelection = null;
    showCustomer("", t("sourceNone"));
    ui.customer.focus();
  }

  function closePanel() {
    if (!ui) return;
    stopStream();
    ui.panel.style.display = "none";
    if (editor && editor.isConnected) editor.focus({ preventScroll: true });
  }

  /** End the current stream, if any: Cancel aborts the HTTP request, done/error free the port. */
  function stopStream() {
    if (!ui) return;
    clearInterval(ui.keepAlive);
    if (ui.port) {
      const p = ui.port;
      ui.port = null;
      try { p.disconnect(); } catch (_) { /* already gone */ }
    }
  }

  function resetOutput() {
    ui.out.textContent = "";
    ui.chips.textContent = "";
    ui.alts.textContent = "";
    ui.why.textContent = "";
    ui.warnings.textContent = "";
    ui.result = null;
    ui.streamed = "";
    ui.attempt = 0;
    ui.replace.disabled = true;
    ui.copy.disabled = true;
  }

  function startRewrite() {
    ensureUi();
    stopStream();
    resetOutput();
    setStatus(""); // so the same message as last time is announced again
    const d = readDraft(editor);
    if (!d.text) {
      setPhase("error");
      setStatus(t("err_empty_draft"), true);
      return;
    }
    if (d.text.length > S.MAX_FIELD_CHARS) {
      setPhase("error");
      setStatus(t("err_too_large"), true);
      return;
    }
    // Replace goes to this editor, even if the agent clicks into another one meanwhile
    ui.sent = { editor, draft: d.text, customer: ui.customer.value.trim() };
    ui.deltas = 0;
    setPhase("working");
    setStatus(t("statusStarting"));
    let port;
    try {
      port = chrome.runtime.connect({ name: "rewrite" });
    } catch (e) {
      if (S.contextInvalidated(RUNTIME, e)) return orphaned();
      setPhase("error");
      setStatus(errorText("disconnected"), true);
      return;
    }
    ui.port = port;
    port.onMessage.addListener((msg) => onPortMessage(port, msg));
    port.onDisconnect.addListener(() => {
      if (ui.port === port) {
        clearInterval(ui.keepAlive);
        ui.port = null;
        if (S.contextInvalidated(RUNTIME)) return orphaned();
        setPhase("error");
        setStatus(errorText("disconnected"), true);
      }
    });
    port.postMessage({ kind: K.REWRITE_START, draft: d.text, customer_message: ui.sent.customer || null });
    // a service worker with no incoming event for 30 s is stopped, and a queued rewrite can wait longer
    ui.keepAlive = setInterval(() => {
      try { port.postMessage({ kind: K.REWRITE_PING }); } catch (_) { /* onDisconnect reports it */ }
    }, 20000);
  }

  function onPortMessage(port, msg) {
    if (ui.port !== port) return;
    switch (msg.kind) {
      case K.REWRITE_PROGRESS:
        setStatus(msg.state === "busy" ? t("statusBusy", [String(msg.retry_in_s || 1)]) : t("statusWaiting"));
        break;
      case K.REWRITE_DELTA:
        if (msg.attempt !== ui.attempt) {
          ui.attempt = msg.attempt;
          ui.streamed = "";
          setStatus(t(msg.attempt > 1 ? "statusRetrying" : "statusWriting"));
        }
        ui.streamed += msg.text;
        ++ui.deltas;
        if (hooks()) ui.panel.dataset.deltas = String(ui.deltas);
        ui.out.textContent = ui.streamed;
        ui.meter.textContent = t("tokenCount", [String(msg.tokens)]);
        break;
      case K.REWRITE_DONE:
        stopStream();
        showResult(msg.result);
        break;
      case K.REWRITE_ERROR:
        stopStream();
        ui.out.textContent = "";
        setPhase("error");
        setStatus(errorText(msg.error.code, msg.error.message), true);
        break;
      default:
        break;
    }
  }

  async function showResult(res) {
    ui.result = res;
    if (hooks()) ui.panel.dataset.result = JSON.stringify(res);
    showDiff(res.rewrite);
    renderOpeners(res);
    const changed = res.rewrite.trim() !== ui.sent.draft.trim();
    const secs = (res.timings.total_ms / 1000).toFixed(1);
    // "draft": the guard refused every rewrite, which is not the same as "already reads well"
    const notes = S.summarizeWarnings(res.warnings);
    const done = changed ? t(`done_${res.source}`, [secs]) : t(res.source === "draft" ? "done_draft" : "doneUnchanged");
    setStatus(notes.length ? `${done} ${t("doneNotes")}` : done);
    ui.replace.disabled = !changed;
    ui.copy.disabled = false;
    let guidance = {};
    try {
      const rules = await chrome.runtime.sendMessage({ kind: K.RULES_GET });
      if (rules && rules.ok) guidance = rules.guidance;
    } catch (e) { // chips without their why
      if (S.contextInvalidated(RUNTIME, e)) orphaned();
    }
    if (ui.result !== res) return; // Retry or a new rewrite started meanwhile
    for (const r of res.applied_rules) {
      const whyText = guidance[r.id] || "";
      ui.chips.append(h("li", {}, h("button", { class: "chip", type: "button", title: whyText, "aria-label": `${r.title}: ${whyText}`,
        onclick: () => { ui.why.textContent = `${r.title}: ${whyText}`; } }, r.title)));
    }
    renderWarnings(notes, res.warnings);
    setPhase("done");
    place();
    // move focus only from the button that started this; never out of the customer box or the
    // editor, where the next keystroke (Space, Enter) would otherwise press Replace
    const focused = ui.shadow.activeElement;
    if (focused === ui.cancel || focused === ui.retry) (changed ? ui.replace : ui.copy).focus({ preventScroll: true });
  }

  function showDiff(rewrite) {
    ui.out.textContent = "";
    for (const part of S.diffWords(ui.sent.draft, rewrite)) {
      if (part.op === "same") ui.out.append(part.text);
      else ui.out.append(h(part.op === "add" ? "ins" : "del", {}, part.text));
    }
  }

  /** The opening the server chose and its alternatives as toggle buttons: choosing one shows and
   *  arms (for Replace and Copy) that version, which the server checked like the first. */
  function renderOpeners(res) {
    const options = S.openerOptions(res);
    if (options.length < 2) return;
    ui.alts.append(h("span", { class: "alts-label" }, t("openersLabel")));
    const buttons = options.map((o, i) => h("button", { class: "alt", type: "button", "aria-pressed": String(i === 0),
      title: o.opener, onclick: trusted(() => {
        if (ui.result !== current) return;
        current = { ...res, rewrite: o.rewrite, opener: o.opener };
        ui.result = current;
        if (hooks()) ui.panel.dataset.result = JSON.stringify(current);
        showDiff(o.rewrite);
        buttons.forEach((b, j) => b.setAttribute("aria-pressed", String(j === i)));
      }) }, o.opener));
    let current = res;
    ui.alts.append(...buttons);
  }

  /** One localised line per kind of server warning; the server's own (English) sentences as details. */
  function renderWarnings(notes, sentences) {
    for (const n of notes) {
      ui.warnings.append(h("div", { class: "warn" }, `⚠ ${t(`warn_${n.kind}`, [String(n.count)])}`));
    }
    if (!sentences.length) return;
    ui.warnings.append(h("details", { class: "details" }, h("summary", {}, t("warnDetails")),
      h("ul", { lang: "en" }, ...sentences.map((w) => h("li", {}, w)))));
  }

  async function onReplace() {
    if (!ui.result || ui.replacing) return;
    const { editor: el, draft } = ui.sent;
    const rewrite = ui.result.rewrite;
    ui.replacing = true;
    ui.replace.disabled = true;
    let err;
    try {
      err = await replaceDraft(el, draft, rewrite);
    } finally {
      ui.replacing = false;
    }
    if (err) {
      setStatus(errorText(err), true);
      ui.replace.disabled = err === "draft_changed";
      return;
    }
    ui.panel.style.display = "none";
    const integration = E.recognise(el);
    const done = { editor: el, draft, rewrite, integration };
    // Ctrl+Z is promised only where the tests verified it for this editor; Undo always works
    toast(t(integration.verified ? "replacedUndo" : "replacedSavyUndo"),
      { outcome: "replaced", action: { label: t("undo"), run: () => onUndo(done) } });
    place();
  }

  async function onUndo(done) {
    const err = await undoReplace(done);
    if (err) toast(t(`err_${err}`), { outcome: "undo-failed" });
    else toast(t("undone"), { outcome: "undone" });
  }

  async function onCopy() {
    if (!ui.result) return;
    try {
      await navigator.clipboard.writeText(ui.result.rewrite);
      setStatus(t("copied"));
    } catch (_) {
      setStatus(t("err_copy"), true);
    }
  }

  // ---------- inline hints (model-free /v1/analyze, debounced; only the draft is sent) ----------

  function scheduleHints() {
    clearTimeout(hintTimer);
    const seq = ++hintSeq; // an answer still on its way is for an older draft, or another editor
    if (dead || !settings.hints || !editor || !typedIn.has(editor)) return;
    hintTimer = setTimeout(async () => {
      // settings may have arrived or changed since: hints off, or this site switched off
      if (!settings.hints || !enabledHere() || !editor || !editor.isConnected) return;
      const d = readDraft(editor);
      if (!d.text || d.text.length > S.MAX_FIELD_CHARS) {
        findings = [];
        renderHints();
        return;
      }
      let res;
      try {
        res = await chrome.runtime.sendMessage({ kind: K.ANALYZE, draft: d.text });
      } catch (e) {
        if (S.contextInvalidated(RUNTIME, e)) orphaned();
        return;
      }
      if (seq !== hintSeq) return; // a newer keystroke won
      findings = res && res.ok ? res.result.findings : [];
      renderHints();
    }, 700);
  }

  // ---------- after an extension update ----------

  /** The extension was updated or reloaded under this page: this copy can no longer reach it. Say
   *  so where the agent is looking, and take the button away; a shown result can still be used. */
  function orphaned() {
    if (dead) return;
    dead = true;
    clearTimeout(hintTimer);
    stopStream();
    ensureUi();
    ui.button.remove();
    if (ui.panel.style.display === "block") {
      ui.retry.disabled = true;
      setPhase("error");
      setStatus(UPDATED, true);
    } else {
      toast(UPDATED);
    }
  }

  /** A newer copy (injected on demand after an update) takes over from this one. */
  function retire() {
    dead = true;
    clearTimeout(hintTimer);
    stopStream();
    if (ui) ui.host.remove();
  }

  // ---------- wiring ----------

  function enabledHere() {
    return !S.siteDisabled(HOST, settings.disabledHosts);
  }

  document.addEventListener("focusin", (e) => {
    if (Date.now() - settingsAt > 2000) refreshSettings();
    const target = e.composedPath ? e.composedPath()[0] : e.target;
    if (ui && ui.host.contains(e.target)) return;
    firstSettings.then(() => onFocus(target)); // the UI is built with the settings in hand
  }, true);

  function onFocus(target) {
    if (dead || !enabledHere()) return;
    const el = editableRoot(target);
    if (el && !optedOut(el)) {
      if (S.contextInvalidated(RUNTIME)) return orphaned();
      if (el !== editor) {
        findings = [];
        renderHints();
      }
      showButton(el);
      scheduleHints();
    } else if (!ui || ui.panel.style.display !== "block") {
      hideButton();
    }
  }

  // Hints send the draft to the server: only for an editor the agent has typed in (a page can
  // focus a field of its own making, and dispatch input events; it cannot type as the agent)
  const typedIn = new WeakSet();
  document.addEventListener("input", (e) => {
    if (!dead && editor && (e.target === editor || editor.contains(e.target))) {
      if (e.isTrusted) typedIn.add(editor);
      place();
      scheduleHints();
    }
  }, true);

  window.addEventListener("scroll", () => place(), true);
  window.addEventListener("resize", () => place());

  chrome.runtime.onMessage.addListener((msg, _sender, reply) => {
    if (msg && msg.kind === K.SELECTION_GET) {
      // another frame's editor asks for the customer's message selected here (not the asking frame)
      if (dead || (msg.fromFrame === 0 && window.top === window)) return false;
      const text = outsideSelection();
      if (text) reply({ text });
      return false;
    }
    if (!msg || msg.kind !== K.UI_OPEN) return false;
    // a command goes to every frame: the focused one answers (a parent whose focus is in an iframe doesn't);
    // from the popup, which has the focus itself, the frame whose editor is still the active element
    const focusInChild = document.activeElement && /^(IFRAME|FRAME)$/.test(document.activeElement.tagName);
    const focusHere = msg.fromPopup ? !!editableRoot(document.activeElement) : document.hasFocus();
    if (!msg.frameTargeted && (!focusHere || focusInChild)) return false; // not ours: stay silent
    if (!enabledHere()) {
      toast(t("err_site_off"));
      reply({ handled: true });
      return false;
    }
    const active = editableRoot(document.activeElement);
    if (active && !optedOut(active)) showButton(active);
    const selection = msg.selection ? S.cleanPageText(msg.selection) : "";
    const inEditor = active && selection && norm(readDraft(active).text).includes(norm(selection));
    openPanel({ start: true, customerOverride: selection && !inEditor ? selection : undefined });
    reply({ handled: true });
    return false;
  });

  /** Settings come from the service worker (without the token: storage is closed to content
   *  scripts); asked again when an editor gets focus, at most every two seconds. */
  let settingsAt = 0;
  let firstSettings = null; // set below, once refreshSettings exists
  async function refreshSettings() {
    settingsAt = Date.now();
    const r = await askWorker({ kind: K.SETTINGS_GET });
    if (!r) return;
    settings = { ...settings, ...r.settings };
    if (!enabledHere()) {
      if (ui) closePanel();
      hideButton();
    }
    if (!settings.hints) {
      findings = [];
      renderHints();
    }
  }

  firstSettings = refreshSettings();
  firstSettings.then(() => {
    // the page may have focused an editor before we loaded
    const el = editableRoot(document.activeElement);
    if (el && !optedOut(el) && enabledHere()) {
      showButton(el);
      scheduleHints();
    }
  });
})();
