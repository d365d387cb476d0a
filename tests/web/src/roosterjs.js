import { Editor, exportContent, createModelFromHtml } from "roosterjs";

const host = document.querySelector("#editor");
const start = document.querySelector("#start");
const editor = new Editor(host, { initialModel: createModelFromHtml(start.innerHTML) });
start.remove();
window.savyTest = {
  data: () => exportContent(editor),
  text: () => [...host.children].map((p) => p.textContent).join("\n"),
  paragraphs: () => host.children.length,
};
