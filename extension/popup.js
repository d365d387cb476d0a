// Toolbar popup: server status, per-site on/off, open Sävy on the current page, settings.
(async function () {
  "use strict";
  const { KINDS } = globalThis.SavyShared;
  const t = (k, subs) => chrome.i18n.getMessage(k, subs) || k;
  const $ = (id) => document.getElementById(id);
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  document.documentElement.lang = chrome.i18n.getUILanguage().startsWith("fi") ? "fi" : "en";
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  let host = "";
  try { host = new URL(tab.url).hostname; } catch (_) { /* a browser page */ }
  $("host").textContent = host || "–";
  const { settings } = await chrome.runtime.sendMessage({ kind: KINDS.SETTINGS_GET });
  let off = settings.disabledHosts.includes(host);
  const render = () => { $("toggle").textContent = t(off ? "popupOff" : "popupOn"); $("toggle").setAttribute("aria-pressed", String(!off)); };
  render();
  $("toggle").disabled = !host;
  $("toggle").addEventListener("click", async () => {
    const r = await chrome.runtime.sendMessage({ kind: KINDS.SITE_TOGGLE, host });
    if (r.ok) { off = r.settings.disabledHosts.includes(host); render(); }
  });
  $("run").addEventListener("click", async () => {
    // opening the popup granted activeTab: the service worker injects into this page (only now, on
    // the agent's action) and opens the panel for its focused editor, or says to click into one
    await chrome.runtime.sendMessage({ kind: KINDS.TAB_OPEN, tabId: tab.id });
    window.close();
  });
  $("options").addEventListener("click", () => chrome.runtime.openOptionsPage());
  const r = await chrome.runtime.sendMessage({ kind: KINDS.SERVER_CHECK, server: settings.server, token: settings.token });
  $("server").textContent = r.ok ? t("chkOk", [r.health.model, String(r.rules)]) : (chrome.i18n.getMessage(`err_${r.error.code}`) || chrome.i18n.getMessage(`chk_${r.error.code}`) || r.error.code);
})();
