"""A minimal RFC 6455 WebSocket client for the tests (stdlib only): the handshake, masked client
frames, fragmented server messages, pings answered, the close frame's code and reason returned."""
import base64
import hashlib
import os
import socket
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeRefused(Exception):
    def __init__(self, status: int, headers: dict, body: bytes):
        super().__init__(f"handshake answered {status}")
        self.status, self.headers, self.body = status, headers, body


class Closed(Exception):
    def __init__(self, code: int | None, reason: str):
        super().__init__(f"closed {code} {reason!r}")
        self.code, self.reason = code, reason


class WebSocket:
    def __init__(self, port: int, path: str, headers: dict | None = None, subprotocols=(), timeout=60):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        host = next((v for k, v in (headers or {}).items() if k.lower() == "host"), f"127.0.0.1:{port}")
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if subprotocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(subprotocols))
        lines += [f"{k}: {v}" for k, v in (headers or {}).items() if k.lower() != "host"]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = self.sock.recv(4096)
            if not d:
                raise ConnectionError(f"closed during the handshake: {buf!r}")
            buf += d
        head, self.buf = buf.split(b"\r\n\r\n", 1)
        hl = head.decode("latin1").split("\r\n")
        self.status = int(hl[0].split(" ")[1])
        self.headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in hl[1:] if ":" in l}
        if self.status != 101:
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                d = self.sock.recv(65536)
                if not d:
                    break
                self.buf += d
            self.sock.close()
            raise HandshakeRefused(self.status, self.headers, self.buf[:n])
        want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        assert self.headers.get("sec-websocket-accept") == want, self.headers

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                raise ConnectionError("the connection closed without a close frame")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, op: int, data: bytes) -> None:
        n = len(data)
        hdr = bytes([0x80 | op])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def send(self, data, binary: bool = False) -> None:
        self._send_frame(0x2 if binary else 0x1, data.encode() if isinstance(data, str) else data)

    def recv(self) -> tuple[int, bytes]:
        """The next data message (opcode, payload); raises Closed on the server's close frame."""
        msg, first_op = b"", None
        while True:
            b0, b1 = self._read(2)
            fin, op, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            assert not b1 & 0x80, "server frames must not be masked"
            p = self._read(n)
            if op == 0x9:
                self._send_frame(0xA, p)
                continue
            if op == 0xA:
                continue
            if op == 0x8:
                code = struct.unpack(">H", p[:2])[0] if len(p) >= 2 else None
                try:
                    self._send_frame(0x8, p[:2])
                except OSError:
                    pass
                raise Closed(code, p[2:].decode("utf-8", "replace"))
            if op != 0:
                first_op = op
            msg += p
            if fin:
                return first_op, msg

    def read_all(self) -> tuple[bytes, "Closed"]:
        """Every message until the server closes: (the bytes, the Closed)."""
        out = b""
        while True:
            try:
                out += self.recv()[1]
            except Closed as c:
                return out, c

    def close(self, code: int = 1000) -> None:
        try:
            self._send_frame(0x8, struct.pack(">H", code))
        except OSError:
            pass
        self.sock.close()
