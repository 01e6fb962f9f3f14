// The terminal page on an environment's own origin (/_atrium/terminal, served by Atrium): xterm.js
// full window, connected to the terminal app's WebSocket on this same origin (the environment's
// cookie signs it in; the proxy checks Origin). Resizes follow the window (fit addon -> the app's
// set_size), Ctrl+Shift+C / Ctrl+Shift+V and the buttons copy and paste, and a dropped connection
// reconnects on its own, visibly (session.ts).
import "@xterm/xterm/css/xterm.css";
import "./terminal.css";
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { phaseText, Session } from "./session";

const $ = (id: string) => document.getElementById(id)!;
const screen = $("screen");
const stateEl = $("state");
const sizeEl = $("size");

const term = new Terminal({
  cursorBlink: true,
  fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace',
  fontSize: 14,
  scrollback: 5000,
  theme: { background: "#101418", foreground: "#e6e6e6" },
});
const fit = new FitAddon();
term.loadAddon(fit);
term.open(screen);

const wsUrl = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/websocket`;
const session = new Session({
  open: () => new WebSocket(wsUrl),
  output: (s) => term.write(s),
  view: (v) => {
    stateEl.textContent = phaseText(v);
    stateEl.dataset.phase = v.phase;
  },
  size: () => ({ rows: term.rows, cols: term.cols }),
  setTimer: (f, ms) => window.setTimeout(f, ms),
  clearTimer: (t) => window.clearTimeout(t as number),
});

term.onData((d) => session.send(d));
term.onResize(({ rows, cols }) => {
  sizeEl.textContent = `${cols}×${rows}`;
  session.resize();
});

async function copy() {
  const text = term.getSelection();
  if (text) await navigator.clipboard.writeText(text).catch(() => undefined);
  term.focus();
}

async function paste() {
  term.focus(); // before the clipboard answers: a key pressed meanwhile goes to the shell
  const text = await navigator.clipboard.readText().catch(() => "");
  if (text) term.paste(text);
}

// Ctrl+C stays the shell's interrupt; Ctrl+Shift+C / Ctrl+Shift+V copy and paste. The terminal
// takes Tab for the shell, so F6 is the keyboard's way out of it, to the buttons.
term.attachCustomKeyEventHandler((e) => {
  if (e.type === "keydown" && e.key === "F6") {
    $("copy").focus();
    return false;
  }
  if (e.type !== "keydown" || !e.ctrlKey || !e.shiftKey) return true;
  if (e.code === "KeyC") {
    void copy();
    return false;
  }
  if (e.code === "KeyV") {
    void paste();
    return false;
  }
  return true;
});

// F6 from the buttons goes back into the terminal.
$("terminal-page").addEventListener("keydown", (e) => {
  if (e.key === "F6" && !screen.contains(e.target as Node)) {
    e.preventDefault();
    term.focus();
  }
});
$("copy").addEventListener("click", () => void copy());
$("paste").addEventListener("click", () => void paste());
$("reconnect").addEventListener("click", () => {
  session.connect();
  term.focus();
});

const refit = () => {
  try {
    fit.fit();
  } catch {
    // not laid out yet
  }
  sizeEl.textContent = `${term.cols}×${term.rows}`;
};
new ResizeObserver(refit).observe(screen);
window.addEventListener("resize", refit);
refit();
document.title = `Terminal · ${location.hostname.split(".")[0]}`;
session.connect();
term.focus();
