#!/usr/bin/env python3
"""Mail through Atrium's queue against the same messages sent straight to the same SMTP server.

SMTP server: tests/integration/smtp_sink.py (aiosmtpd, plain SMTP on 127.0.0.1, no TLS, no AUTH), in this
process; it stamps each message's arrival (end of DATA) with time.perf_counter().
  * atrium: POST /api/v1/orgs/{id}/invitations {role, email} as the admin. The request's transaction
    inserts the invitation and enqueues the mail (a durable "mail.send" task); after the commit the
    queue's workers ([tasks] workers = 2) render the "invitation" template (text + HTML) and send it
    with libcurl, one SMTP connection per message (EHLO, MAIL, RCPT, DATA, QUIT).
    The commit lies between the request's start and its answer, so the latency is reported both ways:
    answer -> arrival (at most commit -> arrival) and request -> arrival (at least).
  * direct: the very bytes Atrium delivered, sent again with smtplib (one connection per message:
    EHLO, MAIL, RCPT, DATA, QUIT), in this process; latency = connect -> arrival.
Latency: messages one at a time (the next once the last arrived). Batch: B messages as fast as the
client goes, from 2 client threads on both sides (as many as Atrium's workers; Atrium: B invitation requests),
throughput = B / (first request -> last arrival).
Prints a markdown section; appends it to $RESULTS when set. Never a gate.
Knobs: ATRIUM_BENCH_MAILS (latency, per side, default 30), ATRIUM_BENCH_BATCH (default 60), ATRIUM_BIN.
"""
from __future__ import annotations

import os
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "bench"))
from benchlib import machine, p90, publish  # noqa: E402
import smtp_sink  # noqa: E402
from conftest import Server  # noqa: E402

N = int(os.environ.get("ATRIUM_BENCH_MAILS", "30"))
B = int(os.environ.get("ATRIUM_BENCH_BATCH", "60"))
ROUNDS = 3  # alternating blocks per side
WORKERS = 2  # Atrium's [tasks] workers default; the direct batch uses as many client threads

ARRIVED: dict[str, float] = {}
RAW: dict[str, bytes] = {}
COND = threading.Condition()


class StampingHandler(smtp_sink._Handler):
    async def handle_DATA(self, server, session, envelope):
        t = time.perf_counter()
        reply = await super().handle_DATA(server, session, envelope)
        with COND:
            for r in envelope.rcpt_tos:
                ARRIVED[r.lower()] = t
                RAW[r.lower()] = envelope.original_content or envelope.content
            COND.notify_all()
        return reply


smtp_sink._Handler = StampingHandler


def wait_arrivals(addrs: list[str], timeout: float = 60) -> list[float]:
    deadline = time.monotonic() + timeout
    with COND:
        while not all(a in ARRIVED for a in addrs):
            left = deadline - time.monotonic()
            assert left > 0, f"mail did not arrive: {[a for a in addrs if a not in ARRIVED][:5]}"
            COND.wait(left)
        return [ARRIVED[a] for a in addrs]


class Bench:
    def __init__(self, srv: Server, sink: smtp_sink.SmtpSink):
        self.srv, self.sink, self.seq = srv, sink, 0
        self.admin = srv.admin_token()
        r = srv.call("POST", "/api/v1/orgs", self.admin, json={"slug": "mailbench", "name": "Mail bench"})
        assert r.status == 201, r
        self.org = r.json["id"]
        self.template: bytes | None = None

    def addr(self, side: str) -> str:
        self.seq += 1
        return f"{side}-{self.seq}@example.org"

    def invite(self, addr: str) -> float:
        r = self.srv.call("POST", f"/api/v1/orgs/{self.org}/invitations", self.admin,
                          json={"role": "member", "email": addr})
        t = time.perf_counter()
        assert r.status == 201 and r.json["mailed"] is True, r
        return t

    def send(self, addr: str) -> None:
        with smtplib.SMTP("127.0.0.1", self.sink.port, timeout=10) as s:
            s.sendmail("atrium@example.org", [addr], self.template)

    def atrium_latency(self) -> tuple[list[float], list[float]]:
        from_answer, from_request = [], []
        for _ in range(N):
            a = self.addr("atrium")
            t0 = time.perf_counter()
            t1 = self.invite(a)
            ta = wait_arrivals([a])[0]
            from_answer.append((ta - t1) * 1000)
            from_request.append((ta - t0) * 1000)
        return from_answer, from_request

    def direct_latency(self) -> list[float]:
        out = []
        for _ in range(N):
            a = self.addr("direct")
            t0 = time.perf_counter()
            self.send(a)
            out.append((wait_arrivals([a])[0] - t0) * 1000)
        return out

    def atrium_batch(self) -> tuple[float, float, list[float]]:
        addrs = [self.addr("abatch") for _ in range(B)]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(WORKERS) as ex:
            answered = list(ex.map(self.invite, addrs))
        t_enq = time.perf_counter() - t0
        arrivals = wait_arrivals(addrs)
        return B / (max(arrivals) - t0), t_enq, [(ta - t1) * 1000 for ta, t1 in zip(arrivals, answered)]

    def direct_batch(self) -> float:
        addrs = [self.addr("dbatch") for _ in range(B)]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(WORKERS) as ex:
            list(ex.map(self.send, addrs))
        return B / (max(wait_arrivals(addrs)) - t0)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="atrium-bench-mail-"))
    sink = smtp_sink.SmtpSink(tmp / "sink", tls=False).start()
    srv = Server(tmp / "data", env=sink.atrium_config())
    srv.start()
    a_ans, a_req, d_lat, a_tput, d_tput, a_enq, a_batch_lat = [], [], [], [], [], [], []
    try:
        b = Bench(srv, sink)
        for _ in range(3):  # warm up Atrium's path; its delivered bytes are the direct side's message
            a = b.addr("warm")
            b.invite(a)
            wait_arrivals([a])
        b.template = RAW[a]
        for _ in range(3):
            b.send(b.addr("warm"))
        for _ in range(ROUNDS):  # alternate the sides so that the machine's load swings hit both alike
            x, y = b.atrium_latency()
            a_ans += x
            a_req += y
            d_lat += b.direct_latency()
            t, e, lat = b.atrium_batch()
            a_tput.append(t)
            a_enq.append(e)
            a_batch_lat += lat
            d_tput.append(b.direct_batch())
    finally:
        srv.stop()
        sink.stop()

    ma, mr, md = statistics.median(a_ans), statistics.median(a_req), statistics.median(d_lat)
    ta, td = statistics.median(a_tput), statistics.median(d_tput)
    load = os.getloadavg()
    section = f"""
## Mail through Atrium's queue vs straight SMTP — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}

Command: `bench/mail/run.sh` (latency: {ROUNDS * N} messages per side one at a time; batch: {B} messages, {ROUNDS} runs per
side; alternating). Machine: {machine(REPO)}, load average {load[0]:.2f} at the end (shared with other builds and CI).
SMTP server: tests/integration/smtp_sink.py (aiosmtpd, plain SMTP, 127.0.0.1) in the benchmark's own process;
message: Atrium's "invitation" mail ({len(b.template)} bytes, text + HTML), the same bytes on both sides.

| side | what one message is | latency median ms | p90 ms | batch of {B}: messages/s (runs) |
| --- | --- | ---: | ---: | ---: |
| direct | smtplib: connect, EHLO, MAIL, RCPT, DATA, QUIT (one connection per message) | {md:.1f} | {p90(d_lat):.1f} | {td:.0f} ({', '.join(f'{x:.0f}' for x in d_tput)}) |
| Atrium, answer → arrival | `POST …/invitations` committed (invitation + queued task), then a worker renders the template and sends with libcurl, one connection per message | {ma:.1f} | {p90(a_ans):.1f} | {ta:.0f} ({', '.join(f'{x:.0f}' for x in a_tput)}) |
| Atrium, request → arrival | the same, from the request's start (the HTTP request and its transaction included) | {mr:.1f} | {p90(a_req):.1f} | — |

Ratios (Atrium / direct): latency **{ma / md:.2f}** (answer → arrival; commit → arrival lies between this and
{mr / md:.2f}, request → arrival); batch throughput **{ta / td:.2f}** (both sides from 2 client threads). In the batch, Atrium's {B} requests took
{statistics.median(a_enq) * 1000:.0f} ms (median of the runs) and a message arrived {statistics.median(a_batch_lat):.1f} ms
(median; p90 {p90(a_batch_lat):.1f} ms) after its request was answered.
"""
    publish(section)


if __name__ == "__main__":
    main()
