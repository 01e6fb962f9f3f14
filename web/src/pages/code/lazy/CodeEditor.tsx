// CodeMirror 6, read-only (the file view) or editable (the browser editor), in a chunk of its own:
// no page loads it until it shows code. The language comes from @codemirror/language-data by
// the file's name, and only that language's package is loaded.
import { Compartment, EditorState } from "@codemirror/state";
import { languages } from "@codemirror/language-data";
import { EditorView, basicSetup } from "codemirror";
import { useEffect, useRef } from "react";

export interface CodeEditorProps {
  value: string;
  path: string; // picks the language
  label: string; // the accessible name of the text area
  readOnly?: boolean;
  onChange?: (text: string) => void;
}

// Light colours in both schemes: the highlighter's token colours are chosen for a light ground.
const theme = EditorView.theme({
  "&": { backgroundColor: "#fff", color: "#1a1a1a", fontSize: "13px", border: "1px solid #ced4da" },
  ".cm-scroller": { maxHeight: "70vh", fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace" },
  ".cm-gutters": { backgroundColor: "#f1f3f5", color: "#495057", borderRight: "1px solid #dee2e6" },
  ".cm-activeLineGutter": { backgroundColor: "#e3e7eb" },
  ".cm-activeLine": { backgroundColor: "#f3f6fb" },
  "&.cm-focused": { outline: "2px solid #1971c2" },
});

// Room to write in, even in an empty file.
const editing = EditorView.theme({ ".cm-content, .cm-gutter": { minHeight: "16em" } });

function languageFor(path: string) {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const ext = name.includes(".") ? name.slice(name.lastIndexOf(".") + 1).toLowerCase() : "";
  return (
    languages.find((l) => l.filename?.test(name)) ?? (ext ? languages.find((l) => l.extensions.includes(ext)) : undefined)
  );
}

export default function CodeEditor({ value, path, label, readOnly = false, onChange }: CodeEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const changed = useRef(onChange);
  changed.current = onChange;

  useEffect(() => {
    if (!host.current) return;
    const lang = new Compartment();
    const view = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          basicSetup,
          theme,
          readOnly ? [] : editing,
          lang.of([]),
          EditorState.readOnly.of(readOnly),
          EditorView.contentAttributes.of({ "aria-label": label, "aria-readonly": String(readOnly) }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) changed.current?.(u.state.doc.toString());
          }),
        ],
      }),
    });
    let live = true;
    const desc = languageFor(path);
    if (desc)
      void desc.load().then((support) => {
        if (live) view.dispatch({ effects: lang.reconfigure(support) });
      });
    return () => {
      live = false;
      view.destroy();
    };
    // The document is the initial value: a new value is a new editor (the caller changes `key`).
  }, [path, readOnly, label]);

  return <div ref={host} data-language={languageFor(path)?.name ?? "text"} />;
}
