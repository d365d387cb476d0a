import { createEditor, $getRoot, $createParagraphNode, $createTextNode } from "lexical";
import { registerRichText } from "@lexical/rich-text";
import { registerHistory, createEmptyHistoryState } from "@lexical/history";
import { mergeRegister } from "@lexical/utils";

const editor = createEditor({ namespace: "savy-fixture", onError: (e) => { throw e; } });
editor.setRootElement(document.querySelector("#editor"));
mergeRegister(registerRichText(editor), registerHistory(editor, createEmptyHistoryState(), 300));
const start = document.querySelector("#start");
const paras = [...start.querySelectorAll("p")].map((p) => p.textContent);
start.remove();
editor.update(() => {
  const root = $getRoot();
  root.clear();
  for (const t of paras) root.append($createParagraphNode().append($createTextNode(t)));
}, { discrete: true, tag: "history-merge" });
window.savyTest = {
  data: () => JSON.stringify(editor.getEditorState().toJSON()),
  text: () => editor.getEditorState().read(() => $getRoot().getChildren().map((n) => n.getTextContent()).join("\n")),
  paragraphs: () => editor.getEditorState().read(() => $getRoot().getChildrenSize()),
};
