// Builds the editor fixture pages for tests/test_editors.py into dist/: the ESM editors (bare
// imports) bundled with esbuild, the others loaded from their npm packages' own browser builds.
// Every page holds the same thread and the same three-paragraph draft, and exposes the editor's
// own model to the test as window.savyTest: data() (the editor's saved format), text() (its
// paragraphs joined by "\n") and paragraphs().
import { build } from "esbuild";
import { mkdirSync, writeFileSync } from "node:fs";

const DRAFT = ["Hi Tom,", "Your order 77120 shipped today, tracking number JJFI6620014471.", "Best, Sara"];
const P = DRAFT.map((l) => `<p>${l}</p>`).join("");
const START = `<div id="start" hidden>${P}</div>`;
const NM = "../node_modules";
// text() and paragraphs() for editors whose paragraphs are the editable element's children
const children = (el) => `{ text: () => [...${el}.children].map((p) => p.textContent).join("\\n"), paragraphs: () => ${el}.children.length }`;

const PAGES = {
  prosemirror: { body: `<div id="editor"></div>${START}`, bundle: true },
  tiptap: { body: `<div id="editor"></div>${START}`, bundle: true },
  lexical: { body: `<div id="editor" contenteditable="true"></div>${START}`, bundle: true },
  roosterjs: { body: `<div id="editor"></div>${START}`, bundle: true },
  quill: {
    head: `<link rel="stylesheet" href="${NM}/quill/dist/quill.snow.css">`,
    body: `<div id="editor">${P}</div><script src="${NM}/quill/dist/quill.js"></script>`,
    script: `const quill = new Quill("#editor", { theme: "snow" });
window.savyTest = { data: () => JSON.stringify(quill.getContents()), text: () => quill.getText().replace(/\\n$/, ""),
  paragraphs: () => quill.getLines().length };`,
  },
  froala: {
    head: `<link rel="stylesheet" href="${NM}/froala-editor/css/froala_editor.pkgd.min.css">`,
    body: `<div id="editor">${P}</div><script src="${NM}/froala-editor/js/froala_editor.pkgd.min.js"></script>`,
    script: `const fr = new FroalaEditor("#editor", {}, () => { window.savyTest = { data: () => fr.html.get(), ...${children("fr.el")} }; });`,
  },
  tinymce: {
    body: `<textarea id="editor">${P}</textarea><script src="${NM}/tinymce/tinymce.min.js"></script>`,
    script: `tinymce.init({ selector: "#editor", license_key: "gpl", menubar: false, height: 260 }).then(([ed]) => {
  window.savyTest = { data: () => ed.getContent(), ...${children("ed.getBody()")} }; });`,
  },
  ckeditor5: {
    head: `<link rel="stylesheet" href="${NM}/ckeditor5/dist/ckeditor5.css">
<script type="importmap">{"imports": {"ckeditor5": "${NM}/ckeditor5/dist/browser/ckeditor5.js"}}</script>`,
    body: `<div id="editor">${P}</div>`,
    module: true,
    script: `import { ClassicEditor, Essentials, Paragraph, Bold, Italic } from "ckeditor5";
const editor = await ClassicEditor.create(document.querySelector("#editor"), {
  licenseKey: "GPL", plugins: [Essentials, Paragraph, Bold, Italic], toolbar: ["bold", "italic", "undo", "redo"] });
const para = (p) => [...p.getChildren()].map((n) => n.data || "").join("");
window.savyTest = { data: () => editor.getData(), text: () => [...editor.model.document.getRoot().getChildren()].map(para).join("\\n"),
  paragraphs: () => editor.model.document.getRoot().childCount };`,
  },
  textarea: {
    body: `<textarea id="editor" rows="8" cols="80">${DRAFT.join("\n")}</textarea>`,
    script: `const ta = document.querySelector("#editor");
window.savyTest = { data: () => ta.value, text: () => ta.value, paragraphs: () => ta.value.split("\\n").length };`,
  },
  contenteditable: {
    body: `<div id="editor" contenteditable="true">${P}</div>`,
    script: `const ce = document.querySelector("#editor");
window.savyTest = { data: () => ce.innerHTML, ...${children("ce")} };`,
  },
};

mkdirSync("dist", { recursive: true });
await build({
  entryPoints: Object.keys(PAGES).filter((n) => PAGES[n].bundle).map((n) => `src/${n}.js`),
  bundle: true, format: "iife", outdir: "dist", logLevel: "warning", legalComments: "none",
});
for (const [name, p] of Object.entries(PAGES)) {
  const script = p.bundle ? `<script src="${name}.js"></script>`
    : `<script${p.module ? ' type="module"' : ""}>\n${p.script}\n</script>`;
  writeFileSync(`dist/${name}.html`, `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${name} fixture</title>
<style> body { font: 14px sans-serif; margin: 12px; } .thread { border: 1px solid #ccc; padding: 8px; margin-bottom: 12px; }
#editor { min-height: 160px; border: 1px solid #ddd; } </style>
${p.head || ""}</head>
<body>
<div class="thread"><p class="customer-msg">Hi, where is my order 77120? It was supposed to arrive yesterday.</p></div>
${p.body}
${script}
</body>
</html>
`);
}
