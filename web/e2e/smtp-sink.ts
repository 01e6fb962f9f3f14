// A minimal SMTP server for browser tests (Node's net only: no STARTTLS, no AUTH), on 127.0.0.1
// port 0. It keeps every message and decodes the base64 text/plain part Atrium sends, so a test
// can wait for a mail and follow its link. (The integration tests use aiosmtpd: smtp_sink.py.)
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";

export interface SinkMail {
  to: string[];
  raw: string;
  subject: string;
  text: string;
}

function textPart(raw: string): string {
  const m = raw.match(/Content-Type: text\/plain[^\r\n]*\r\nContent-Transfer-Encoding: base64\r\n\r\n([A-Za-z0-9+/=\r\n]+)/);
  return m ? Buffer.from(m[1].replace(/\s+/g, ""), "base64").toString("utf8") : raw;
}

export class SmtpSink {
  readonly mails: SinkMail[] = [];
  private server: Server;
  private sockets = new Set<Socket>();
  port = 0;

  private constructor() {
    this.server = createServer((s) => this.session(s));
  }

  static async start(): Promise<SmtpSink> {
    const sink = new SmtpSink();
    await new Promise<void>((ok) => sink.server.listen(0, "127.0.0.1", ok));
    sink.port = (sink.server.address() as AddressInfo).port;
    return sink;
  }

  // The [mail] settings that point Atrium at this sink.
  env(): Record<string, string> {
    return {
      ATRIUM_MAIL_SMTP_URL: `smtp://127.0.0.1:${this.port}`,
      ATRIUM_MAIL_FROM: "atrium@example.org",
      ATRIUM_MAIL_STARTTLS: "off",
      ATRIUM_MAIL_TIMEOUT_S: "5",
    };
  }

  private session(s: Socket) {
    this.sockets.add(s);
    s.on("close", () => this.sockets.delete(s));
    s.on("error", () => s.destroy());
    let buf = "";
    let data: string | null = null;
    let to: string[] = [];
    s.write("220 sink ESMTP\r\n");
    s.on("data", (chunk) => {
      buf += chunk.toString("latin1");
      for (;;) {
        if (data !== null) {
          const end = buf.indexOf("\r\n.\r\n");
          if (end < 0) return;
          const raw = Buffer.from(data + buf.slice(0, end), "latin1").toString("utf8").replace(/\r\n\.\./g, "\r\n.");
          buf = buf.slice(end + 5);
          const subject = raw.match(/^Subject: (.*)$/im)?.[1]?.trim() ?? "";
          this.mails.push({ to, raw, subject, text: textPart(raw) });
          data = null;
          to = [];
          s.write("250 queued\r\n");
          continue;
        }
        const nl = buf.indexOf("\r\n");
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO") s.write("250-sink\r\n250 8BITMIME\r\n");
        else if (verb === "RCPT") {
          to.push(line.replace(/^RCPT TO:\s*<?([^>]*)>?.*$/i, "$1").toLowerCase());
          s.write("250 ok\r\n");
        } else if (verb === "DATA") {
          data = "";
          s.write("354 go on\r\n");
        } else if (verb === "QUIT") s.end("221 bye\r\n");
        else s.write("250 ok\r\n"); // HELO, MAIL, RSET, NOOP
      }
    });
  }

  // The links of the latest mail to `to` (waits for it, polling; no sleeps in the test).
  async linksTo(to: string, timeoutMs = 15_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.mails.filter((x) => x.to.includes(to.toLowerCase())).at(-1);
      if (m) return m.text.match(/https?:\/\/[^\s<>"']+/g) ?? [];
      if (Date.now() > deadline) throw new Error(`no mail to ${to} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }
}
