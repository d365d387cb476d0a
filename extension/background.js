// Sävy's service worker: the only part of the extension that touches the network, and only the
// configured loopback server. Content scripts and pages talk to it with kind-keyed messages.
/* global importScripts */
if (typeof SavyShared === "undefined" && typeof importScripts === "function") importScripts("lib/shared.js");

const S = globalThis.SavyShared;
const K = S.KINDS;
// testHooks: for Sävy's own browser tests only (an open shadow root, the panel's state as data
// attributes); no page and no options control sets it
// sites: origins where the content scripts run besides the built-in sites (no loopback page by
// default: a local dev server, or Sävy's own /docs, is not a reply box)
const DEFAULTS = { server: S.DEFAULT_SERVER, token: "", hints: true, disabledHosts: [], sites: [], testHooks: false };
const BUSY_RETRIES = 5;

// The token stays in the service worker and Sävy's own pages: content scripts (which share a page
// with its scripts) may not read extension storage. Firefox has no such switch; there content
// scripts still get settings only through SETTINGS_GET, without the token.
if (chrome.storage.local.setAccessLevel) {
  chrome.storage.local.setAccessLevel({ accessLevel: "TRUSTED_CONTEXTS" }).catch(() => {});
}

/** What a content script may know of the settings: everything but the token. */
function forContentScripts(st) {
  const { token, ...rest } = st;
  return { ...rest, hasToken: !!token };
}

async function getSettings() {
  const v = await chrome.storage.local.get("settings");
  const st = { ...DEFAULTS, ...(v.settings || {}) };
  // saveSettings only stores loopback addresses; storage is also writable from content scripts, so
  // check again where the address is used: page text must never go anywhere else
  const u = S.normalizeServerUrl(st.server);
  st.server = u.ok ? u.url : S.DEFAULT_SERVER;
  return st;
}

async function saveSettings(patch) {
  const cur = await getSettings();
  const next = { ...cur, ...patch };
  if ("server" in patch) {
    const u = S.normalizeServerUrl(patch.server);
    if (!u.ok) return { ok: false, error: { code: u.error, message: "" } };
    next.server = u.url;
  }
  if ("token" in patch) next.token = String(patch.token || "").trim();
  if ("sites" in patch) {
    const sites = (Array.isArray(patch.sites) ? patch.sites : []).map(S.normalizeSite);
    const bad = sites.find((x) => !x.ok);
    if (bad) return { ok: false, error: { code: bad.error, message: "" } };
    next.sites = [...new Set(sites.map((x) => x.origin))];
  }
  await chrome.storage.local.set({ settings: next });
  return { ok: true, settings: next };
}

/** One HTTP call to the server; resolves to {ok, status, body} or {ok:false, error}. */
async function call(path, { method = "GET", body, token, server, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(server + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      signal, cache: "no-store", credentials: "omit" });
  } catch (e) {
    return { ok: false, error: S.describeError({ networkError: true, aborted: signal && signal.aborted }) };
  }
  let data = null;
  try {
    data = await res.json();
  } catch (_) { /* not JSON */ }
  if (!res.ok) return { ok: false, status: res.status, error: S.describeError({ status: res.status, body: data }) };
  return { ok: true, status: res.status, body: data };
}

/** Is the server there, and does the token work? Used live by the options page and the popup. */
async function checkServer(server, token) {
  const u = S.normalizeServerUrl(server);
  if (!u.ok) return { ok: false, error: { code: u.error, message: "" } };
  const health = await call("/v1/health", { server: u.url });
  if (!health.ok) return { ok: false, error: health.error };
  if (!token) return { ok: false, error: { code: "no_token", message: "" }, health: health.body };
  const auth = await call("/v1/rules", { server: u.url, token });
  if (!auth.ok) return { ok: false, error: auth.error, health: health.body };
  return { ok: true, health: health.body, rules: auth.body.rules.length };
}

let rulesCache = null;

const fromOwnPage = (sender) => !!sender.url && sender.url.startsWith(chrome.runtime.getURL(""));

async function handle(msg, sender) {
  const bad = S.checkMessage(msg);
  if (bad) return { ok: false, error: { code: "invalid", message: bad } };
  const st = await getSettings();
  switch (msg.kind) {
    case K.SETTINGS_GET:
      return { ok: true, settings: fromOwnPage(sender) ? st : forContentScripts(st) };
    case K.SETTINGS_SAVE:
      if (!fromOwnPage(sender)) {
        return { ok: false, error: { code: "forbidden", message: "settings are changed from Sävy's own pages" } };
      }
      rulesCache = null;
      return saveSettings(msg.settings || {});
    case K.SHORTCUT_GET: {
      // the agent may have changed it, or another extension holds it (then there is none)
      const cmd = (await chrome.commands.getAll()).find((c) => c.name === "rewrite");
      return { ok: true, shortcut: (cmd && cmd.shortcut) || "" };
    }
    case K.TAB_OPEN:
      if (!fromOwnPage(sender)) return { ok: false, error: { code: "forbidden", message: "only Sävy's own pages open it" } };
      return { ok: await openInTab({ id: msg.tabId }, { fromPopup: true }) };
    case K.SERVER_CHECK:  // a probe of loopback ports: for the options page and popup only
      if (!fromOwnPage(sender)) return { ok: false, error: { code: "forbidden", message: "only Sävy's own pages check the server" } };
      return checkServer(msg.server, msg.token);
    case K.SITE_TOGGLE: {
      const host = String(msg.host || "").toLowerCase();
      const off = new Set(st.disabledHosts);
      if (off.has(host)) off.delete(host);
      else if (host) off.add(host);
      return saveSettings({ disabledHosts: [...off] });
    }
    case K.ANALYZE: {
      if (!st.hints) return { ok: false, error: { code: "hints_off", message: "" } };
      const r = await call("/v1/analyze", { method: "POST", server: st.server, token: st.token,
        body: { draft: msg.draft, customer_message: null, language: "auto" } });
      return r.ok ? { ok: true, result: r.body } : r;
    }
    case K.RULES_GET: {
      if (!rulesCache) {
        const r = await call("/v1/rules", { server: st.server, token: st.token });
        if (!r.ok) return r;
        const lang = chrome.i18n.getUILanguage().startsWith("fi") ? "fi" : "en";
        rulesCache = Object.fromEntries(r.body.rules.map((x) => [x.id, x.guidance[lang] || x.guidance.en]));
      }
      return { ok: true, guidance: rulesCache };
    }
    case K.SELECTION_FRAMES: {
      // an editor in an iframe asks the top page; an editor in the top page asks its frames
      if (!sender.tab || typeof sender.frameId !== "number") return { ok: true, text: "" };
      const ask = { kind: K.SELECTION_GET, fromFrame: sender.frameId };
      try {
        const r = await chrome.tabs.sendMessage(sender.tab.id, ask, sender.frameId ? { frameId: 0 } : undefined);
        return { ok: true, text: r && typeof r.text === "string" ? r.text.slice(0, S.MAX_FIELD_CHARS) : "" };
      } catch (_) {
        return { ok: true, text: "" }; // no frame has one
      }
    }
    default:
      return { ok: false, error: { code: "invalid", message: `unhandled kind ${msg.kind}` } };
  }
}

chrome.runtime.onMessage.addListener((msg, sender, reply) => {
  handle(msg, sender).then(reply, (e) => reply({ ok: false, error: { code: "internal", message: String(e && e.message) } }));
  return true; // answered asynchronously
});

// ---------- streaming rewrite over a port: disconnecting the port cancels the HTTP request ----------

const sleep = (ms, signal) => new Promise((resolve) => {
  const id = setTimeout(resolve, ms);
  if (signal) signal.addEventListener("abort", () => { clearTimeout(id); resolve(); }, { once: true });
});

async function streamRewrite(port, msg, signal) {
  const post = (m) => { if (!signal.aborted) port.postMessage(m); };
  const st = await getSettings();
  const body = JSON.stringify({ draft: msg.draft, customer_message: msg.customer_message || null, language: "auto" });
  for (let attempt = 0; attempt <= BUSY_RETRIES; attempt++) {
    let res;
    try {
      res = await fetch(`${st.server}/v1/rewrite/stream`, { method: "POST", body, signal, cache: "no-store", credentials: "omit",
        headers: { Authorization: `Bearer ${st.token}`, "Content-Type": "application/json", Accept: "text/event-stream" } });
    } catch (_) {
      post({ kind: K.REWRITE_ERROR, error: S.describeError({ networkError: true, aborted: signal.aborted }) });
      return;
    }
    if (res.status === 503 && attempt < BUSY_RETRIES) {
      try { res.body && res.body.cancel(); } catch (_) { /* nothing to free */ }
      const wait = Math.min(10, Math.max(1, Number(res.headers.get("Retry-After")) || 1));
      post({ kind: K.REWRITE_PROGRESS, state: "busy", retry_in_s: wait });
      await sleep(wait * 1000, signal);
      if (signal.aborted) return;
      continue;
    }
    if (!res.ok) {
      let data = null;
      try { data = await res.json(); } catch (_) { /* not JSON */ }
      post({ kind: K.REWRITE_ERROR, error: S.describeError({ status: res.status, body: data }) });
      return;
    }
    post({ kind: K.REWRITE_PROGRESS, state: "waiting" });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const parser = S.createSseParser();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const ev of parser.feed(decoder.decode(value, { stream: true }))) {
          if (ev.event === "delta") post({ ...ev.data, kind: K.REWRITE_DELTA });
          else if (ev.event === "done") { post({ kind: K.REWRITE_DONE, result: ev.data }); return; }
          else if (ev.event === "error") { post({ kind: K.REWRITE_ERROR, error: S.describeError({ status: 500, body: ev.data }) }); return; }
        }
      }
    } catch (_) {
      post({ kind: K.REWRITE_ERROR, error: S.describeError({ networkError: true, aborted: signal.aborted }) });
      return;
    }
    post({ kind: K.REWRITE_ERROR, error: { code: "disconnected", message: "" } });
    return;
  }
}

chrome.runtime.onConnect.addListener((port) => {
  if (port.name !== "rewrite") return;
  const ctl = new AbortController();
  let started = false;
  port.onDisconnect.addListener(() => ctl.abort());
  port.onMessage.addListener((msg) => {
    // a ping's arrival alone resets the idle timer; one rewrite per port
    if (started || (msg && msg.kind === K.REWRITE_PING)) return;
    const bad = S.checkMessage(msg);
    if (bad || msg.kind !== K.REWRITE_START) {
      port.postMessage({ kind: K.REWRITE_ERROR, error: { code: "invalid", message: bad || "expected rewrite/start" } });
      return;
    }
    started = true;
    streamRewrite(port, msg, ctl.signal).catch((e) => {
      if (!ctl.signal.aborted) port.postMessage({ kind: K.REWRITE_ERROR, error: { code: "internal", message: String(e && e.message) } });
    });
  });
});

// ---------- shortcut and context menu: open the panel in the tab (injecting on demand via activeTab) ----------

/** Send a message to a tab; the answer, or undefined when no content script took it. */
async function tell(tabId, msg, target) {
  try {
    return await chrome.tabs.sendMessage(tabId, msg, target);
  } catch (_) {
    return undefined;
  }
}

/** Open the panel in a tab: in the frame asked for, else in the frame with the agent's focus, else
 *  the top frame says what to do (the "click into a reply box" toast). True when a frame answered. */
async function openInTab(tab, { frameId, selection, fromPopup } = {}) {
  if (!tab || tab.id == null) return false;
  const target = frameId != null ? { frameId } : undefined;
  const msg = { kind: K.UI_OPEN, selection: selection || "", frameTargeted: frameId != null, fromPopup: !!fromPopup };
  let answer = await tell(tab.id, msg, target);
  if (!answer) {
    // no content script there yet: a page outside the built-in sites (a second copy returns at once)
    try {
      const where = frameId != null ? { tabId: tab.id, frameIds: [frameId] } : { tabId: tab.id, allFrames: true };
      await chrome.scripting.executeScript({ target: where, files: [...S.CONTENT_FILES] });
    } catch (_) { /* a page extensions may not script (browser pages, web store) */ }
    answer = await tell(tab.id, msg, target);
  }
  if (!answer && frameId == null) answer = await tell(tab.id, { ...msg, frameTargeted: true }, { frameId: 0 });
  return !!answer;
}

chrome.commands.onCommand.addListener((command, tab) => {
  if (command === "rewrite") openInTab(tab);
});

// ---------- content scripts on the sites the agent added (options page) ----------

const SITE_SCRIPTS = "savy-sites";

/** Register the content scripts for exactly the origins in settings.sites (and no others). */
async function syncSiteScripts() {
  const st = await getSettings();
  const origins = (Array.isArray(st.sites) ? st.sites : []).map(S.normalizeSite).filter((x) => x.ok).map((x) => x.origin);
  try {
    await chrome.scripting.unregisterContentScripts({ ids: [SITE_SCRIPTS] });
  } catch (_) { /* none registered yet */ }
  if (!origins.length) return;
  const script = { id: SITE_SCRIPTS, js: [...S.CONTENT_FILES], runAt: "document_idle", allFrames: true, persistAcrossSessions: true };
  try {
    // editors in about:srcdoc frames (TinyMCE) belong to the page's origin
    await chrome.scripting.registerContentScripts([{ ...script, matches: origins.map((o) => `${o}/*`), matchOriginAsFallback: true }]);
  } catch (_) {
    // Firefox: no ports in match patterns, no matchOriginAsFallback — the host's pages
    const hosts = [...new Set(origins.map((o) => { const u = new URL(o); return `${u.protocol}//${u.hostname}/*`; }))];
    try {
      await chrome.scripting.registerContentScripts([{ ...script, matches: hosts }]);
    } catch (e) {
      console.warn("Sävy: could not register content scripts for", origins, e);
    }
  }
}
globalThis.savySyncSites = syncSiteScripts; // the browser tests wait on it
chrome.storage.onChanged.addListener((changes, area) => {
  if (area === "local" && changes.settings) syncSiteScripts();
});
chrome.runtime.onStartup.addListener(() => { syncSiteScripts(); });

chrome.runtime.onInstalled.addListener(() => {
  syncSiteScripts();
  chrome.contextMenus.removeAll(() => {
    chrome.contextMenus.create({ id: "savy-rewrite", title: chrome.i18n.getMessage("menuRewrite"), contexts: ["editable", "selection"] });
  });
});

chrome.contextMenus.onClicked.addListener((info, tab) => {
  if (info.menuItemId === "savy-rewrite") openInTab(tab, { frameId: info.frameId, selection: info.selectionText });
});
