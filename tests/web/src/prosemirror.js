import { EditorState } from "prosemirror-state";
import { EditorView } from "prosemirror-view";
import { DOMParser } from "prosemirror-model";
import { schema } from "prosemirror-schema-basic";
import { history, undo, redo } from "prosemirror-history";
import { keymap } from "prosemirror-keymap";
import { baseKeymap } from "prosemirror-commands";

const host = document.querySelector("#editor");
const start = document.querySelector("#start");
const view = new EditorView(host, {
  state: EditorState.create({
    doc: DOMParser.fromSchema(schema).parse(start),
    plugins: [history(), keymap({ "Mod-z": undo, "Mod-y": redo, "Shift-Mod-z": redo }), keymap(baseKeymap)],
  }),
});
start.remove();
window.savyTest = {
  data: () => JSON.stringify(view.state.doc.toJSON()),
  text: () => view.state.doc.textBetween(0, view.state.doc.content.size, "\n"),
  paragraphs: () => view.state.doc.childCount,
};
