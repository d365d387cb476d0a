// Site adapters: how each webmail / helpdesk shows the customer's last message, and which parts of a
// reply editor are not the agent's draft (quoted thread, signature). Selectors rot: they all live
// here, one small object per site. An adapter applies when the host matches, or when the page has the
// site's markup (helpdesks on custom domains, e.g. support.example.com on Zendesk or Freshdesk).
(function (root) {
  "use strict";

  // Inside any editor these are never part of the draft.
  const GENERIC_KEEP = [
    "blockquote", ".gmail_quote", ".gmail_signature", "[data-smartmail='gmail_signature']",
    "#divRplyFwdMsg", "#appendonsend", "#Signature", "#signature", ".signature", ".x_signature",
    "[data-savy-keep]", ".quote", ".freshdesk_quote", ".zd-quote",
  ];

  const ADAPTERS = [
    {
      id: "gmail",
      name: "Gmail",
      hosts: ["mail.google.com"],
      detect: ".a3s, div[g_editable='true']",
      // expanded message bodies in the open thread, oldest first
      messages: ["div.adn .a3s", "div.a3s"],
      keep: [".gmail_quote", ".gmail_signature", "[data-smartmail='gmail_signature']", ".gmail_extra"],
    },
    {
      id: "outlook",
      name: "Outlook",
      hosts: ["outlook.office.com", "outlook.live.com", "outlook.office365.com"],
      detect: "div[aria-label='Message body'], #ReadingPaneContainerId",
      messages: ["#ReadingPaneContainerId div[aria-label='Message body']:not([contenteditable='true'])",
        "div[role='document'] div[aria-label='Message body']:not([contenteditable='true'])"],
      keep: ["#divRplyFwdMsg", "#appendonsend", "#Signature", "#signature", "div[id^='x_divRplyFwdMsg']"],
    },
    {
      id: "zendesk",
      name: "Zendesk",
      hosts: [".zendesk.com"],
      detect: "[data-test-id='omni-log-container'], [data-test-id='omnicomposer-rich-text-ckeditor']",
      // end-user messages in the agent workspace conversation log
      messages: ["[data-test-id='omni-log-container'] article[data-test-id='omni-log-item-end-user'] [data-test-id='omni-log-message-content']",
        "[data-test-id='omni-log-container'] [data-test-id='omni-log-message-content']",
        ".zd-comment"],
      keep: [".zd-quote"],
    },
    {
      id: "freshdesk",
      name: "Freshdesk",
      hosts: [".freshdesk.com"],
      detect: ".ticket-details, [data-test-id='conversation-wrapper']",
      messages: ["[data-test-id='conversation-wrapper'] .conversation--requester .text__content",
        ".ticket-details .requester .text__content", ".ticket-description .text__content"],
      keep: [".freshdesk_quote", "blockquote.freshdesk_quote", ".redactor-signature"],
    },
    {
      id: "helpscout",
      name: "Help Scout",
      hosts: ["secure.helpscout.net"],
      detect: ".c-thread-list, #threads",
      messages: [".c-thread-list .c-thread-item--customer .c-thread-content",
        "#threads .thread.customer .messageBody"],
      keep: [".signature", "#signature"],
    },
    {
      id: "intercom",
      name: "Intercom",
      hosts: ["app.intercom.com"],
      detect: "[data-conversation-stream], .conversation__stream",
      messages: ["[data-conversation-stream] [data-part-author='user'] .conversation__text",
        ".conversation__stream .o__user .conversation__text"],
      keep: [],
    },
  ];

  function hostMatches(host, patterns) {
    const h = String(host || "").toLowerCase();
    return patterns.some((p) => (p.startsWith(".") ? h.endsWith(p) : h === p));
  }

  /** The adapter for this page, or null (generic page). */
  function pick(doc, host) {
    for (const a of ADAPTERS) if (hostMatches(host, a.hosts)) return a;
    for (const a of ADAPTERS) {
      try {
        if (doc.querySelector(a.detect)) return a;
      } catch (_) { /* a selector the engine does not know: skip */ }
    }
    return null;
  }

  const BLOCK = /^(DIV|P|LI|UL|OL|H[1-6]|TABLE|TR|PRE|SECTION|ARTICLE|HEADER|FOOTER|BLOCKQUOTE)$/;

  /** The text under `root` as it reads: a line break for each block and <br>, runs of white space
   *  as one space. Nodes matching a `skip` selector are left out; the walk ends at `stopAt`;
   *  `onText` sees every text node taken (the draft's range is built from it). Not yet trimmed. */
  function walkText(root, { skip = [], stopAt = null, onText = null } = {}) {
    let out = "";
    let stop = false;
    (function walk(n) {
      if (stop) return;
      if (n === stopAt) { stop = true; return; }
      if (n.nodeType === 3) {
        if (onText) onText(n);
        out += n.data.replace(/[\s\u00a0]+/g, " ");
        return;
      }
      if (n.nodeType !== 1) return;
      if (n.tagName === "BR") { out += "\n"; return; }
      if (/^(SCRIPT|STYLE|TEMPLATE)$/.test(n.tagName)) return;
      if (skip.some((sel) => { try { return n.matches(sel); } catch (_) { return false; } })) return;
      const block = n !== root && BLOCK.test(n.tagName);
      if (block && out && !out.endsWith("\n")) out += "\n";
      for (const c of Array.from(n.childNodes)) walk(c);
      if (block && out && !out.endsWith("\n")) out += "\n";
    })(root);
    return out;
  }

  /** A node's visible text with line breaks for blocks and <br>, skipping quoted history. */
  function nodeText(node, skip) {
    return walkText(node, { skip: ["[hidden]", ...skip] }).replace(/ *\n */g, "\n").trim();
  }

  /** Text of the customer's last message by the adapter's selectors, or null. */
  function customerMessage(adapter, doc, editor) {
    if (!adapter) return null;
    for (const sel of adapter.messages) {
      let nodes;
      try {
        nodes = Array.from(doc.querySelectorAll(sel));
      } catch (_) {
        continue;
      }
      nodes = nodes.filter((n) => !(editor && (n === editor || n.contains(editor) || editor.contains(n))));
      for (let i = nodes.length - 1; i >= 0; i--) {
        const text = root.SavyShared.stripQuotedHistory(root.SavyShared.cleanPageText(nodeText(nodes[i], GENERIC_KEEP.concat(adapter.keep))));
        if (text) return text;
      }
    }
    return null;
  }

  /** Nodes inside a contenteditable editor that are not the agent's draft. */
  function keptNodes(adapter, editor) {
    const sels = GENERIC_KEEP.concat(adapter ? adapter.keep : []);
    const found = [];
    for (const sel of sels) {
      try {
        for (const n of editor.querySelectorAll(sel)) found.push(n);
      } catch (_) { /* skip unknown selector */ }
    }
    // outermost only
    return found.filter((n) => !found.some((m) => m !== n && m.contains(n)));
  }

  const api = { ADAPTERS, GENERIC_KEEP, pick, customerMessage, keptNodes, hostMatches, nodeText, walkText };
  root.SavyAdapters = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
