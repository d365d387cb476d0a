import { Editor } from "@tiptap/core";
import StarterKit from "@tiptap/starter-kit";

const start = document.querySelector("#start");
const editor = new Editor({ element: document.querySelector("#editor"), extensions: [StarterKit], content: start.innerHTML });
start.remove();
window.savyTest = {
  data: () => editor.getHTML(),
  text: () => editor.getText({ blockSeparator: "\n" }),
  paragraphs: () => editor.state.doc.childCount,
};
