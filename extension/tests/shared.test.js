// Unit tests for the extension's pure logic: node --test extension/tests/
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const S = require("../lib/shared.js");
const A = require("../lib/adapters.js");

test("diffWords marks additions and deletions and rebuilds both texts", () => {
  const a = "Eipä mitään. Paketti 20417 lähtee 3.12.2026.";
  const b = "Ole hyvä, mukava kuulla! Paketti 20417 lähtee 3.12.2026.";
  const d = S.diffWords(a, b);
  const rebuild = (ops) => d.filter((o) => ops.includes(o.op)).map((o) => o.text).join("");
  assert.equal(rebuild(["same", "del"]), a);
  assert.equal(rebuild(["same", "add"]), b);
  assert.ok(d.some((o) => o.op === "del" && o.text.includes("Eipä")));
  assert.ok(d.some((o) => o.op === "add" && o.text.includes("mukava")));
  assert.ok(d.some((o) => o.op === "same" && o.text.includes("20417")));
});

test("diffWords of identical texts is one unchanged run; of empty draft one addition", () => {
  assert.deepEqual(S.diffWords("Hei!", "Hei!"), [{ op: "same", text: "Hei!" }]);
  assert.deepEqual(S.diffWords("", "Hei"), [{ op: "add", text: "Hei" }]);
});

test("diffWords stays correct on long texts", () => {
  const a = Array.from({ length: 3000 }, (_, i) => `w${i}`).join(" ");
  const b = a.replace("w1500", "CHANGED");
  const d = S.diffWords(a, b);
  assert.equal(d.filter((o) => o.op !== "add").map((o) => o.text).join(""), a);
  assert.equal(d.filter((o) => o.op !== "del").map((o) => o.text).join(""), b);
});

test("SSE parser handles split chunks, comments, CRLF and several events per chunk", () => {
  const p = S.createSseParser();
  assert.deepEqual(p.feed(": accepted\n\nevent: delta\ndata: {\"text\": \"Hei"), []);
  const got = p.feed("\", \"attempt\": 1, \"tokens\": 2}\r\n\r\nevent: done\ndata: {\"rewrite\": \"x\"}\n\n");
  assert.deepEqual(got, [
    { event: "delta", data: { text: "Hei", attempt: 1, tokens: 2 } },
    { event: "done", data: { rewrite: "x" } },
  ]);
});

test("only loopback servers are accepted", () => {
  assert.deepEqual(S.normalizeServerUrl("http://127.0.0.1:8765/"), { ok: true, url: "http://127.0.0.1:8765" });
  assert.equal(S.normalizeServerUrl("http://localhost:9000").ok, true);
  assert.equal(S.normalizeServerUrl("http://[::1]:8765").ok, true);
  assert.equal(S.normalizeServerUrl("http://example.com:8765").error, "not_loopback");
  assert.equal(S.normalizeServerUrl("http://127.0.0.1.evil.com").error, "not_loopback");
  assert.equal(S.normalizeServerUrl("ftp://127.0.0.1").error, "not_http");
  assert.equal(S.normalizeServerUrl("https://127.0.0.1:8765").error, "not_http");
  assert.equal(S.normalizeServerUrl("not a url").error, "not_a_url");
  assert.equal(S.normalizeServerUrl("http://user:pw@127.0.0.1:8765").error, "not_a_url");
});

test("message protocol: kinds and required fields are checked", () => {
  assert.equal(S.checkMessage({ kind: "analyze", draft: "x" }), null);
  assert.match(S.checkMessage({ kind: "analyze" }), /missing draft/);
  assert.match(S.checkMessage({ kind: "steal/cookies" }), /unknown kind/);
  assert.match(S.checkMessage({ kind: "rewrite/start", draft: 5 }), /must be text/);
  assert.match(S.checkMessage(null), /without a kind/);
});

test("errors map to the codes the UI explains", () => {
  assert.equal(S.describeError({ networkError: true }).code, "server_down");
  assert.equal(S.describeError({ networkError: true, aborted: true }).code, "cancelled");
  assert.equal(S.describeError({ status: 401, body: { error: { code: "unauthorized", message: "m" } } }).code, "bad_token");
  assert.equal(S.describeError({ status: 503 }).code, "busy");
  assert.equal(S.describeError({ status: 504 }).code, "timeout");
  assert.equal(S.describeError({ status: 413 }).code, "too_large");
  assert.deepEqual(S.describeError({ status: 500, body: { error: { code: "internal", message: "m" } } }), { code: "internal", message: "m" });
});

test("draftBounds leaves a signature and a quoted history out of the draft", () => {
  const v = "  Refund issued.\nThanks!\n\n-- \nSam\nAcme";
  const b = S.draftBounds(v);
  assert.equal(v.slice(b.start, b.end), "Refund issued.\nThanks!");
  const q = "Kiitos!\n\nma 30.11.2026 klo 9.12 Liisa kirjoitti:\n> Hei";
  const bq = S.draftBounds(q);
  assert.equal(q.slice(bq.start, bq.end), "Kiitos!");
  assert.deepEqual(S.draftBounds("   "), { start: 3, end: 3 });
});

test("page text: quoted history stripped, long text capped from the end", () => {
  assert.equal(S.stripQuotedHistory("Hi there\nOn Mon, 1 Dec 2026 Sam wrote:\n> old"), "Hi there");
  assert.equal(S.stripQuotedHistory("Moi\n> lainaus\nuusi rivi"), "Moi\nuusi rivi");
  assert.equal(S.cleanPageText("a\u00a0b  \n\n\n\nc"), "a b\n\nc");
  assert.equal(S.cleanPageText("x".repeat(9000)).length, S.MAX_FIELD_CHARS);
});

test("per-site switch covers subdomains, not look-alikes", () => {
  assert.equal(S.siteDisabled("acme.zendesk.com", ["zendesk.com"]), true);
  assert.equal(S.siteDisabled("zendesk.com.evil.io", ["zendesk.com"]), false);
  assert.equal(S.siteDisabled("mail.google.com", []), false);
});

test("adapters: hosts pick their site; selectors are all in one table", () => {
  const none = { querySelector: () => null };
  assert.equal(A.pick(none, "mail.google.com").id, "gmail");
  assert.equal(A.pick(none, "acme.zendesk.com").id, "zendesk");
  assert.equal(A.pick(none, "acme.freshdesk.com").id, "freshdesk");
  assert.equal(A.pick(none, "outlook.office.com").id, "outlook");
  assert.equal(A.pick(none, "secure.helpscout.net").id, "helpscout");
  assert.equal(A.pick(none, "app.intercom.com").id, "intercom");
  assert.equal(A.pick(none, "zendesk.com.evil.io"), null);
  // custom domains are recognised by their markup
  const markup = { querySelector: (sel) => (sel.includes("omni-log-container") ? {} : null) };
  assert.equal(A.pick(markup, "support.example.com").id, "zendesk");
  for (const a of A.ADAPTERS) {
    assert.ok(a.id && a.name && a.hosts.length && a.detect && a.messages.length, a.id);
  }
});

test("adapters: customer message text from a minimal DOM, quoted parts skipped", () => {
  // a tiny DOM stand-in: enough for nodeText's walk
  const text = (d) => ({ nodeType: 3, data: d });
  const el = (tag, kids, cls = "") => ({ nodeType: 1, tagName: tag, childNodes: kids, hidden: false,
    matches: (sel) => cls && sel === `.${cls}` });
  const msg = el("DIV", [el("DIV", [text("Hei,")]), el("DIV", [text("paketti  ei tullut.")]),
    el("DIV", [text("vanha viesti")], "gmail_quote")]);
  assert.equal(A.nodeText(msg, [".gmail_quote"]), "Hei,\npaketti ei tullut.");
  const doc = { querySelector: () => null, querySelectorAll: (sel) => (sel === "div.adn .a3s" ? [msg] : []) };
  assert.equal(A.customerMessage(A.pick(doc, "mail.google.com"), doc, null), "Hei,\npaketti ei tullut.");
});

test("message protocol: the keep-alive ping is a known kind without fields", () => {
  assert.equal(S.KINDS.REWRITE_PING, "rewrite/ping");
  assert.equal(S.checkMessage({ kind: "rewrite/ping" }), null);
});

test("server warnings: one summary per kind, matched on the pipeline's wording", () => {
  const rules = S.summarizeWarnings([
    "Model attempt 1 rejected by the guard: missing fact 20417.",
    "Model attempt 2 rejected by the guard: missing fact 20417.",
    "Using the rules-only rewrite.",
    "Blames the customer: the rules could not fix it automatically.",
    "Says no apology: the rules could not fix it automatically.",
  ]);
  assert.deepEqual(rules.map((w) => [w.kind, w.count]), [["rulesUsed", 1], ["notFixed", 2]]);
  // a rejected first try followed by a good second one is worth its own line
  assert.deepEqual(S.summarizeWarnings(["Model attempt 1 rejected by the guard: x."]).map((w) => w.kind), ["modelRejected"]);
  assert.deepEqual(S.summarizeWarnings([
    "Model attempt 1 rejected by the guard: x.", "The engine was busy for a second attempt.",
    "No framed rewrite passed the checks; returning the draft unchanged.", "Something new.",
  ]).map((w) => w.kind), ["draftKept", "busy", "other"]);
  assert.deepEqual(S.summarizeWarnings([]), []);
  assert.deepEqual(S.summarizeWarnings(undefined), []);
});

test("a remembered page selection is used only while current, or recent and still on the page", () => {
  const now = 1_000_000;
  const sel = { text: "My parcel is late", at: now - 10_000 };
  assert.equal(S.selectionStillValid(sel, { now, current: "", present: true }), true);
  assert.equal(S.selectionStillValid(sel, { now, current: "", present: false }), false, "gone from the page");
  const old = { ...sel, at: now - S.SELECTION_FRESH_MS - 1 };
  assert.equal(S.selectionStillValid(old, { now, current: "", present: true }), false, "made long ago");
  assert.equal(S.selectionStillValid(old, { now, current: "  My parcel\u00a0is late \n", present: true }), true, "still selected");
  assert.equal(S.selectionStillValid(old, { now, current: "something else", present: true }), false);
  assert.equal(S.selectionStillValid(null, { now, current: "x", present: true }), false);
  assert.equal(S.selectionStillValid({ text: "", at: now }, { now, current: "", present: true }), false);
});

test("an orphaned content script is recognised by its runtime or by the error it gets", () => {
  assert.equal(S.contextInvalidated({ id: "abc" }, null), false);
  assert.equal(S.contextInvalidated({ id: "abc" }, new Error("Could not establish connection.")), false);
  assert.equal(S.contextInvalidated({ id: undefined }, null), true);
  assert.equal(S.contextInvalidated(undefined, null), true);
  assert.equal(S.contextInvalidated({ id: "abc" }, new Error("Extension context invalidated.")), true);
  assert.equal(S.contextInvalidated({ id: "abc" }, "Error: Extension context invalidated."), true);
  const throwing = { get id() { throw new Error("Extension context invalidated."); } };
  assert.equal(S.contextInvalidated(throwing, null), true);
});

test("openerOptions: the chosen opening first, then distinct checked alternatives", () => {
  assert.deepEqual(S.openerOptions({ rewrite: "x" }), []);
  assert.deepEqual(S.openerOptions({ rewrite: "A b", opener: "A", alternatives: [] }), [{ opener: "A", rewrite: "A b" }]);
  const res = { rewrite: "A b", opener: "A", alternatives: [
    { opener: "C", rewrite: "C b" }, { opener: "A", rewrite: "A again" }, { opener: 3, rewrite: "bad" }, null] };
  assert.deepEqual(S.openerOptions(res).map((o) => o.opener), ["A", "C"]);
});
