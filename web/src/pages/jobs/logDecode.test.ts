import { describe, expect, it } from "vitest";
import { appendCapped, incompleteEscapeAt, LogDecoder, type Span } from "./logDecode";

const enc = (s: string) => new TextEncoder().encode(s);
const text = (spans: Span[]) => spans.map((s) => s.text).join("");

describe("LogDecoder", () => {
  it("keeps UTF-8 characters split across messages whole", () => {
    const d = new LogDecoder(100);
    const bytes = enc("grüße ✓\n");
    const out: Span[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...d.push(bytes.slice(i, i + 1)));
    out.push(...d.end());
    expect(text(out)).toBe("grüße ✓\n");
    expect(d.offset).toBe(100 + bytes.length);
  });

  it("styles ANSI colours, carried over to the next message", () => {
    const d = new LogDecoder();
    const a = d.push(enc("plain \x1b[31mred"));
    const b = d.push(enc(" still red\x1b[0m done"));
    expect(a).toEqual([
      { text: "plain ", className: "" },
      { text: "red", className: "ansi-red-fg" },
    ]);
    expect(b).toEqual([
      { text: " still red", className: "ansi-red-fg" },
      { text: " done", className: "" },
    ]);
  });

  it("waits for an escape sequence split across messages", () => {
    const d = new LogDecoder();
    expect(d.push(enc("a\x1b[1;3"))).toEqual([{ text: "a", className: "" }]);
    expect(d.push(enc("2mb"))).toEqual([{ text: "b", className: "ansi-green-fg ansi-bold" }]);
    expect(d.push(enc("\x1b"))).toEqual([]);
    expect(d.push(enc("[0mc"))).toEqual([{ text: "c", className: "" }]);
  });

  it("shows 24-bit colours as styles and backgrounds as classes", () => {
    const d = new LogDecoder();
    expect(d.push(enc("\x1b[38;2;10;20;30;44mx"))).toEqual([
      { text: "x", className: "ansi-blue-bg", color: "rgb(10, 20, 30)" },
    ]);
  });

  it("turns CRLF into LF", () => {
    const d = new LogDecoder();
    expect(text(d.push(enc("a\r\nb\r\n")))).toBe("a\nb\n");
  });
});

describe("incompleteEscapeAt", () => {
  it.each([
    ["abc", -1],
    ["ab\x1b", 2],
    ["ab\x1b[", 2],
    ["ab\x1b[31", 2],
    ["ab\x1b[31m", -1],
    ["ab\x1bX", -1],
  ])("%j -> %d", (s, at) => expect(incompleteEscapeAt(s)).toBe(at));
});

describe("appendCapped", () => {
  it("drops the oldest characters beyond the cap", () => {
    const r = appendCapped([{ text: "abcd", className: "" }], [{ text: "efg", className: "x" }], 5);
    expect(r.spans).toEqual([
      { text: "cd", className: "" },
      { text: "efg", className: "x" },
    ]);
    expect(r.dropped).toBe(2);
  });
});
