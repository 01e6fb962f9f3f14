"""A local SMTP server for tests (aiosmtpd, Debian's python3-aiosmtpd), on 127.0.0.1.

    with SmtpSink(tmp_path, tls=True, users={"atrium": "sink-password"}) as sink:
        cfg = sink.atrium_config()            # the [mail] keys (ATRIUM_MAIL_*) that point Atrium at it
        ...
        mail = sink.wait_for(to="ann@example.org", subject="Reset")   # polls, no sleeps
        mail.text, mail.html, mail.links(), mail.tls, mail.auth_user, mail.message_id

What it can do for a test:
- tls=True: STARTTLS is required (a throwaway CA and server certificate made with openssl in the
  temp dir; sink.ca_file is the CA for [mail] ca_file); users={...}: AUTH LOGIN/PLAIN is required
  (after STARTTLS) and checked against them.
- sink.messages: every message received (Mail: envelope, parsed email.message.EmailMessage).
- sink.stop() / sink.start(): SMTP down (connection refused), then back on the same port.
- sink.stall(): accepts TCP connections but never greets (a server that hangs); start() ends it.
- sink.reply_next(line, count): answers the next `count` DATA commands with `line` instead of 250
  ("451 4.3.0 try again later" = transient, "554 5.7.1 refused" = permanent).
- sink.reject(address, line): answers RCPT TO:<address> with `line` ("550 5.1.1 no such user").
"""
from __future__ import annotations

import email
import email.policy
import re
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

LINK = re.compile(r"https?://[^\s<>\"']+")


@dataclass
class Mail:
    mail_from: str
    rcpt: list[str]
    msg: email.message.EmailMessage
    tls: bool
    auth_user: str | None
    raw: bytes = field(repr=False, default=b"")

    @property
    def subject(self) -> str:
        return str(self.msg["Subject"])

    @property
    def to(self) -> str:
        return str(self.msg["To"])

    @property
    def message_id(self) -> str:
        return str(self.msg["Message-ID"])

    def part(self, subtype: str) -> str:
        p = self.msg.get_body(preferencelist=(subtype,))
        return p.get_content() if p is not None else ""

    @property
    def text(self) -> str:
        return self.part("plain")

    @property
    def html(self) -> str:
        return self.part("html")

    def links(self) -> list[str]:
        """The URLs in the plain-text part, in order."""
        return LINK.findall(self.text)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(dir: Path, host: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for `host` signed by it: (ca, cert, key)."""
    dir.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (dir / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = dir / "ext.cnf"
    ext.write_text(f"subjectAltName=IP:{host},DNS:localhost\nbasicConstraints=CA:FALSE\n")

    def run(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(ca_key),
        "-out", str(ca), "-days", "2", "-subj", "/CN=atrium test mail CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=localhost")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(cert),
        "-days", "2", "-extfile", str(ext))
    return ca, cert, key


class _Handler:
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.sink._lock:
            line = self.sink._rejects.get(address.lower())
        if line:
            return line
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.sink._lock:
            if self.sink._replies:
                line, self.sink._replies[0][1] = self.sink._replies[0][0], self.sink._replies[0][1] - 1
                if self.sink._replies[0][1] <= 0:
                    self.sink._replies.pop(0)
                return line
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        mail = Mail(envelope.mail_from, list(envelope.rcpt_tos), msg, session.ssl is not None,
                    getattr(session, "atrium_user", None), raw)
        with self.sink._cond:
            self.sink.messages.append(mail)
            self.sink._cond.notify_all()
        return "250 2.0.0 queued"


class SmtpSink:
    def __init__(self, tmp: Path, tls: bool = True, users: dict[str, str] | None = None, port: int | None = None):
        self.tmp = Path(tmp)
        self.tls = tls
        self.users = users or {}
        self.port = port or _free_port()
        self.messages: list[Mail] = []
        self.ca_file: Path | None = None
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._replies: list[list] = []
        self._rejects: dict[str, str] = {}
        self._controller: Controller | None = None
        self._stall: socket.socket | None = None
        self._stalled: list[socket.socket] = []
        self._ctx = None
        if tls:
            self.ca_file, cert, key = make_cert(self.tmp / "smtp-tls")
            self._ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ctx.load_cert_chain(str(cert), str(key))

    # ---- lifecycle

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            user, pw = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(user) == pw:
                session.atrium_user = user
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> "SmtpSink":
        self._end_stall()
        if self._controller:
            return self
        kw = {}
        if self.tls:
            kw.update(tls_context=self._ctx, require_starttls=True)
        if self.users:
            kw.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=self.tls)
        c = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kw)
        c.start()
        self._controller = c
        return self

    def stop(self):
        """SMTP down: connections are refused until start()."""
        self._end_stall()
        if self._controller:
            self._controller.stop()
            self._controller = None

    def stall(self):
        """Accepts connections on the port but never says a word (a hung server)."""
        self.stop()
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(16)
        self._stall = s

        def accept():  # keeps each connection open, silent
            while True:
                try:
                    conn, _ = s.accept()
                except OSError:
                    return
                self._stalled.append(conn)

        threading.Thread(target=accept, daemon=True).start()

    def stalled_connections(self) -> int:
        return len(self._stalled)

    def _end_stall(self):
        if self._stall:
            try:
                self._stall.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            self._stall.close()
            self._stall = None
        for c in self._stalled:
            c.close()
        self._stalled = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- behaviour

    def reply_next(self, line: str, count: int = 1):
        with self._lock:
            self._replies.append([line, count])

    def reject(self, address: str, line: str = "550 5.1.1 no such user"):
        with self._lock:
            self._rejects[address.lower()] = line

    # ---- reading

    def atrium_config(self, password_file: Path | None = None, sender: str = "atrium@example.org") -> dict[str, str]:
        """ATRIUM_MAIL_* variables that point a server at this sink (the password into a 0600 file)."""
        env = {"ATRIUM_MAIL_SMTP_URL": f"smtp://127.0.0.1:{self.port}", "ATRIUM_MAIL_FROM": sender,
               "ATRIUM_MAIL_STARTTLS": "required" if self.tls else "off", "ATRIUM_MAIL_TIMEOUT_S": "5"}
        if self.ca_file:
            env["ATRIUM_MAIL_CA_FILE"] = str(self.ca_file)
        if self.users:
            user, pw = next(iter(self.users.items()))
            pf = password_file or self.tmp / "smtp-password"
            pf.write_text(pw + "\n")
            pf.chmod(0o600)
            env.update(ATRIUM_MAIL_USERNAME=user, ATRIUM_MAIL_PASSWORD_FILE=str(pf))
        return env

    def matching(self, to: str | None = None, subject: str | None = None) -> list[Mail]:
        with self._lock:
            return [m for m in self.messages
                    if (to is None or to.lower() in [r.lower() for r in m.rcpt])
                    and (subject is None or subject in m.subject)]

    def wait_for(self, to: str | None = None, subject: str | None = None, timeout: float = 20, count: int = 1) -> Mail:
        """The first message to `to` whose subject contains `subject`, once `count` such have arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages
                         if (to is None or to.lower() in [r.lower() for r in m.rcpt])
                         and (subject is None or subject in m.subject)]
                if len(found) >= count:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    got = [(m.rcpt, m.subject) for m in self.messages]
                    raise AssertionError(f"no mail to={to!r} subject~{subject!r} within {timeout}s; got {got}")
                self._cond.wait(left)
