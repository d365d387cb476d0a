// Options: server address and token, checked live against the server (through the service worker).
(function () {
  "use strict";
  const { KINDS } = globalThis.SavyShared;
  const t = (k, subs) => chrome.i18n.getMessage(k, subs) || k;
  const $ = (id) => document.getElementById(id);
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  document.documentElement.lang = chrome.i18n.getUILanguage().startsWith("fi") ? "fi" : "en";

  let current = null;
  let checkSeq = 0;

  function renderDisabled() {
    const ul = $("disabled");
    ul.textContent = "";
    if (!current.disabledHosts.length) {
      ul.append(Object.assign(document.createElement("li"), { textContent: t("optNoneDisabled") }));
      return;
    }
    for (const host of current.disabledHosts) {
      const li = document.createElement("li");
      const b = Object.assign(document.createElement("button"), { type: "button", textContent: t("optRemove") });
      b.setAttribute("aria-label", `${t("optRemove")}: ${host}`);
      b.addEventListener("click", async () => {
        const r = await chrome.runtime.sendMessage({ kind: KINDS.SITE_TOGGLE, host });
        if (r.ok) { current = r.settings; renderDisabled(); }
      });
      li.append(`${host} `, b);
      ul.append(li);
    }
  }

  async function check() {
    const seq = ++checkSeq;
    const out = $("check");
    out.className = "check";
    out.textContent = t("chkChecking");
    const r = await chrome.runtime.sendMessage({ kind: KINDS.SERVER_CHECK, server: $("server").value, token: $("token").value });
    if (seq !== checkSeq) return;
    if (r.ok) {
      out.textContent = r.health.ready ? t("chkOk", [r.health.model, String(r.rules)]) : t("chkNotReady");
      // an older server has no such field: only an explicit false is news
      const noFinnishCheck = r.health.finnish_word_check === false;
      if (noFinnishCheck) out.textContent += " " + t("chkNoFinnishCheck");
      out.classList.add(noFinnishCheck ? "warn" : "ok");
      return;
    }
    const code = r.error.code;
    const key = ["not_a_url", "not_http", "not_loopback", "no_token"].includes(code) ? `chk_${code}` : `err_${code}`;
    const text = chrome.i18n.getMessage(key) || `${t("err_server_error")} (${r.error.message || code})`;
    out.textContent = text;
    out.classList.add(code === "no_token" ? "warn" : "bad");
  }

  let timer = 0;
  const later = () => { clearTimeout(timer); timer = setTimeout(check, 400); };
  $("server").addEventListener("input", later);
  $("token").addEventListener("input", later);

  $("form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const sites = [];
    for (const line of $("sites").value.split(/\s+/).filter(Boolean)) {
      const site = globalThis.SavyShared.normalizeSite(line);
      if (!site.ok) {
        $("saved").textContent = `${t("optSiteBad")} ${line}`;
        return;
      }
      sites.push(site.origin);
    }
    // a site beyond this computer needs the browser's permission, asked on this click
    const away = sites.filter((o) => !/^http:\/\/(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?$/.test(o));
    if (away.length && !(await chrome.permissions.request({ origins: away.map((o) => `${o}/*`) }))) {
      $("saved").textContent = t("optSiteDenied");
      return;
    }
    const r = await chrome.runtime.sendMessage({ kind: KINDS.SETTINGS_SAVE,
      settings: { server: $("server").value, token: $("token").value, hints: $("hints").checked, sites } });
    if (!r.ok) {
      $("saved").textContent = chrome.i18n.getMessage(`chk_${r.error.code}`) || r.error.code;
      return;
    }
    current = r.settings;
    $("server").value = current.server;
    $("saved").textContent = t("optSaved");
    check();
  });

  chrome.runtime.sendMessage({ kind: KINDS.SETTINGS_GET }).then((r) => {
    current = r.settings;
    $("server").value = current.server;
    $("token").value = current.token;
    $("hints").checked = current.hints;
    $("sites").value = (current.sites || []).join("\n");
    renderDisabled();
    check();
  });
})();
