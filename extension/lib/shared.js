// Pure logic shared by the service worker, content scripts, options page and Node unit tests.
// No DOM, no chrome.* here: everything in this file is testable with `node --test`.
(function (root) {
  "use strict";

  const DEFAULT_SERVER = "http://127.0.0.1:8765";
  // what the manifest's content_scripts load, for injecting on demand (activeTab) in the same order
  const CONTENT_FILES = Object.freeze(["lib/shared.js", "lib/adapters.js", "lib/editors.js", "content.js"]);
  const MAX_FIELD_CHARS = 8000; // the server's per-field limit (server/savy/schemas.py)

  // The kind-keyed protocol between content scripts / pages and the service worker.
  // Requests (sendMessage, answered once):
  //   settings/get, settings/save, server/check, analyze, rules/get, site/toggle, shortcut/get,
  //   tab/open {tabId} (the popup: open the panel in that tab, injecting the content script if needed)
  //   selection/frames {} (a content script: the customer's message selected in another frame of its tab)
  // Port "rewrite" (long-lived, so Cancel can abort the HTTP stream):
  //   -> rewrite/start {draft, customer_message}
  //   -> rewrite/ping {} (every 20 s while waiting: an incoming event keeps the worker alive)
  //   <- rewrite/progress {state: "busy"|"waiting", retry_in_s}
  //   <- rewrite/delta {text, attempt, tokens}
  //   <- rewrite/done {result}
  //   <- rewrite/error {error: {code, message}}
  // Service worker -> tab (commands and context menu):
  //   ui/open {selection, frameTargeted, fromPopup}
  //   selection/get {fromFrame} -> {text} (answered only by a frame with a fresh selection)
  const KINDS = Object.freeze({
    SETTINGS_GET: "settings/get",
    SETTINGS_SAVE: "settings/save",
    SERVER_CHECK: "server/check",
    ANALYZE: "analyze",
    RULES_GET: "rules/get",
    SITE_TOGGLE: "site/toggle",
    TAB_OPEN: "tab/open",
    SHORTCUT_GET: "shortcut/get",
    REWRITE_START: "rewrite/start",
    REWRITE_PING: "rewrite/ping",
    REWRITE_PROGRESS: "rewrite/progress",
    REWRITE_DELTA: "rewrite/delta",
    REWRITE_DONE: "rewrite/done",
    REWRITE_ERROR: "rewrite/error",
    UI_OPEN: "ui/open",
    SELECTION_FRAMES: "selection/frames",
    SELECTION_GET: "selection/get",
  });

  const REQUEST_FIELDS = {
    "settings/get": [],
    "settings/save": ["settings"],
    "server/check": ["server", "token"],
    analyze: ["draft"],
    "rules/get": [],
    "site/toggle": ["host"],
    "tab/open": ["tabId"],
    "shortcut/get": [],
    "rewrite/start": ["draft"],
    "rewrite/ping": [],
    "selection/frames": [],
  };

  /** Validate a message from a content script or page; returns an error string or null. */
  function checkMessage(msg) {
    if (!msg || typeof msg !== "object" || typeof msg.kind !== "string") return "message without a kind";
    const fields = REQUEST_FIELDS[msg.kind];
    if (!fields) return `unknown kind: ${msg.kind}`;
    for (const f of fields) {
      if (!(f in msg)) return `${msg.kind}: missing ${f}`;
    }
    for (const f of ["draft", "customer_message"]) {
      if (f in msg && msg[f] != null && typeof msg[f] !== "string") return `${msg.kind}: ${f} must be text`;
    }
    return null;
  }

  /** Only loopback http(s) URLs may be the server: page text never leaves the machine. */
  const parseUrl = (raw) => {
    try {
      return new URL(String(raw || "").trim());
    } catch (_) {
      return null;
    }
  };

  function normalizeServerUrl(raw) {
    const url = parseUrl(raw);
    if (!url) return { ok: false, error: "not_a_url" };
    // plain http only: the server binds loopback without TLS, and host_permissions name http only
    if (url.protocol !== "http:") return { ok: false, error: "not_http" };
    const host = url.hostname.replace(/^\[|\]$/g, "");
    if (!["127.0.0.1", "localhost", "::1"].includes(host)) return { ok: false, error: "not_loopback" };
    if (url.username || url.password) return { ok: false, error: "not_a_url" };
    return { ok: true, url: `${url.protocol}//${url.host}` };
  }

  /** A site the agent lets Sävy run on besides the built-in ones (a helpdesk on its own domain, a
   *  local tool): its origin, "http(s)://host[:port]"; content scripts are registered for exactly it. */
  function normalizeSite(raw) {
    const url = parseUrl(raw);
    if (!url) return { ok: false, error: "not_a_url" };
    if (url.protocol !== "http:" && url.protocol !== "https:") return { ok: false, error: "not_http" };
    if (url.username || url.password || !url.hostname) return { ok: false, error: "not_a_url" };
    return { ok: true, origin: url.origin };
  }

  /** Incremental Server-Sent Events parser: feed() text chunks, get {event, data} objects back. */
  function createSseParser() {
    let buf = "";
    return {
      feed(chunk) {
        buf += chunk.replace(/\r\n?/g, "\n");
        const out = [];
        let idx;
        while ((idx = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, idx);
          buf = buf.slice(idx + 2);
          let event = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (!line || line.startsWith(":")) continue;
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            let value = colon < 0 ? "" : line.slice(colon + 1);
            if (value.startsWith(" ")) value = value.slice(1);
            if (field === "event") event = value;
            else if (field === "data") data.push(value);
          }
          if (data.length) {
            let parsed;
            try {
              parsed = JSON.parse(data.join("\n"));
            } catch (_) {
              parsed = { raw: data.join("\n") };
            }
            out.push({ event, data: parsed });
          }
        }
        return out;
      },
    };
  }

  /** Map an HTTP status / server error body / network failure to the one error shape the UI shows. */
  function describeError({ status, body, networkError, aborted } = {}) {
    if (aborted) return { code: "cancelled", message: "" };
    if (networkError) return { code: "server_down", message: "" };
    const err = body && body.error ? body.error : null;
    if (status === 401) return { code: "bad_token", message: err ? err.message : "" };
    if (status === 403) return { code: "forbidden", message: err ? err.message : "" };
    if (status === 503) return { code: "busy", message: err ? err.message : "" };
    if (status === 504) return { code: "timeout", message: err ? err.message : "" };
    if (status === 413 || (err && err.code === "too_large")) return { code: "too_large", message: err ? err.message : "" };
    if (status === 422) return { code: "invalid", message: err ? err.message : "" };
    if (err) return { code: err.code || "server_error", message: err.message || "" };
    return { code: "server_error", message: status ? `HTTP ${status}` : "" };
  }

  // Word-level diff (LCS over word and whitespace tokens). Returns [{op: "same"|"add"|"del", text}].
  // a word carries its punctuation and the space after it, so the diff reads as whole words
  function tokenize(s) {
    return s.match(/^\s+|\S+\s*/gu) || [];
  }

  function diffWords(a, b) {
    const x = tokenize(a);
    const y = tokenize(b);
    // trim common prefix/suffix: cheap and keeps the table small for long drafts
    let pre = 0;
    while (pre < x.length && pre < y.length && x[pre] === y[pre]) pre++;
    let suf = 0;
    while (suf < x.length - pre && suf < y.length - pre && x[x.length - 1 - suf] === y[y.length - 1 - suf]) suf++;
    const xs = x.slice(pre, x.length - suf);
    const ys = y.slice(pre, y.length - suf);
    const n = xs.length;
    const m = ys.length;
    const ops = [];
    if (n * m > 4_000_000) {
      // too long for a table: one replacement block
      if (n) ops.push({ op: "del", text: xs.join("") });
      if (m) ops.push({ op: "add", text: ys.join("") });
    } else {
      const w = m + 1;
      const t = new Uint32Array((n + 1) * w);
      for (let i = n - 1; i >= 0; i--) {
        for (let j = m - 1; j >= 0; j--) {
          t[i * w + j] = xs[i] === ys[j] ? t[(i + 1) * w + j + 1] + 1 : Math.max(t[(i + 1) * w + j], t[i * w + j + 1]);
        }
      }
      let i = 0;
      let j = 0;
      while (i < n || j < m) {
        if (i < n && j < m && xs[i] === ys[j]) {
          ops.push({ op: "same", text: xs[i] });
          i++;
          j++;
        } else if (j < m && (i === n || t[i * w + j + 1] >= t[(i + 1) * w + j])) {
          ops.push({ op: "add", text: ys[j] });
          j++;
        } else {
          ops.push({ op: "del", text: xs[i] });
          i++;
        }
      }
    }
    const all = [];
    if (pre) all.push({ op: "same", text: x.slice(0, pre).join("") });
    all.push(...ops);
    if (suf) all.push({ op: "same", text: x.slice(x.length - suf).join("") });
    // within each changed stretch, what goes (del) before what comes (add); then merge neighbours
    const ordered = [];
    for (let k = 0; k < all.length;) {
      if (all[k].op === "same") { ordered.push(all[k++]); continue; }
      const stretch = [];
      while (k < all.length && all[k].op !== "same") stretch.push(all[k++]);
      ordered.push(...stretch.filter((o) => o.op === "del"), ...stretch.filter((o) => o.op === "add"));
    }
    const merged = [];
    for (const o of ordered) {
      const last = merged[merged.length - 1];
      if (last && last.op === o.op) last.text += o.text;
      else merged.push({ ...o });
    }
    return merged;
  }

  /** Clean text taken from a page: collapse runs of blank lines, trim, cap at the server's limit. */
  function cleanPageText(s, max = MAX_FIELD_CHARS) {
    const t = String(s || "")
      .replace(/\u00a0/g, " ")
      .replace(/[ \t]+\n/g, "\n")
      .replace(/\n{3,}/g, "\n\n")
      .trim();
    return t.length > max ? t.slice(t.length - max) : t;
  }

  /** Strip a quoted history from a plain-text message ("On … wrote:", "> " lines, "-----Original"). */
  function stripQuotedHistory(s) {
    const lines = String(s || "").split("\n");
    const out = [];
    for (const line of lines) {
      if (/^\s*(On .{3,200} wrote:|.{3,200} kirjoitti:?|-{2,}\s*(Original Message|Alkuperäinen viesti)\s*-{2,}|From: .+|Lähettäjä: .+)\s*$/i.test(line)) break;
      if (/^\s*>/.test(line)) continue;
      out.push(line);
    }
    return out.join("\n").trim();
  }

  /** Where the agent's own text sits in a plain-text editor's value: [start, end) without the
   *  leading/trailing blank space, a signature ("-- " line) or a quoted history below it. */
  function draftBounds(value) {
    const v = String(value || "");
    let cut = v.length;
    const lines = v.split("\n");
    let pos = 0;
    for (const line of lines) {
      if (/^-- ?$/.test(line) || /^\s*(On .{3,200} wrote:|.{3,200} kirjoitti:?|-{2,}\s*(Original Message|Alkuperäinen viesti)\s*-{2,})\s*$/i.test(line) || /^\s*>/.test(line)) {
        cut = pos;
        break;
      }
      pos += line.length + 1;
    }
    let start = 0;
    while (start < cut && /\s/.test(v[start])) start++;
    let end = cut;
    while (end > start && /\s/.test(v[end - 1])) end--;
    return { start, end };
  }

  /** True when a site host is switched off in the stored list (exact host or a parent domain). */
  function siteDisabled(host, disabledHosts) {
    const h = String(host || "").toLowerCase();
    return (disabledHosts || []).some((d) => h === d || h.endsWith("." + d));
  }

  // The server's warnings are English sentences (server/savy/pipeline.py); the panel shows one
  // localised line per kind and keeps the sentences as details. Matched on their stable wording.
  const WARNING_KINDS = [
    ["rulesUsed", (w) => w.startsWith("Using the rules-only rewrite")],
    ["draftKept", (w) => w.startsWith("No framed rewrite passed the checks")],
    ["modelRejected", (w) => /^Model attempt \d+ rejected by the guard/.test(w)],
    ["notFixed", (w) => w.endsWith(": the rules could not fix it automatically.")],
    ["busy", (w) => w.startsWith("The engine was busy")],
  ];

  /** Summarise the server's warnings: [{kind, count}] in a fixed order, one per kind.
   *  A rejected model attempt is implied by "rules used" / "draft kept" and not repeated. */
  function summarizeWarnings(warnings) {
    const byKind = new Map();
    for (const w of warnings || []) {
      const hit = WARNING_KINDS.find(([, test]) => test(String(w)));
      const kind = hit ? hit[0] : "other";
      const entry = byKind.get(kind) || { kind, count: 0 };
      entry.count++;
      byKind.set(kind, entry);
    }
    if (byKind.has("rulesUsed") || byKind.has("draftKept")) byKind.delete("modelRejected");
    const order = [...WARNING_KINDS.map(([k]) => k), "other"];
    return order.filter((k) => byKind.has(k)).map((k) => byKind.get(k));
  }

  // a selection the agent made outside the editor counts as the customer's message only while it is
  // still selected, or for this long after, and only while that text is still on the page
  const SELECTION_FRESH_MS = 2 * 60 * 1000;

  /** Is a remembered page selection ({text, at}) still a fair guess at the customer's message?
   *  current: the page's selection now; present: whether its text is still on the page. */
  function selectionStillValid(sel, { now, current, present }) {
    if (!sel || !sel.text) return false;
    if (current && cleanPageText(current) === sel.text) return true;
    return !!present && now - sel.at >= 0 && now - sel.at <= SELECTION_FRESH_MS;
  }

  /** After an extension update or reload, a content script left in an open page is orphaned: its
   *  runtime has no id and every chrome.runtime call throws "Extension context invalidated". */
  function contextInvalidated(runtime, error) {
    let gone = true;
    try {
      gone = !runtime || !runtime.id;
    } catch (_) { /* even reading the id can throw */ }
    const text = String((error && error.message) || error || "");
    return gone || /extension context invalidated/i.test(text);
  }

  /** The opening choices of a rewrite response: the chosen one first, then the alternatives the
   *  server checked; each {opener, rewrite}. Empty when the response has no opener (a free rewrite). */
  function openerOptions(res) {
    if (!res || !res.opener || typeof res.rewrite !== "string") return [];
    const alts = Array.isArray(res.alternatives) ? res.alternatives : [];
    const seen = new Set([res.opener]);
    const out = [{ opener: res.opener, rewrite: res.rewrite }];
    for (const a of alts) {
      if (!a || typeof a.opener !== "string" || typeof a.rewrite !== "string" || seen.has(a.opener)) continue;
      seen.add(a.opener);
      out.push({ opener: a.opener, rewrite: a.rewrite });
    }
    return out.slice(0, 4);
  }

  const api = {
    DEFAULT_SERVER, CONTENT_FILES, MAX_FIELD_CHARS, KINDS, checkMessage, normalizeServerUrl, normalizeSite, createSseParser,
    describeError, diffWords, cleanPageText, stripQuotedHistory, siteDisabled, draftBounds, summarizeWarnings,
    SELECTION_FRESH_MS, selectionStillValid, contextInvalidated, openerOptions,
  };
  root.SavyShared = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
