// A job's log as it arrives over the WebSocket (binary messages, any split): bytes -> text
// (UTF-8 characters split across messages are kept until complete) -> styled spans (ANSI SGR
// colours and decorations through anser, whose colour state carries over from one message to the
// next; an escape sequence split across messages waits for its end). `offset` is the byte offset
// to resume from after a reconnect: the start offset plus every byte received.
import Anser from "anser";

export interface Span {
  text: string;
  className: string; // ansi-<colour>-fg / -bg and ansi-<decoration> classes (JobLog.css)
  color?: string; // 24-bit colours, which have no class
  background?: string;
}

// Where an incomplete escape sequence (ESC, ESC [, ESC [ 3 1 ...) starts at the end of `s`, else -1.
export function incompleteEscapeAt(s: string): number {
  const i = s.lastIndexOf("\x1b");
  if (i < 0) return -1;
  const rest = s.slice(i + 1);
  if (rest === "") return i;
  if (rest[0] !== "[") return -1; // not a CSI: anser leaves it as text
  // CSI: parameter and intermediate bytes, then one final byte in @..~
  return /^\[[\x20-\x3f]*$/.test(rest) ? i : -1;
}

export class LogDecoder {
  offset: number;
  private readonly utf8 = new TextDecoder("utf-8");
  private readonly anser = new Anser();
  private held = ""; // an incomplete escape sequence from the last message
  private style: Span = { text: "", className: "" }; // the style the last message ended with

  constructor(startOffset = 0) {
    this.offset = startOffset;
  }

  // One message's bytes -> the spans of the text now complete.
  push(bytes: Uint8Array): Span[] {
    this.offset += bytes.byteLength;
    return this.spans(this.utf8.decode(bytes, { stream: true }), false);
  }

  // The stream ended: whatever was held back, as text.
  end(): Span[] {
    return this.spans(this.utf8.decode(), true);
  }

  private spans(text: string, final: boolean): Span[] {
    let s = this.held + text.replace(/\r\n/g, "\n");
    this.held = "";
    const cut = final ? -1 : incompleteEscapeAt(s);
    if (cut >= 0) {
      this.held = s.slice(cut);
      s = s.slice(0, cut);
    }
    if (s === "") return [];
    const out: Span[] = [];
    const entries = this.anser.ansiToJson(s, { use_classes: true });
    entries.forEach((e, i) => {
      // anser styles the text before a message's first escape as plain: it has the style the
      // last message ended with.
      const span: Span = i === 0 ? { ...this.style, text: e.content } : styleOf(e);
      if (i === entries.length - 1 || entries.length === 1) this.style = { ...span, text: "" };
      if (span.text === "") return;
      const last = out[out.length - 1];
      if (last && last.className === span.className && last.color === span.color && last.background === span.background)
        last.text += span.text;
      else out.push(span);
    });
    return out;
  }
}

function styleOf(e: Anser.AnserJsonEntry): Span {
  const cls: string[] = [];
  const span: Span = { text: e.content, className: "" };
  if (e.fg === "ansi-truecolor") span.color = `rgb(${e.fg_truecolor})`;
  else if (e.fg) cls.push(`${e.fg}-fg`);
  if (e.bg === "ansi-truecolor") span.background = `rgb(${e.bg_truecolor})`;
  else if (e.bg) cls.push(`${e.bg}-bg`);
  for (const d of e.decorations) cls.push(`ansi-${d}`);
  span.className = cls.join(" ");
  return span;
}

// Appends `more` to `spans`, keeping at most `maxChars` characters (the oldest go first); returns
// the new list and how many characters were dropped.
export function appendCapped(spans: Span[], more: Span[], maxChars: number): { spans: Span[]; dropped: number } {
  const all = spans.concat(more);
  let total = all.reduce((n, s) => n + s.text.length, 0);
  let dropped = 0;
  let i = 0;
  while (total > maxChars && i < all.length) {
    const over = total - maxChars;
    if (all[i].text.length <= over) {
      total -= all[i].text.length;
      dropped += all[i].text.length;
      i++;
    } else {
      all[i] = { ...all[i], text: all[i].text.slice(over) };
      total -= over;
      dropped += over;
    }
  }
  return { spans: i ? all.slice(i) : all, dropped };
}
