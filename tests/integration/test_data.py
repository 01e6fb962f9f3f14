"""The data store through a real server: resumable uploads, downloads with Range, path rules,
encryption at rest, quotas, tenant isolation and roles, kill -9 during uploads, garbage collection.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import os
import socket
import unicodedata
import urllib.parse
from pathlib import Path

import pytest

from conftest import Server, World, is_problem, wait_until

CHUNK = 64 * 1024 + 7  # not a multiple of the store's 64 KiB chunks


def data_of(n: int, seed: int = 1) -> bytes:
    """Deterministic bytes that compress badly and contain a recognisable marker."""
    out = bytearray()
    block = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{block}".encode()).digest()
        block += 1
    marker = f"PLAINTEXT-MARKER-{seed}-".encode()
    body = bytes(out[:n])
    if n > len(marker):
        body = marker + body[len(marker):]
    return body


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def files_url(project_id: str, path: str = "") -> str:
    base = f"/api/v1/projects/{project_id}/files"
    return base + ("/" + urllib.parse.quote(path) if path else "")


def start_upload(srv: Server, token: str, project_id: str, path: str, size: int, **extra):
    return srv.call("POST", f"/api/v1/projects/{project_id}/uploads", token,
                    json={"path": path, "size": size, **extra})


def send(srv: Server, token: str, upload_id: str, offset: int, chunk: bytes):
    return srv.call("PATCH", f"/api/v1/uploads/{upload_id}", token, body=chunk,
                    headers={"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})


def upload(srv: Server, token: str, project_id: str, path: str, data: bytes, chunk: int = CHUNK, **extra):
    r = start_upload(srv, token, project_id, path, len(data), **extra)
    assert r.status == 201, r
    uid = r.json["id"]
    off = 0
    while off < len(data):
        piece = data[off:off + chunk]
        r = send(srv, token, uid, off, piece)
        assert r.status == 200, r
        off += len(piece)
        assert r.json["offset"] == off and r.headers["Upload-Offset"] == str(off)
    r = srv.call("POST", f"/api/v1/uploads/{uid}/complete", token, json={"sha256": sha(data)})
    assert r.status == 201, r
    return r.json


def download(srv: Server, token: str, project_id: str, path: str, headers: dict | None = None):
    hs = {"Authorization": f"Bearer {token}", **(headers or {})}
    return srv.raw("GET", files_url(project_id, path), headers=hs)


def wait_job_end(srv: Server, token: str, job_id: str) -> dict:
    def ended():
        j = srv.call("GET", f"/api/v1/jobs/{job_id}", token).json
        ended = j["state"] in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL")
        return j if ended and (j.get("outputs") or {}).get("capture") != "pending" else None  # outputs: a task
    return wait_until(ended, 60, interval=0.05, what=f"job {job_id} to end")


def blob_files(srv: Server) -> list[Path]:
    return [p for p in (srv.data_dir / "blobs" / "objects").rglob("*") if p.is_file()]


@pytest.fixture(scope="module")
def w(server, admin) -> World:
    return World(server, admin, prefix="d-")


# ---------------------------------------------------------------------------- uploads and downloads


def test_chunked_upload_then_download_whole_and_ranges(server, w):
    owner = w.a.users["org-admin"].token
    pid = w.a.project["id"]
    data = data_of(5 * CHUNK + 123)
    f = upload(server, owner, pid, "results/run1/output.bin", data)
    assert f["path"] == "results/run1/output.bin" and f["size"] == len(data) and f["sha256"] == sha(data)

    r = download(server, owner, pid, "results/run1/output.bin")
    assert r.status == 200 and r.body == data
    assert r.headers["Content-Length"] == str(len(data))
    assert r.headers["X-Content-SHA256"] == sha(data) and r.headers["Accept-Ranges"] == "bytes"
    etag = r.headers["ETag"]

    n = len(data)
    for rng, (a, b) in {"bytes=0-9": (0, 10), "bytes=65530-65560": (65530, 65561), f"bytes={n - 5}-": (n - 5, n),
                        "bytes=-100": (n - 100, n), f"bytes=100-{n * 2}": (100, n),
                        f"bytes={4 * 65536}-{4 * 65536 + 65536}": (4 * 65536, 4 * 65536 + 65537)}.items():
        r = download(server, owner, pid, "results/run1/output.bin", {"Range": rng})
        assert r.status == 206, (rng, r)
        assert r.body == data[a:b], rng
        assert r.headers["Content-Range"] == f"bytes {a}-{b - 1}/{n}"

    r = download(server, owner, pid, "results/run1/output.bin", {"Range": f"bytes={n}-"})
    assert is_problem(r, 416, "range-not-satisfiable") and r.headers["Content-Range"] == f"bytes */{n}"
    # If-Range with a stale ETag: the whole file.
    r = download(server, owner, pid, "results/run1/output.bin", {"Range": "bytes=0-0", "If-Range": '"old"'})
    assert r.status == 200 and r.body == data
    r = download(server, owner, pid, "results/run1/output.bin", {"If-None-Match": etag})
    assert r.status == 304 and r.body == b""
    r = server.raw("HEAD", files_url(pid, "results/run1/output.bin"), headers={"Authorization": f"Bearer {owner}"})
    assert r.status == 200 and r.headers["Content-Length"] == str(n) and r.body == b""

    st = server.call("GET", files_url(pid, "results/run1/output.bin") + "?stat=true", owner)
    assert st.status == 200 and st.json["size"] == n and st.json["sha256"] == sha(data) and st.etag == etag


def test_empty_file_and_exact_chunk_multiple(server, w):
    owner = w.a.users["org-admin"].token
    pid = w.a.project["id"]
    r = start_upload(server, owner, pid, "empty.txt", 0)
    assert r.status == 201
    r = server.call("POST", f"/api/v1/uploads/{r.json['id']}/complete", owner, json={"sha256": sha(b"")})
    assert r.status == 201 and r.json["size"] == 0
    assert download(server, owner, pid, "empty.txt").body == b""
    for rng in ("bytes=0-", "bytes=-1", "bytes=0-0"):  # an empty file has no byte to point at
        assert is_problem(download(server, owner, pid, "empty.txt", {"Range": rng}), 416, "range-not-satisfiable")
    data = data_of(2 * 65536, seed=9)
    upload(server, owner, pid, "exact.bin", data, chunk=65536)
    assert download(server, owner, pid, "exact.bin").body == data


def test_offsets_are_enforced_and_an_upload_resumes(server, w):
    owner = w.a.users["org-admin"].token
    pid = w.a.project["id"]
    data = data_of(3 * CHUNK, seed=2)
    uid = start_upload(server, owner, pid, "resume.bin", len(data)).json["id"]
    assert send(server, owner, uid, 0, data[:CHUNK]).status == 200
    r = send(server, owner, uid, 0, data[:CHUNK])  # a retried chunk that already arrived
    assert is_problem(r, 409, "offset-mismatch") and r.json["offset"] == CHUNK
    r = send(server, owner, uid, CHUNK + 1, data[CHUNK + 1:2 * CHUNK])
    assert is_problem(r, 409, "offset-mismatch")
    r = send(server, owner, uid, CHUNK, data[CHUNK:] + b"extra")
    assert is_problem(r, 400, "beyond-size")
    r = server.call("PATCH", f"/api/v1/uploads/{uid}", owner, body=b"x")
    assert is_problem(r, 400, "missing-header")
    r = server.call("PATCH", f"/api/v1/uploads/{uid}", owner, body=b"x", headers={"Upload-Offset": "-1"})
    assert is_problem(r, 400, "invalid-header")

    # A connection that breaks in the middle of a chunk: nothing of it counts.
    s = socket.create_connection(("127.0.0.1", server.port))
    head = (f"PATCH /api/v1/uploads/{uid} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {owner}\r\n"
            f"Upload-Offset: {CHUNK}\r\nContent-Length: {CHUNK}\r\n\r\n").encode()
    s.sendall(head + data[CHUNK:CHUNK + 1000])
    s.close()
    r = server.call("GET", f"/api/v1/uploads/{uid}", owner)
    assert r.status == 200 and r.json["offset"] == CHUNK and r.headers["Upload-Offset"] == str(CHUNK)
    # Completing early is refused.
    r = server.call("POST", f"/api/v1/uploads/{uid}/complete", owner, json={})
    assert is_problem(r, 409, "upload-incomplete") and r.json["offset"] == CHUNK
    assert send(server, owner, uid, CHUNK, data[CHUNK:]).status == 200
    listed = server.call("GET", f"/api/v1/projects/{pid}/uploads", owner)
    assert uid in [u["id"] for u in listed.json["items"]]
    r = server.call("POST", f"/api/v1/uploads/{uid}/complete", owner, json={})
    assert r.status == 201 and r.json["sha256"] == sha(data)
    assert download(server, owner, pid, "resume.bin").body == data
    assert server.call("GET", f"/api/v1/uploads/{uid}", owner).status == 404  # finished


def test_a_hash_mismatch_stores_nothing(server, w):
    owner = w.a.users["org-admin"].token
    pid = w.a.project["id"]
    data = data_of(1000, seed=3)
    before = {p.name for p in blob_files(server)}
    uid = start_upload(server, owner, pid, "bad-hash.bin", len(data)).json["id"]
    assert send(server, owner, uid, 0, data).status == 200
    r = server.call("POST", f"/api/v1/uploads/{uid}/complete", owner, json={"sha256": "0" * 64})
    assert is_problem(r, 400, "hash-mismatch") and r.json["sha256"] == sha(data)
    assert {p.name for p in blob_files(server)} == before
    assert download(server, owner, pid, "bad-hash.bin").status == 404
    assert server.call("GET", f"/api/v1/uploads/{uid}", owner).status == 404
    assert not (server.data_dir / "uploads" / uid).exists()
    # The hash given at creation counts too.
    uid = start_upload(server, owner, pid, "bad-hash.bin", len(data), sha256="1" * 64).json["id"]
    assert send(server, owner, uid, 0, data).status == 200
    assert is_problem(server.call("POST", f"/api/v1/uploads/{uid}/complete", owner, json={}), 400, "hash-mismatch")


def test_data_is_encrypted_at_rest(server, w):
    owner = w.a.users["org-admin"].token
    pid = w.a.project["id"]
    data = data_of(200_000, seed=4)
    marker = b"PLAINTEXT-MARKER-4-"
    uid = start_upload(server, owner, pid, "secret.bin", len(data)).json["id"]
    assert send(server, owner, uid, 0, data[:100_000]).status == 200
    staged = (server.data_dir / "uploads" / uid).read_bytes()
    assert marker not in staged and data[50_000:50_100] not in staged
    assert send(server, owner, uid, 100_000, data[100_000:]).status == 200
    assert server.call("POST", f"/api/v1/uploads/{uid}/complete", owner, json={}).status == 201
    for p in blob_files(server):
        content = p.read_bytes()
        assert marker not in content and data[150_000:150_064] not in content, p


def test_a_flipped_byte_is_detected_on_download(make_server, admin):
    srv = make_server()
    tok = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", tok, json={"slug": "flip", "name": "Flip"}).json
    pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", tok, json={"slug": "p", "name": "P"}).json["id"]
    data = data_of(1_000_000, seed=5)
    f = upload(srv, tok, pid, "f.bin", data, chunk=1 << 20)
    obj = next(p for p in blob_files(srv) if p.name == f["sha256"])
    raw = bytearray(obj.read_bytes())
    flip = len(raw) * 3 // 4  # past the first piece the server reads before answering
    raw[flip] ^= 0x40
    os.chmod(obj, 0o600)
    obj.write_bytes(bytes(raw))
    # The status line went out before the damage was found: the body is cut short.
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(f"GET {files_url(pid, 'f.bin')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
              "Connection: close\r\n\r\n".encode())
    got = b""
    while True:
        piece = s.recv(65536)
        if not piece:
            break
        got += piece
    s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"200" in head.split(b"\r\n")[0]
    assert len(body) < len(data)
    assert body == data[:len(body)]  # what was sent was verified
    # A range in the damaged chunk fails before anything is sent.
    chunk_no = flip // (65536 + 17)
    r = download(srv, tok, pid, "f.bin", {"Range": f"bytes={chunk_no * 65536}-{chunk_no * 65536 + 10}"})
    assert is_problem(r, 500)


# ---------------------------------------------------------------------------- paths


@pytest.mark.parametrize("bad", ["../etc/passwd", "/abs", "a/../b", "a//b", "a/./b", "nul\x00x", "ctl\x07x",
                                 "back\\slash", "trailing. ", "x" * 256, "/".join(["d"] * 33)])
def test_bad_paths_are_refused_and_change_nothing(server, w, bad):
    owner = w.a.users["org-admin"].token
    pid = w.a.project["id"]
    r = start_upload(server, owner, pid, bad, 1)
    assert is_problem(r, 400, "invalid-path"), (bad, r)
    r = server.call("GET", f"/api/v1/projects/{pid}/uploads", owner)
    assert all(u["path"] != bad for u in r.json["items"])


def test_encoded_separators_and_two_spellings_name_one_file(server, w):
    owner = w.a.users["org-admin"].token
    pid = w.a.project["id"]
    nfd = unicodedata.normalize("NFD", "café/naïve.txt")
    upload(server, owner, pid, nfd, b"accents")
    nfc = unicodedata.normalize("NFC", "café/naïve.txt")
    assert download(server, owner, pid, nfc).body == b"accents"
    # %2F inside a segment is a separator like any other; %2E%2E is still '..'.
    r = server.raw("GET", f"/api/v1/projects/{pid}/files/caf%C3%A9%2Fna%C3%AFve.txt",
                   headers={"Authorization": f"Bearer {owner}"})
    assert r.status == 200 and r.body == b"accents"
    r = server.raw("GET", f"/api/v1/projects/{pid}/files/x/%2E%2E/secret.bin",
                   headers={"Authorization": f"Bearer {owner}"})
    assert is_problem(r, 400, "invalid-path")
    names = [f["path"] for f in server.call("GET", f"/api/v1/projects/{pid}/files?prefix=caf%C3%A9", owner).json["items"]]
    assert names == [nfc]


# ---------------------------------------------------------------------------- listing, move, delete, overwrite


def test_list_move_overwrite_delete(server, w):
    owner = w.a.users["org-admin"].token
    pid = w.a.org_project["id"]
    member = w.a.users["member"].token  # the project's owner
    for name in ("d/a.txt", "d/b.txt", "d/sub/c.txt", "d0.txt", "e.txt"):
        upload(server, member, pid, name, name.encode())
    r = server.call("GET", f"/api/v1/projects/{pid}/files?prefix=d", member)
    assert [f["path"] for f in r.json["items"]] == ["d/a.txt", "d/b.txt", "d/sub/c.txt"]
    r = server.call("GET", f"/api/v1/projects/{pid}/files?limit=2", member)
    assert len(r.json["items"]) == 2 and r.json["next"]
    r2 = server.call("GET", f"/api/v1/projects/{pid}/files?limit=10&after={r.json['next']}", member)
    assert [f["path"] for f in r2.json["items"]] == ["d/sub/c.txt", "d0.txt", "e.txt"]

    r = start_upload(server, member, pid, "e.txt", 3)
    assert is_problem(r, 409, "file-exists")
    f = upload(server, member, pid, "e.txt", b"new", overwrite=True)
    assert f["version"] == 2 and download(server, member, pid, "e.txt").body == b"new"

    r = server.call("POST", f"/api/v1/projects/{pid}/files-move", member, json={"from": "d/a.txt", "to": "e.txt"})
    assert is_problem(r, 409, "file-exists")
    r = server.call("POST", f"/api/v1/projects/{pid}/files-move", member, json={"from": "d/a.txt", "to": "moved/a.txt"})
    assert r.status == 200 and r.json["path"] == "moved/a.txt"
    assert download(server, member, pid, "moved/a.txt").body == b"d/a.txt"
    assert download(server, member, pid, "d/a.txt").status == 404
    r = server.call("POST", f"/api/v1/projects/{pid}/files-move", member, json={"from": "d/b.txt", "to": "../x"})
    assert is_problem(r, 400, "invalid-path") and r.json["field"] == "to"

    r = server.call("DELETE", files_url(pid, "moved/a.txt"), member, if_match='"stale"')
    assert r.status == 412
    r = server.call("DELETE", files_url(pid, "moved/a.txt"), member)
    assert r.status == 204
    assert server.call("DELETE", files_url(pid, "moved/a.txt"), member).status == 404
    events = server.call("GET", f"/api/v1/audit/events?org={w.a.id}&limit=200", owner).json["items"]
    actions = {e["action"] for e in events}
    assert {"file.create", "file.replace", "file.move", "file.delete", "upload.create"} <= actions


# ---------------------------------------------------------------------------- roles and tenants


def test_roles_and_tenant_isolation(server, w):
    pid = w.a.project["id"]  # private, owned by A's org-admin
    shared = w.a.org_project["id"]  # visible to A's members
    owner = w.a.users["org-admin"].token
    upload(server, owner, pid, "iso.txt", b"a's data")
    uid = start_upload(server, owner, pid, "iso-pending.txt", 10).json["id"]
    for tok in (w.b.users["org-admin"].token, w.b.users["member"].token):
        assert is_problem(download(server, tok, pid, "iso.txt"), 404)
        assert is_problem(server.call("GET", f"/api/v1/projects/{pid}/files", tok), 404)
        assert is_problem(start_upload(server, tok, pid, "x.txt", 1), 404)
        assert is_problem(server.call("GET", f"/api/v1/uploads/{uid}", tok), 404)
        assert is_problem(send(server, tok, uid, 0, b"0123456789"), 404)
        assert is_problem(server.call("DELETE", f"/api/v1/uploads/{uid}", tok), 404)
        assert is_problem(server.call("DELETE", files_url(pid, "iso.txt"), tok), 404)
    # A's member is not in the private project: 404; the org-visible project's files are readable
    # by a viewer of the org, who still may not write them.
    assert is_problem(download(server, w.a.users["member"].token, pid, "iso.txt"), 404)
    upload(server, w.a.users["member"].token, shared, "readable.txt", b"for the org")
    viewer = w.a.users["viewer"].token
    assert download(server, viewer, shared, "readable.txt").body == b"for the org"
    assert is_problem(start_upload(server, viewer, shared, "v.txt", 1), 403)
    assert is_problem(server.call("DELETE", files_url(shared, "readable.txt"), viewer), 403)
    # Another user's upload in the same project is not theirs to use.
    assert is_problem(server.call("GET", f"/api/v1/uploads/{uid}", w.a.users["member"].token), 404)
    # A token without files scopes.
    r = server.call("POST", "/api/v1/tokens", owner, json={"name": "ro", "scopes": ["files:read:org"]})
    assert r.status == 201, r
    ro = r.json["token"]
    assert download(server, ro, pid, "iso.txt").body == b"a's data"
    assert is_problem(start_upload(server, ro, pid, "ro.txt", 1), 403, "token-scope")


def test_archived_projects_take_no_uploads(server, w, admin):
    tok = w.b.users["org-admin"].token
    r = server.call("POST", f"/api/v1/orgs/{w.b.id}/projects", tok, json={"slug": "arch", "name": "Arch"})
    pid = r.json["id"]
    r = server.call("PATCH", f"/api/v1/projects/{pid}", tok, json={"archived": True}, if_match=r.etag)
    assert r.status == 200, r
    assert is_problem(start_upload(server, tok, pid, "x", 1), 409, "project-archived")


def test_a_chunk_over_the_limit_is_refused_with_the_header(make_server):
    srv = make_server(env={"ATRIUM_DATA_MAX_CHUNK_BYTES": "65536"})
    tok = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", tok, json={"slug": "lim", "name": "Lim"}).json
    pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", tok, json={"slug": "p", "name": "P"}).json["id"]
    r = start_upload(srv, tok, pid, "big.bin", 200_000)
    assert r.headers["Upload-Chunk-Max"] == "65536"
    uid = r.json["id"]
    assert is_problem(send(srv, tok, uid, 0, b"x" * 65537), 413, "body-too-large")
    assert send(srv, tok, uid, 0, b"x" * 65536).status == 200
    # Other routes keep the API body limit (1 MiB): refused on the header alone.
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(f"POST /api/v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
              f"Content-Type: application/json\r\nContent-Length: {2 << 20}\r\n\r\n".encode())
    assert s.recv(4096).startswith(b"HTTP/1.1 413 ")
    s.close()


# ---------------------------------------------------------------------------- quotas


def test_storage_quota_counts_a_blob_once_and_refuses_before_sending(server, w):
    oa = w.b.users["org-admin"].token
    pid = w.b.project["id"]
    org = w.b.id
    r = server.call("PUT", f"/api/v1/orgs/{org}/quotas/org/{org}", oa, json={"storage_bytes": 10_000}, if_match="*")
    assert r.status == 200, r
    data = data_of(4_000, seed=6)
    upload(server, oa, pid, "q1.bin", data)
    upload(server, oa, pid, "q2.bin", data)  # the same content: counted once
    q = server.call("GET", f"/api/v1/orgs/{org}/quotas/org/{org}", oa).json
    assert q["usage"]["storage_bytes"] == 4_000
    r = start_upload(server, oa, pid, "q3.bin", 6_001)
    assert is_problem(r, 507, "quota-exceeded")
    assert r.json["max"] == 10_000 and r.json["used"] == 4_000 and r.json["requested"] == 6_001
    # An upload in progress reserves its size.
    uid = start_upload(server, oa, pid, "q3.bin", 6_000).json["id"]
    assert is_problem(start_upload(server, oa, pid, "q4.bin", 1), 507, "quota-exceeded")
    assert server.call("DELETE", f"/api/v1/uploads/{uid}", oa).status == 204
    assert start_upload(server, oa, pid, "q4.bin", 1).status == 201
    server.call("PUT", f"/api/v1/orgs/{org}/quotas/org/{org}", oa, json={}, if_match="*")


def test_uploads_never_fill_the_disk(make_server):
    srv = make_server(env={"ATRIUM_DATA_RESERVE_BYTES": str(1 << 50)})  # more than any disk has free
    tok = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", tok, json={"slug": "disk", "name": "Disk"}).json
    pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", tok, json={"slug": "p", "name": "P"}).json["id"]
    r = start_upload(srv, tok, pid, "x.bin", 10)
    assert is_problem(r, 507, "insufficient-storage")


# ---------------------------------------------------------------------------- crashes and garbage collection


def test_kill9_during_an_upload_loses_nothing_acknowledged(make_server):
    srv = make_server()
    tok = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", tok, json={"slug": "k9", "name": "K9"}).json
    pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", tok, json={"slug": "p", "name": "P"}).json["id"]
    data = data_of(4 * CHUNK, seed=7)
    uid = start_upload(srv, tok, pid, "k.bin", len(data)).json["id"]
    assert send(srv, tok, uid, 0, data[:CHUNK]).status == 200
    assert send(srv, tok, uid, CHUNK, data[CHUNK:2 * CHUNK]).status == 200
    done = upload(srv, tok, pid, "done.bin", data[:1000])
    srv.kill9()
    srv.start()
    tok = srv.admin_token()
    r = srv.call("GET", f"/api/v1/uploads/{uid}", tok)
    assert r.status == 200 and r.json["offset"] == 2 * CHUNK
    assert send(srv, tok, uid, 2 * CHUNK, data[2 * CHUNK:]).status == 200
    assert srv.call("POST", f"/api/v1/uploads/{uid}/complete", tok, json={"sha256": sha(data)}).status == 201
    assert download(srv, tok, pid, "k.bin").body == data
    assert download(srv, tok, pid, "done.bin").body == data[:1000]
    assert done["sha256"] == sha(data[:1000])


def test_gc_collects_only_unreferenced_blobs(make_server):
    srv = make_server(env={"ATRIUM_DATA_GC_GRACE_S": "0"})
    tok = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", tok, json={"slug": "gc", "name": "GC"}).json
    pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", tok, json={"slug": "p", "name": "P"}).json["id"]
    keep = upload(srv, tok, pid, "keep.bin", data_of(5000, seed=10))
    gone = upload(srv, tok, pid, "gone.bin", data_of(6000, seed=11))
    upload(srv, tok, pid, "dup.bin", data_of(5000, seed=10))  # the same blob as keep.bin
    pending = start_upload(srv, tok, pid, "pending.bin", 100).json["id"]
    assert send(srv, tok, pending, 0, b"p" * 50).status == 200
    assert srv.call("DELETE", files_url(pid, "gone.bin"), tok).status == 204
    assert srv.call("DELETE", files_url(pid, "dup.bin"), tok).status == 204
    # An object without a row (a crash between storing a blob and recording its file).
    orphan = srv.data_dir / "blobs" / "objects" / "ab" / ("ab" + "0" * 62)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"orphan")

    r = srv.call("POST", "/api/v1/admin/gc", tok, json={"dry_run": True})
    assert r.status == 200 and r.json["blobs"] == 1 and r.json["bytes"] == 6000 and r.json["orphan_objects"] == 1
    assert {p.name for p in blob_files(srv)} >= {keep["sha256"], gone["sha256"]}
    r = srv.call("POST", "/api/v1/admin/gc", tok, json={})
    assert r.status == 200 and r.json["blobs"] == 1 and not r.json["dry_run"]
    names = {p.name for p in blob_files(srv)}
    assert keep["sha256"] in names and gone["sha256"] not in names and orphan.name not in names
    assert download(srv, tok, pid, "keep.bin").body == data_of(5000, seed=10)
    # The upload in progress survived and finishes.
    assert send(srv, tok, pending, 50, b"p" * 50).status == 200
    assert srv.call("POST", f"/api/v1/uploads/{pending}/complete", tok, json={}).status == 201
    # Only the instance admin collects.
    u = srv.call("POST", "/api/v1/users", tok, json={"username": "plain", "password": "plain-password-123"})
    assert u.status == 201, u
    plain = srv.login_token("plain", "plain-password-123")
    assert is_problem(srv.call("POST", "/api/v1/admin/gc", plain, json={"dry_run": True}), 403)


# ---------------------------------------------------------------------------- signed links


def test_signed_links_expire_are_one_time_revocable_and_audited(make_server):
    srv = make_server(env={"ATRIUM_DATA_GC_GRACE_S": "0"})
    tok = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", tok, json={"slug": "links", "name": "Links"}).json
    pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", tok, json={"slug": "p", "name": "P"}).json["id"]
    data = data_of(150_000, seed=12)
    upload(srv, tok, pid, "share/report.pdf", data)

    r = srv.call("POST", f"/api/v1/projects/{pid}/links", tok, json={"path": "share/report.pdf"})
    assert r.status == 201, r
    link = r.json
    assert link["url"] == "/dl/" + link["token"] and link["one_time"] is False
    # Anyone with the URL, no credentials; Range works.
    r = srv.raw("GET", link["url"])
    assert r.status == 200 and r.body == data and "report.pdf" in r.headers["Content-Disposition"]
    r = srv.raw("GET", link["url"], headers={"Range": "bytes=100-199"})
    assert r.status == 206 and r.body == data[100:200]
    # A forged or altered token, or another link's id with this signature, is refused alike.
    lid, sig = link["token"].split(".", 1)
    for bad in (lid + "." + sig[:-2] + ("AA" if not sig.endswith("AA") else "BB"), lid + ".x", "nope", lid):
        assert is_problem(srv.raw("GET", "/dl/" + bad), 404, "link-invalid"), bad

    # The link serves the file as it was: replacing or deleting the file does not change it, and
    # garbage collection keeps its blob while the link lives.
    upload(srv, tok, pid, "share/report.pdf", b"new version", overwrite=True)
    assert srv.call("DELETE", files_url(pid, "share/report.pdf"), tok).status == 204
    assert srv.call("POST", "/api/v1/admin/gc", tok, json={}).json["blobs"] == 1  # only "new version"
    assert srv.raw("GET", link["url"]).body == data

    # One-time links work once, also when two requests race.
    upload(srv, tok, pid, "once.txt", b"only once")
    once = srv.call("POST", f"/api/v1/projects/{pid}/links", tok, json={"path": "once.txt", "one_time": True}).json
    assert srv.raw("HEAD", once["url"]).status == 200  # HEAD does not use it up
    assert srv.raw("GET", once["url"]).body == b"only once"
    assert is_problem(srv.raw("GET", once["url"]), 404, "link-invalid")
    race = srv.call("POST", f"/api/v1/projects/{pid}/links", tok, json={"path": "once.txt", "one_time": True}).json
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(lambda _: srv.raw("GET", race["url"]).status, range(6)))
    assert statuses == [200] + [404] * 5

    # Revocation; expiry is checked with expires_in_s bounds.
    assert srv.call("DELETE", f"/api/v1/links/{link['id']}", tok).status == 204
    assert is_problem(srv.raw("GET", link["url"]), 404, "link-invalid")
    assert is_problem(srv.call("DELETE", f"/api/v1/links/{link['id']}", tok), 409, "link-revoked")
    r = srv.call("POST", f"/api/v1/projects/{pid}/links", tok, json={"path": "once.txt", "expires_in_s": 0})
    assert is_problem(r, 400)
    r = srv.call("POST", f"/api/v1/projects/{pid}/links", tok, json={"path": "missing.txt"})
    assert is_problem(r, 404)
    listed = srv.call("GET", f"/api/v1/projects/{pid}/links", tok).json["items"]
    assert {x["id"] for x in listed} == {link["id"], once["id"], race["id"]}
    assert all("token" not in x and "url" not in x for x in listed)
    got = next(x for x in listed if x["id"] == link["id"])
    assert got["revoked"] is True and got["uses"] == 3

    events = srv.call("GET", f"/api/v1/audit/events?org={org['id']}&action=link.*&limit=100", tok).json["items"]
    uses = [e for e in events if e["action"] == "link.use"]
    assert len(uses) == 5 and {e["target_id"] for e in uses} == {link["id"], once["id"], race["id"]}
    assert any(e["summary"].get("request") == "bytes=100-199" for e in uses)
    assert {"link.create", "link.revoke"} <= {e["action"] for e in events}
    # Once revoked (and past the grace period), the old blob goes.
    assert srv.call("POST", "/api/v1/admin/gc", tok, json={}).json["blobs"] >= 1


# ---------------------------------------------------------------------------- datasets


def test_datasets_versions_manifests_diff_and_gc(make_server):
    srv = make_server(env={"ATRIUM_DATA_GC_GRACE_S": "0"})
    tok = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", tok, json={"slug": "ds", "name": "DS"}).json
    pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", tok, json={"slug": "p", "name": "P"}).json["id"]
    for name, body in {"raw/a.csv": b"a,1\n", "raw/b.csv": b"b,2\n", "raw/sub/c.csv": b"c,3\n", "other.txt": b"x"}.items():
        upload(srv, tok, pid, name, body)
    r = srv.call("POST", f"/api/v1/projects/{pid}/datasets", tok, json={"name": "survey", "description": "field data"})
    assert r.status == 201, r
    ds = r.json
    assert ds["latest"] is None
    assert is_problem(srv.call("POST", f"/api/v1/projects/{pid}/datasets", tok, json={"name": "survey"}), 409,
                      "dataset-exists")
    assert is_problem(srv.call("POST", f"/api/v1/projects/{pid}/datasets", tok, json={"name": "../x"}), 400)

    v1 = srv.call("POST", f"/api/v1/datasets/{ds['id']}/versions", tok, json={"prefix": "raw", "message": "first"})
    assert v1.status == 201, v1
    assert v1.json["version"] == 1 and v1.json["files"] == 3 and v1.json["bytes"] == 12
    manifest = srv.call("GET", f"/api/v1/datasets/{ds['id']}/versions/1/files", tok).json["items"]
    assert [e["path"] for e in manifest] == ["a.csv", "b.csv", "sub/c.csv"]
    assert manifest[0]["sha256"] == sha(b"a,1\n")

    # The files change; version 1 does not.
    upload(srv, tok, pid, "raw/a.csv", b"a,100\n", overwrite=True)
    assert srv.call("DELETE", files_url(pid, "raw/b.csv"), tok).status == 204
    upload(srv, tok, pid, "raw/d.csv", b"d,4\n")
    v2 = srv.call("POST", f"/api/v1/datasets/{ds['id']}/versions", tok, json={"prefix": "raw"}).json
    assert v2["version"] == 2 and v2["manifest_sha256"] != v1.json["manifest_sha256"]
    r = srv.raw("GET", f"/api/v1/datasets/{ds['id']}/versions/1/files/b.csv", headers={"Authorization": f"Bearer {tok}"})
    assert r.status == 200 and r.body == b"b,2\n"
    r = srv.raw("GET", f"/api/v1/datasets/{ds['id']}/versions/1/files/a.csv", headers={"Authorization": f"Bearer {tok}"})
    assert r.body == b"a,1\n"

    diff = srv.call("GET", f"/api/v1/datasets/{ds['id']}/diff?from=1&to=2", tok).json
    assert [e["path"] for e in diff["added"]] == ["d.csv"]
    assert [e["path"] for e in diff["removed"]] == ["b.csv"]
    assert [c["path"] for c in diff["changed"]] == ["a.csv"] and diff["unchanged"] == 1
    assert diff["changed"][0]["from"]["sha256"] == sha(b"a,1\n")

    # An explicit list of paths; unknown paths and both sources are refused.
    v3 = srv.call("POST", f"/api/v1/datasets/{ds['id']}/versions", tok, json={"paths": ["other.txt", "raw/d.csv"]})
    assert v3.status == 201 and v3.json["files"] == 2
    r = srv.call("POST", f"/api/v1/datasets/{ds['id']}/versions", tok, json={"paths": ["nope.txt"]})
    assert is_problem(r, 400, "unknown-file")
    r = srv.call("POST", f"/api/v1/datasets/{ds['id']}/versions", tok, json={"paths": [], "prefix": "raw"})
    assert is_problem(r, 400)
    assert is_problem(srv.call("GET", f"/api/v1/datasets/{ds['id']}/versions/9", tok), 404)
    assert is_problem(srv.call("GET", f"/api/v1/datasets/{ds['id']}/versions/x", tok), 400, "invalid-version")
    shown = srv.call("GET", f"/api/v1/datasets/{ds['id']}", tok).json
    assert shown["latest"] == 3 and [v["version"] for v in shown["versions"]] == [3, 2, 1]

    # b.csv and the old a.csv have no file any more, but version 1 keeps their blobs: nothing to
    # collect, and they count towards the org's storage (each blob once: 4+4+4+1+6+4 bytes).
    assert srv.call("POST", "/api/v1/admin/gc", tok, json={}).json["blobs"] == 0
    r = srv.raw("GET", f"/api/v1/datasets/{ds['id']}/versions/1/files/b.csv", headers={"Authorization": f"Bearer {tok}"})
    assert r.body == b"b,2\n"
    q = srv.call("GET", f"/api/v1/orgs/{org['id']}/quotas/org/{org['id']}", tok).json
    assert q["usage"]["storage_bytes"] == 23

    # A signed link to a whole version: its file list, then its files, without credentials.
    r = srv.call("POST", f"/api/v1/datasets/{ds['id']}/versions/1/links", tok, json={"expires_in_s": 600})
    assert r.status == 201, r
    link = r.json
    assert link["dataset_id"] == ds["id"] and link["dataset_version"] == 1
    assert is_problem(srv.call("POST", f"/api/v1/datasets/{ds['id']}/versions/1/links", tok, json={"one_time": True}),
                      400)
    assert is_problem(srv.call("POST", f"/api/v1/datasets/{ds['id']}/versions/7/links", tok, json={}), 404)
    listing = srv.raw("GET", link["url"]).json
    assert [f["path"] for f in listing["files"]] == ["a.csv", "b.csv", "sub/c.csv"] and listing["version"] == 1
    got = srv.raw("GET", listing["files"][2]["url"])
    assert got.status == 200 and got.body == b"c,3\n"
    assert srv.raw("GET", link["url"] + "/b.csv", headers={"Range": "bytes=0-0"}).body == b"b"
    assert is_problem(srv.raw("GET", link["url"] + "/nope.csv"), 404)
    assert is_problem(srv.raw("GET", link["url"][:-3] + "xyz/a.csv"), 404, "link-invalid")
    assert srv.call("DELETE", f"/api/v1/links/{link['id']}", tok).status == 204
    assert is_problem(srv.raw("GET", link["url"] + "/a.csv"), 404, "link-invalid")
    uses = srv.call("GET", f"/api/v1/audit/events?org={org['id']}&action=link.use&limit=50", tok).json["items"]
    assert sorted(e["summary"]["request"] for e in uses) == ["b.csv bytes=0-0", "list", "sub/c.csv"]


def test_jobs_read_pinned_dataset_versions_at_data_name(make_server):
    srv = make_server(env={"ATRIUM_COMPUTE_CPUS": "2", "ATRIUM_COMPUTE_MEM_MB": "2048", "ATRIUM_COMPUTE_GPUS": "0"})
    tok = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", tok, json={"slug": "dsj", "name": "DSJ"}).json
    pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", tok, json={"slug": "p", "name": "P"}).json["id"]
    upload(srv, tok, pid, "in/a.txt", b"version one\n")
    upload(srv, tok, pid, "in/deep/b.txt", b"bee\n")
    ds = srv.call("POST", f"/api/v1/projects/{pid}/datasets", tok, json={"name": "survey"}).json
    assert srv.call("POST", f"/api/v1/datasets/{ds['id']}/versions", tok, json={"prefix": "in"}).status == 201
    upload(srv, tok, pid, "in/a.txt", b"version two\n", overwrite=True)
    assert srv.call("POST", f"/api/v1/datasets/{ds['id']}/versions", tok, json={"prefix": "in"}).status == 201

    script = ("cat /data/survey/a.txt /data/survey/deep/b.txt; cat /data/old/a.txt; "
              "if touch /data/survey/new 2>/dev/null; then echo WRITABLE; else echo read-only; fi")
    r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok,
                 json={"script": script, "datasets": ["survey", "old@1"], "time_limit_s": 60})
    assert is_problem(r, 400, "invalid-dataset")  # "old" is not a dataset of the project
    r = srv.call("POST", f"/api/v1/projects/{pid}/datasets", tok, json={"name": "old"})
    old = r.json
    r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok,
                 json={"script": script, "datasets": ["survey", "old@1"], "time_limit_s": 60})
    assert is_problem(r, 400, "invalid-dataset")  # "old" has no version 1 yet
    # Pin "old" to survey's first content through a version of its own.
    upload(srv, tok, pid, "keep/a.txt", b"version one\n")
    assert srv.call("POST", f"/api/v1/datasets/{old['id']}/versions", tok, json={"prefix": "keep"}).status == 201
    for bad in (["survey@3"], ["survey@x"], ["survey", "survey@1"]):
        r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok, json={"script": "true", "datasets": bad})
        assert is_problem(r, 400, "invalid-dataset"), bad
    r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok,
                 json={"script": script, "datasets": ["survey", "old@1"], "time_limit_s": 60})
    assert r.status == 201, r
    jid = r.json["id"]
    # A new version made after submission does not change what the job reads.
    upload(srv, tok, pid, "in/a.txt", b"version three\n", overwrite=True)
    srv.call("POST", f"/api/v1/datasets/{ds['id']}/versions", tok, json={"prefix": "in"})

    job = wait_job_end(srv, tok, jid)
    out = srv.raw("GET", f"/api/v1/jobs/{jid}/logs", headers={"Authorization": f"Bearer {tok}"}).body.decode()
    err = srv.raw("GET", f"/api/v1/jobs/{jid}/logs?stream=stderr", headers={"Authorization": f"Bearer {tok}"}).body
    assert job["state"] == "COMPLETED", (job, out, err, srv.output()[-2000:])
    assert out == "version two\nbee\nversion one\nread-only\n", (out, err)
    assert [(d["name"], d["version"]) for d in job["datasets"]] == [("old", 1), ("survey", 2)]
    # The plaintext copies the job read are gone once it has ended (a copy per uid lives only while
    # a job of that uid runs with it: tests/integration/hostile/test_job_trees.py).
    copies = srv.data_dir / "datasets"
    wait_until(lambda: not any(copies.iterdir()), 30, what="the job's dataset copies to go")
    held = srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok,
                    json={"script": "true", "datasets": ["survey@2"], "hold": True}).json
    assert srv.call("POST", "/api/v1/admin/gc", tok, json={"dry_run": True}).json["materialized"] == 0
    assert not any(copies.iterdir())  # a pending job has no copy yet
    assert srv.call("POST", f"/api/v1/jobs/{held['id']}/cancel", tok).status == 200


def test_job_outputs_become_a_dataset_version_with_provenance(make_server):
    srv = make_server(env={"ATRIUM_COMPUTE_CPUS": "2", "ATRIUM_COMPUTE_MEM_MB": "2048", "ATRIUM_COMPUTE_GPUS": "0"})
    tok = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", tok, json={"slug": "outs", "name": "Outs"}).json
    pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", tok, json={"slug": "p", "name": "P"}).json["id"]
    upload(srv, tok, pid, "in/x.txt", b"input\n")
    ds_in = srv.call("POST", f"/api/v1/projects/{pid}/datasets", tok, json={"name": "inputs"}).json
    srv.call("POST", f"/api/v1/datasets/{ds_in['id']}/versions", tok, json={"prefix": "in"})
    script = ("mkdir -p out/sub && cp /data/inputs/x.txt out/a.csv && echo b > out/b.csv && echo s > out/sub/c.csv "
              "&& echo no > out/skip.txt && ln -s /etc/passwd out/evil.csv && ln -s /etc out/etc")
    bad = [{"dataset": "results"}, {"dataset": "results", "paths": ["/etc/*"]}, {"dataset": "results", "paths": ["../x"]},
           {"dataset": "../r", "paths": ["a"]}, {"dataset": "results", "paths": []}, "results"]
    for o in bad:
        r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok, json={"script": "true", "outputs": o})
        assert is_problem(r, 400, "invalid-outputs"), o
    assert srv.call("GET", f"/api/v1/projects/{pid}/datasets", tok).json["items"] == [
        d for d in srv.call("GET", f"/api/v1/projects/{pid}/datasets", tok).json["items"] if d["name"] == "inputs"]
    r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok,
                 json={"script": script, "datasets": ["inputs"], "time_limit_s": 60,
                       "outputs": {"dataset": "results", "paths": ["out/*.csv", "out/*/*.csv"]}})
    assert r.status == 201, r
    jid = r.json["id"]
    job = wait_job_end(srv, tok, jid)
    assert job["state"] == "COMPLETED", (job, srv.output()[-2000:])
    assert job["outputs"]["dataset"] == "results"
    results = next(d for d in srv.call("GET", f"/api/v1/projects/{pid}/datasets", tok).json["items"]
                   if d["name"] == "results")
    shown = srv.call("GET", f"/api/v1/datasets/{results['id']}", tok).json
    assert shown["latest"] == 1
    v = shown["versions"][0]
    prov = v["provenance"]
    assert prov["source"] == "job" and prov["job_id"] == jid and prov["state"] == "COMPLETED" and prov["exit_code"] == 0
    assert prov["inputs"] == [{"name": "inputs", "dataset_id": ds_in["id"], "version": 1}]
    assert prov["script_sha256"] and prov["image"] == "host"
    files = srv.call("GET", f"/api/v1/datasets/{results['id']}/versions/1/files", tok).json["items"]
    assert [f["path"] for f in files] == ["out/a.csv", "out/b.csv", "out/sub/c.csv"]  # no symlink, no .txt
    r = srv.raw("GET", f"/api/v1/datasets/{results['id']}/versions/1/files/out/a.csv",
                headers={"Authorization": f"Bearer {tok}"})
    assert r.body == b"input\n"
