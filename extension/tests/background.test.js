// The service worker's message handling with a stub chrome.* and fetch: node --test extension/tests/
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const S = require("../lib/shared.js");

const SOURCE = fs.readFileSync(path.join(__dirname, "..", "background.js"), "utf8");

/** Load background.js into a fresh context; returns its listeners, every fetch it made and every
 *  message it sent to a tab. frames: how the tab's frames answer ui/open ({frameId} => answer). */
function load(stored, frames = () => undefined) {
  const listeners = {};
  const on = (name) => ({ addListener: (f) => { listeners[name] = f; } });
  const fetches = [];
  const toTabs = [];
  const injected = [];
  const sse = 'event: delta\ndata: {"text": "Hei", "attempt": 1, "tokens": 1}\n\n' +
    'event: done\ndata: {"rewrite": "Hei!"}\n\n';
  const registered = [];
  const chrome = {
    storage: { local: { get: async () => ({ settings: stored }), set: async (v) => { stored = v.settings; } },
      onChanged: on("storage") },
    runtime: { onMessage: on("message"), onConnect: on("connect"), onInstalled: on("installed"), onStartup: on("startup"),
      getURL: (p) => `chrome-extension://savy/${p}` },
    i18n: { getUILanguage: () => "en", getMessage: (k) => k },
    commands: { onCommand: on("command"), getAll: async () => [{ name: "rewrite", shortcut: "Ctrl+Shift+Y" }] },
    contextMenus: { onClicked: on("menu"), removeAll: (cb) => cb(), create: () => {} },
    tabs: { sendMessage: async (tabId, msg, target) => { toTabs.push({ tabId, msg, target }); return frames(target || {}); } },
    scripting: { executeScript: async (opts) => { injected.push(opts); },
      registerContentScripts: async (list) => { registered.push(...list); },
      unregisterContentScripts: async ({ ids }) => {
        for (const id of ids) { const i = registered.findIndex((r) => r.id === id); if (i >= 0) registered.splice(i, 1); }
      } },
  };
  const fetch = async (url, init) => {
    fetches.push({ url, init });
    const bytes = new TextEncoder().encode(sse);
    let sent = false;
    return {
      ok: true, status: 200, headers: { get: () => null },
      json: async () => ({ result: "ok", rules: [] }),
      body: { getReader: () => ({ read: async () => (sent ? { done: true } : ((sent = true), { value: bytes, done: false })) }) },
    };
  };
  const ctx = vm.createContext({ chrome, fetch, SavyShared: S, TextDecoder, TextEncoder, AbortController,
    setTimeout, clearTimeout, URL, console });
  ctx.globalThis = ctx;
  vm.runInContext(SOURCE, ctx, { filename: "background.js" });
  return { listeners, fetches, toTabs, injected, registered, sync: ctx.savySyncSites };
}

function ask(listeners, msg, sender = { url: "https://mail.google.com/" }) {
  return new Promise((resolve) => listeners.message(msg, sender, resolve));
}

function connect(listeners) {
  const port = { name: "rewrite", sent: [], msg: null, disc: null };
  port.onMessage = { addListener: (f) => { port.msg = f; } };
  port.onDisconnect = { addListener: (f) => { port.disc = f; } };
  port.postMessage = (m) => port.sent.push(m);
  listeners.connect(port);
  return port;
}

const tick = () => new Promise((r) => setTimeout(r, 20));
const plain = (x) => JSON.parse(JSON.stringify(x)); // objects made inside the vm context have its prototypes

test("a stored non-loopback server is never called: the default loopback one is", async () => {
  const { listeners, fetches } = load({ server: "https://collector.example", token: "t", hints: true });
  await ask(listeners, { kind: "analyze", draft: "Hei" });
  assert.equal(fetches.length, 1);
  assert.equal(fetches[0].url, `${S.DEFAULT_SERVER}/v1/analyze`);
  const port = connect(listeners);
  port.msg({ kind: "rewrite/start", draft: "Hei", customer_message: null });
  await tick();
  assert.equal(fetches[1].url, `${S.DEFAULT_SERVER}/v1/rewrite/stream`);
});

test("hints off: the draft is not sent", async () => {
  const { listeners, fetches } = load({ server: "http://127.0.0.1:9999", token: "t", hints: false });
  const r = await ask(listeners, { kind: "analyze", draft: "Hei" });
  assert.equal(r.error.code, "hints_off");
  assert.equal(fetches.length, 0);
});

test("rewrite port: pings are ignored, one rewrite per port, deltas keep their kind", async () => {
  const { listeners, fetches } = load({ server: "http://127.0.0.1:9999", token: "t" });
  const port = connect(listeners);
  port.msg({ kind: "rewrite/ping" });
  await tick();
  assert.equal(fetches.length, 0);
  assert.deepEqual(port.sent, []);
  port.msg({ kind: "rewrite/start", draft: "Hei", customer_message: null });
  port.msg({ kind: "rewrite/start", draft: "Toinen", customer_message: null });
  port.msg({ kind: "rewrite/ping" });
  await tick();
  assert.equal(fetches.length, 1);
  assert.equal(fetches[0].url, "http://127.0.0.1:9999/v1/rewrite/stream");
  assert.deepEqual(port.sent.map((m) => m.kind), ["rewrite/progress", "rewrite/delta", "rewrite/done"]);
  assert.equal(port.sent[1].text, "Hei");
  assert.equal(port.sent[2].result.rewrite, "Hei!");
});

test("settings are changed only from the extension's own pages", async () => {
  const { listeners } = load({});
  const r = await ask(listeners, { kind: "settings/save", settings: { server: "http://127.0.0.1:1" } });
  assert.equal(r.error.code, "forbidden");
  const ok = await ask(listeners, { kind: "settings/save", settings: { server: "http://127.0.0.1:1/x" } },
    { url: "chrome-extension://savy/options.html" });
  assert.equal(ok.settings.server, "http://127.0.0.1:1");
});

test("popup's Open: the frame with a focused editor opens the panel, no injection needed", async () => {
  const { listeners, toTabs, injected } = load({}, () => ({ handled: true }));
  const r = await ask(listeners, { kind: "tab/open", tabId: 7 }, { url: "chrome-extension://savy/popup.html" });
  assert.equal(r.ok, true);
  assert.deepEqual(toTabs.map((m) => [m.tabId, m.msg.kind, m.msg.fromPopup]), [[7, "ui/open", true]]);
  assert.equal(injected.length, 0);
});

test("popup's Open on a page without Sävy: inject, ask again, else the top frame shows the toast", async () => {
  const { listeners, toTabs, injected } = load({}, (target) => (target.frameId === 0 ? { handled: true } : undefined));
  const r = await ask(listeners, { kind: "tab/open", tabId: 7 }, { url: "chrome-extension://savy/popup.html" });
  assert.equal(r.ok, true);
  assert.deepEqual(plain(injected.map((o) => o.target)), [{ tabId: 7, allFrames: true }]);
  assert.equal(toTabs.length, 3);
  assert.deepEqual(plain(toTabs[2].target), { frameId: 0 });
  assert.equal(toTabs[2].msg.frameTargeted, true);
});

test("only Sävy's own pages may open the panel in a tab", async () => {
  const { listeners, toTabs } = load({});
  const r = await ask(listeners, { kind: "tab/open", tabId: 7 });
  assert.equal(r.error.code, "forbidden");
  assert.equal(toTabs.length, 0);
});

test("the shortcut reaches the focused frame, and falls back to the top frame's toast", async () => {
  const { listeners, toTabs } = load({}, (target) => (target.frameId === 0 ? { handled: true } : undefined));
  listeners.command("rewrite", { id: 3 });
  await tick();
  assert.equal(toTabs[0].msg.kind, "ui/open");
  assert.equal(toTabs[0].msg.fromPopup, false);
  assert.deepEqual(plain(toTabs[toTabs.length - 1].target), { frameId: 0 });
});

test("the button's tooltip can name the shortcut the agent set, not only the suggested one", async () => {
  const { listeners } = load({});
  const r = await ask(listeners, { kind: "shortcut/get" });
  assert.deepEqual(plain(r), { ok: true, shortcut: "Ctrl+Shift+Y" });
});

test("the token never reaches a content script; server checks are for Sävy's own pages only", async () => {
  const { listeners, fetches } = load({ token: "tok-1234567890abcdef", server: "http://127.0.0.1:8765" });
  const page = await ask(listeners, { kind: "settings/get" });
  assert.equal(page.ok, true);
  assert.equal(page.settings.token, undefined);
  assert.equal(page.settings.hasToken, true);
  const own = await ask(listeners, { kind: "settings/get" }, { url: "chrome-extension://savy/options.html" });
  assert.equal(own.settings.token, "tok-1234567890abcdef");
  const probe = await ask(listeners, { kind: "server/check", server: "http://127.0.0.1:22", token: "x" });
  assert.equal(probe.error.code, "forbidden");
  assert.equal(fetches.length, 0);
});


test("content scripts run on exactly the sites the agent added, none on loopback by default", async () => {
  const own = { url: "chrome-extension://savy/options.html" };
  const { listeners, registered, sync } = load({ server: "http://127.0.0.1:8765", token: "t" });
  await sync();
  assert.equal(registered.length, 0); // no loopback page (a dev server, Sävy's own /docs) by default
  const bad = await ask(listeners, { kind: S.KINDS.SETTINGS_SAVE, settings: { sites: ["ftp://x.example"] } }, own);
  assert.equal(bad.ok, false);
  const r = await ask(listeners, { kind: S.KINDS.SETTINGS_SAVE,
    settings: { sites: ["https://support.example.com/agent/tickets", "http://127.0.0.1:8080"] } }, own);
  assert.deepEqual(plain(r.settings.sites), ["https://support.example.com", "http://127.0.0.1:8080"]);
  await sync();
  assert.equal(registered.length, 1);
  assert.deepEqual(plain(registered[0].matches), ["https://support.example.com/*", "http://127.0.0.1:8080/*"]);
  assert.deepEqual(plain(registered[0].js), [...S.CONTENT_FILES]);
  // a content script cannot change the sites
  const fromPage = await ask(listeners, { kind: S.KINDS.SETTINGS_SAVE, settings: { sites: ["http://127.0.0.1"] } });
  assert.equal(fromPage.ok, false);
});
