"""Git hosting through a real server and the real git client: clone, fetch and push over smart HTTP
with API tokens, roles, token scopes and tenants, push audit, protected branches, the repository
API (branches, tags, log, tree, files, compare), file edits as commits racing pushes, and jobs
pinned to a commit.
"""
from __future__ import annotations

import base64
import concurrent.futures
import os
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from conftest import World, is_problem, wait_until

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "Tester",
    "GIT_AUTHOR_EMAIL": "tester@example.org",
    "GIT_COMMITTER_NAME": "Tester",
    "GIT_COMMITTER_EMAIL": "tester@example.org",
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
    "LC_ALL": "C",
}


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=cwd, env=GIT_ENV,
                       capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def url(srv, org_slug: str, project_slug: str, token: str | None, user: str = "x") -> str:
    cred = f"{user}:{urllib.parse.quote(token, safe='')}@" if token else ""
    return f"http://{cred}127.0.0.1:{srv.port}/{org_slug}/{project_slug}.git"


def commit_file(repo: Path, path: str, text: str, message: str) -> str:
    f = repo / path
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(text)
    git("add", path, cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo).stdout.strip()


def api(project_id: str, tail: str = "") -> str:
    return f"/api/v1/projects/{project_id}/repo{tail}"


@pytest.fixture(scope="module")
def w(server, admin) -> World:
    return World(server, admin, prefix="g")


def test_clone_push_fetch_and_the_push_is_audited(server, w, tmp_path):
    org, owner = w.a, w.a.users["org-admin"]
    u = url(server, org.slug, "secret", owner.token)
    # An empty repository clones.
    p = git("clone", "-q", u, str(tmp_path / "one"))
    assert "empty repository" in p.stderr
    one = tmp_path / "one"
    c1 = commit_file(one, "README.md", "hello\n", "first")
    commit_file(one, "src/model.py", "print('model')\n", "second")
    git("push", "-q", "origin", "main", cwd=one)
    # Another clone sees exactly that history, with protocol v2 and v0 alike.
    for proto in ("2", "0"):
        dst = tmp_path / f"two-{proto}"
        git("-c", f"protocol.version={proto}", "clone", "-q", u, str(dst))
        assert (dst / "src/model.py").read_text() == "print('model')\n"
        assert git("rev-parse", "HEAD", cwd=dst).stdout == git("rev-parse", "HEAD", cwd=one).stdout
    # A fetch brings a later push.
    c3 = commit_file(one, "README.md", "hello again\n", "third")
    git("push", "-q", "origin", "main", cwd=one)
    two = tmp_path / "two-2"
    git("fetch", "-q", "origin", cwd=two)
    assert git("rev-parse", "origin/main", cwd=two).stdout.strip() == c3
    # A bearer token works as well as Basic.
    r = server.raw("GET", f"/{org.slug}/secret.git/info/refs?service=git-upload-pack",
                   headers={"Authorization": f"Bearer {owner.token}"})
    assert r.status == 200 and r.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
    # Each push is in the audit trail: ref, old -> new, pusher.
    r = server.call("GET", f"/api/v1/audit/events?limit=200&action=repo.push&target={org.project['id']}", w.admin)
    assert r.status == 200, r
    pushes = [e for e in r.json["items"]]
    assert len(pushes) == 2, pushes
    newest = max(pushes, key=lambda e: e["seq"])
    assert newest["summary"]["ref"] == "refs/heads/main" and newest["summary"]["new"] == c3
    assert newest["actor"] == owner.username
    oldest = min(pushes, key=lambda e: e["seq"])
    assert oldest["summary"]["old"] is None and oldest["summary"]["change"] == "create"
    assert c1  # the first commit is in the history the second clone checked


def test_who_may_clone_and_push(server, w, tmp_path):
    a, b = w.a, w.b
    owner = a.users["org-admin"]
    # The org-visible project (owner: a's member) gets a commit to clone.
    src = tmp_path / "src"
    git("init", "-q", str(src))
    commit_file(src, "f.txt", "x\n", "init")
    git("push", "-q", url(server, a.slug, "shared", a.users["member"].token), "main", cwd=src)

    # No credentials: 401 asking for Basic, so git prompts or uses its credential helper.
    r = server.raw("GET", f"/{a.slug}/secret.git/info/refs?service=git-upload-pack")
    assert r.status == 401
    assert any(v.startswith("Basic ") for v in r.headers.get_all("WWW-Authenticate")), r.headers
    # Another tenant: 404, for a project that exists and one that does not (no probing).
    for proj in ("secret", "shared", "nope"):
        r = server.raw("GET", f"/{a.slug}/{proj}.git/info/refs?service=git-upload-pack",
                       headers={"Authorization": f"Bearer {b.users['org-admin'].token}"})
        assert is_problem(r, 404), (proj, r)
    p = git("clone", "-q", url(server, a.slug, "shared", b.users["member"].token), str(tmp_path / "x"), check=False)
    assert p.returncode != 0 and "not found" in p.stderr.lower(), p.stderr
    # A wrong token is 401, not 404.
    r = server.raw("GET", f"/{a.slug}/secret.git/info/refs?service=git-upload-pack",
                   headers={"Authorization": "Basic " + base64.b64encode(b"x:nope").decode()})
    assert r.status == 401
    # a's viewer may clone the org-visible project but not push: 403.
    viewer = a.users["viewer"]
    dst = tmp_path / "viewer"
    git("clone", "-q", url(server, a.slug, "shared", viewer.token), str(dst))
    commit_file(dst, "g.txt", "y\n", "viewer change")
    p = git("push", "-q", "origin", "main", cwd=dst, check=False)
    assert p.returncode != 0 and "403" in p.stderr, p.stderr
    # The private project is hidden from the viewer: 404.
    r = server.raw("GET", f"/{a.slug}/secret.git/info/refs?service=git-upload-pack",
                   headers={"Authorization": f"Bearer {viewer.token}"})
    assert is_problem(r, 404)
    # A read-only token of someone who may push: clone yes, push 403.
    r = server.call("POST", "/api/v1/tokens", owner.token, json={"name": "ro", "scopes": ["code:read:org"]})
    assert r.status == 201, r
    ro = r.json["token"]
    dst = tmp_path / "ro"
    git("clone", "-q", url(server, a.slug, "secret", ro), str(dst))
    commit_file(dst, "h.txt", "z\n", "ro change")
    p = git("push", "-q", "origin", "main", cwd=dst, check=False)
    assert p.returncode != 0 and "403" in p.stderr, p.stderr
    r = server.raw("GET", f"/{a.slug}/secret.git/info/refs?service=git-receive-pack",
                   headers={"Authorization": f"Bearer {ro}"})
    assert is_problem(r, 403)
    # Only the smart protocol is served.
    r = server.raw("GET", f"/{a.slug}/secret.git/info/refs", headers={"Authorization": f"Bearer {owner.token}"})
    assert is_problem(r, 403, "dumb-http")
    r = server.raw("GET", f"/{a.slug}/secret.git/HEAD", headers={"Authorization": f"Bearer {owner.token}"})
    assert r.status == 404


def test_protected_branches_refuse_force_push_and_delete(server, w, tmp_path):
    org = w.a
    owner, member = org.users["org-admin"], org.users["member"]
    pid = org.org_project["id"]  # owner: the member
    u = url(server, org.slug, "shared", member.token)
    repo = tmp_path / "r"
    git("clone", "-q", u, str(repo))
    commit_file(repo, "p.txt", "1\n", "p1")
    git("push", "-q", "origin", "main", "main:release/1", "main:scratch", cwd=repo)
    # Members may not protect branches; the project's owner (the member here) may.
    r = server.call("POST", api(pid, "/protected-branches"), org.users["viewer"].token, json={"pattern": "main"})
    assert is_problem(r, 403)
    for bad in ("", "a..b", "[ab]", "x y", "-x"):
        r = server.call("POST", api(pid, "/protected-branches"), member.token, json={"pattern": bad})
        assert is_problem(r, 400), bad
    for pat in ("main", "release/*"):
        r = server.call("POST", api(pid, "/protected-branches"), member.token, json={"pattern": pat})
        assert r.status == 201, r
    assert is_problem(server.call("POST", api(pid, "/protected-branches"), member.token, json={"pattern": "main"}), 409)
    r = server.call("GET", api(pid, "/branches"), owner.token)
    assert {b["name"]: b["protected"] for b in r.json["items"]} == {"main": True, "release/1": True, "scratch": False}

    # A fast-forward lands.
    commit_file(repo, "p.txt", "2\n", "p2")
    git("push", "-q", "origin", "main", cwd=repo)
    head = git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    # A rewrite does not, even forced, and nor does a delete; an unprotected branch takes both.
    git("reset", "-q", "--hard", "HEAD~1", cwd=repo)
    commit_file(repo, "p.txt", "rewritten\n", "p2'")
    p = git("push", "--force", "origin", "main", cwd=repo, check=False)
    assert p.returncode != 0 and "protected" in p.stderr, p.stderr
    p = git("push", "origin", ":release/1", cwd=repo, check=False)
    assert p.returncode != 0 and "protected" in p.stderr, p.stderr
    git("push", "-q", "--force", "origin", "HEAD:scratch", cwd=repo)
    git("push", "-q", "origin", ":scratch", cwd=repo)
    r = server.call("GET", api(pid, "/branches"), owner.token)
    heads = {b["name"]: b["commit"] for b in r.json["items"]}
    assert heads["main"] == head and "scratch" not in heads and "release/1" in heads
    # Unprotecting lets the delete through.
    r = server.call("DELETE", api(pid, "/protected-branches/release/*"), member.token)
    assert r.status == 204, r
    git("push", "-q", "origin", ":release/1", cwd=repo)
    audit = server.call("GET", f"/api/v1/audit/events?limit=200&action=repo.*&target={pid}", w.admin).json["items"]
    actions = [e["action"] for e in audit]
    assert actions.count("repo.protect") == 2 and actions.count("repo.unprotect") == 1
    deletes = [e for e in audit if e["action"] == "repo.push" and e["summary"]["change"] == "delete"]
    assert {e["summary"]["ref"] for e in deletes} == {"refs/heads/scratch", "refs/heads/release/1"}


def test_repository_api_reads(server, w, tmp_path):
    org = w.b
    owner = org.users["org-admin"]
    pid = org.project["id"]
    tok = owner.token
    # An empty repository answers, without being made.
    r = server.call("GET", api(pid), tok)
    assert r.status == 200 and r.json["empty"] is True and r.json["default_branch"] == "main"
    assert r.json["clone_path"] == f"/{org.slug}/secret.git"
    assert server.call("GET", api(pid, "/branches"), tok).json["items"] == []
    assert is_problem(server.call("GET", api(pid, "/commits"), tok), 404, "ref-not-found")

    repo = tmp_path / "r"
    git("clone", "-q", url(server, org.slug, "secret", tok), str(repo))
    first = commit_file(repo, "README.md", "# title\n", "readme")
    for i in range(4):
        commit_file(repo, "src/data.csv", f"a,b\n{i},{i}\n", f"data {i}")
    (repo / "bin.dat").write_bytes(b"\x00\x01\x02binary")
    git("add", "bin.dat", cwd=repo)
    git("commit", "-q", "-m", "binary file", cwd=repo)
    git("tag", "-a", "v1", "-m", "version one", cwd=repo)
    git("tag", "light", first, cwd=repo)
    git("push", "-q", "--tags", "origin", "main", cwd=repo)
    head = git("rev-parse", "HEAD", cwd=repo).stdout.strip()

    info = server.call("GET", api(pid), tok).json
    assert info["head"] == head and info["empty"] is False
    tags = server.call("GET", api(pid, "/tags"), tok).json["items"]
    assert {t["name"]: t["commit"] for t in tags} == {"light": first, "v1": head}
    # The log pages newest first; path= keeps the commits that touch it.
    seen, after = [], None
    while True:
        q = "?limit=2" + (f"&after={after}" if after else "")
        page = server.call("GET", api(pid, "/commits") + q, tok).json
        seen += [c["id"] for c in page["items"]]
        after = page["next"]
        if not after:
            break
    assert seen == git("rev-list", "HEAD", cwd=repo).stdout.split()
    touched = server.call("GET", api(pid, "/commits?path=src/data.csv"), tok).json["items"]
    assert [c["subject"] for c in touched] == ["data 3", "data 2", "data 1", "data 0"]
    assert touched[0]["author"]["email"] == "tester@example.org"
    one = server.call("GET", api(pid, f"/commits/{first[:10]}"), tok)
    assert one.status == 200 and one.json["id"] == first and one.json["parents"] == []
    assert is_problem(server.call("GET", api(pid, "/commits/nope"), tok), 404)

    tree = server.call("GET", api(pid, "/tree"), tok).json
    assert [(e["name"], e["type"]) for e in tree["entries"]] == [("README.md", "file"), ("bin.dat", "file"),
                                                                 ("src", "dir")]
    sub = server.call("GET", api(pid, "/tree?path=src&ref=v1"), tok).json
    assert [e["path"] for e in sub["entries"]] == ["src/data.csv"] and sub["entries"][0]["size"] == 8
    assert is_problem(server.call("GET", api(pid, "/tree?path=README.md"), tok), 404)
    assert is_problem(server.call("GET", api(pid, "/tree?path=../x"), tok), 400)
    # File content: raw and JSON, at a ref, binary detected, ETag and 304.
    r = server.raw("GET", api(pid, "/files/src/data.csv?ref=" + first), headers={"Authorization": f"Bearer {tok}"})
    assert is_problem(r, 404)
    r = server.raw("GET", api(pid, "/files/src/data.csv"), headers={"Authorization": f"Bearer {tok}"})
    assert r.status == 200 and r.body == b"a,b\n3,3\n" and r.headers["Content-Type"].startswith("text/plain")
    r304 = server.raw("GET", api(pid, "/files/src/data.csv"),
                      headers={"Authorization": f"Bearer {tok}", "If-None-Match": r.headers["ETag"]})
    assert r304.status == 304
    j = server.call("GET", api(pid, "/files/bin.dat?format=json"), tok).json
    assert j["binary"] is True and j["encoding"] == "base64" and base64.b64decode(j["content"]) == b"\x00\x01\x02binary"
    j = server.call("GET", api(pid, "/files/README.md?format=json&ref=light"), tok).json
    assert j["binary"] is False and j["content"] == "# title\n"
    for bad in ("../etc/passwd", ".git/config", "a//b"):
        r = server.call("GET", api(pid, "/files/" + urllib.parse.quote(bad, safe="/")), tok)
        assert r.status in (400, 404), (bad, r)
        assert r.status == 400 or bad == "a//b", (bad, r)
    # Compare: files and a patch.
    cmp = server.call("GET", api(pid, f"/compare?from={first}&to=v1"), tok).json
    files = {f["path"]: f for f in cmp["files"]}
    assert files["src/data.csv"]["status"] == "added" and files["src/data.csv"]["additions"] == 2
    assert files["bin.dat"]["binary"] is True
    assert "+3,3" in cmp["patch"] and cmp["truncated"] is False
    assert is_problem(server.call("GET", api(pid, "/compare?to=main"), tok), 400)
    assert is_problem(server.call("GET", api(pid, "/compare?from=zzz&to=main"), tok), 404, "ref-not-found")
    # One commit's own diff: against its parent, and a root commit against nothing.
    d = server.call("GET", api(pid, "/commits/v1/diff"), tok).json
    assert d["to"] == server.call("GET", api(pid, "/commits/v1"), tok).json["id"] and d["from"]
    root = server.call("GET", api(pid, f"/commits/{first}/diff"), tok).json
    assert root["from"] is None and root["files"] and all(f["status"] == "added" for f in root["files"])
    assert "new file mode" in root["patch"]
    assert is_problem(server.call("GET", api(pid, "/commits/zzzz/diff"), tok), 404)
    # Another tenant sees none of it.
    other = w.a.users["org-admin"].token
    for tail in ("", "/branches", "/tags", "/commits", "/tree", "/files/README.md", f"/compare?from={first}&to=main",
                 f"/commits/{first}/diff",
                 "/protected-branches"):
        assert is_problem(server.call("GET", api(pid, tail), other), 404), tail


def test_api_edits_are_commits_guarded_by_the_head(server, w, tmp_path):
    org = w.a
    owner = org.users["org-admin"]
    tok = owner.token
    r = server.call("POST", f"/api/v1/orgs/{org.id}/projects", tok, json={"slug": "edits", "name": "Edits"})
    pid = r.json["id"]
    f = api(pid, "/files/notes/plan.md")
    # No precondition: 428. A new branch: If-None-Match: *.
    r = server.call("PUT", f, tok, json={"branch": "main", "content": "v1\n"})
    assert is_problem(r, 428)
    r = server.call("PUT", f, tok, json={"branch": "main", "content": "v1\n", "message": "start"},
                    headers={"If-None-Match": "*"})
    assert r.status == 201, r
    c1 = r.json["commit"]
    assert r.headers["ETag"] == f'"{c1}"'
    assert is_problem(server.call("PUT", f, tok, json={"branch": "main", "content": "x"},
                                  headers={"If-None-Match": "*"}), 412, "branch-exists")
    r = server.call("PUT", f, tok, json={"branch": "main", "content": "v2\n"}, headers={"If-Match": f'"{c1}"'})
    assert r.status == 201, r
    c2 = r.json["commit"]
    # The same content again changes nothing.
    r = server.call("PUT", f, tok, json={"branch": "main", "content": "v2\n"}, headers={"If-Match": c2})
    assert r.status == 200 and r.json["changed"] is False and r.json["commit"] == c2
    # A stale head: 412 with the current one.
    r = server.call("PUT", f, tok, json={"branch": "main", "content": "v3\n"}, headers={"If-Match": f'"{c1}"'})
    assert is_problem(r, 412, "branch-moved") and r.json["head"] == c2
    # The commit is the user's, at the server's clock, visible to git.
    repo = tmp_path / "r"
    git("clone", "-q", url(server, org.slug, "edits", tok), str(repo))
    assert (repo / "notes/plan.md").read_text() == "v2\n"
    assert git("log", "-1", "--format=%an|%s", cwd=repo).stdout.strip() == f"{owner.username}|Update notes/plan.md"

    # An edit racing a push: the push lands first, the edit made against the old head gets 412.
    commit_file(repo, "notes/plan.md", "pushed\n", "from git")
    git("push", "-q", "origin", "main", cwd=repo)
    r = server.call("PUT", f, tok, json={"branch": "main", "content": "api\n"}, headers={"If-Match": c2})
    assert is_problem(r, 412, "branch-moved")
    pushed = git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    # The reverse: an API edit lands first, a push based on the old head is refused by git.
    r = server.call("PUT", f, tok, json={"branch": "main", "content": "api\n"}, headers={"If-Match": pushed})
    assert r.status == 201, r
    commit_file(repo, "other.txt", "o\n", "stale base")
    p = git("push", "origin", "main", cwd=repo, check=False)
    assert p.returncode != 0 and ("rejected" in p.stderr or "fetch first" in p.stderr), p.stderr
    head = r.json["commit"]
    # Many edits against one head at once: exactly one wins.
    def put(i):
        return server.call("PUT", f, tok, json={"branch": "main", "content": f"race {i}\n"},
                           headers={"If-Match": head}).status
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        statuses = list(ex.map(put, range(8)))
    assert sorted(statuses) == [201] + [412] * 7, statuses

    # Base64 content, a new branch from another, a delete; bad input changes nothing.
    r = server.call("PUT", api(pid, "/files/data/blob.bin"), tok,
                    json={"branch": "feature", "from": "main", "content": base64.b64encode(b"\x00\xff").decode(),
                          "encoding": "base64"}, headers={"If-None-Match": "*"})
    assert r.status == 201, r
    feature = r.json["commit"]
    raw = server.raw("GET", api(pid, "/files/data/blob.bin?ref=feature"), headers={"Authorization": f"Bearer {tok}"})
    assert raw.body == b"\x00\xff" and raw.headers["Content-Type"] == "application/octet-stream"
    before = server.call("GET", api(pid, "/branches"), tok).json["items"]
    bad_cases = [
        (api(pid, "/files/..%2Fescape"), {"branch": "feature", "content": "x"}, 400),
        (api(pid, "/files/.git/hooks/update"), {"branch": "feature", "content": "x"}, 400),
        (api(pid, "/files/ok.txt"), {"branch": "bad..name", "content": "x"}, 400),
        (api(pid, "/files/ok.txt"), {"branch": "feature", "content": "!!", "encoding": "base64"}, 400),
        (api(pid, "/files/ok.txt"), {"branch": "feature", "content": "x", "extra": 1}, 400),
        (api(pid, "/files/data"), {"branch": "feature", "content": "x"}, 409),  # a directory
        (api(pid, "/files/data/blob.bin/x"), {"branch": "feature", "content": "x"}, 409),  # under a file
    ]
    for path, body, status in bad_cases:
        r = server.call("PUT", path, tok, json=body, headers={"If-Match": feature})
        assert is_problem(r, status), (path, body, r)
    assert server.call("GET", api(pid, "/branches"), tok).json["items"] == before
    r = server.call("DELETE", api(pid, "/files/data/blob.bin?branch=feature&message=drop"), tok,
                    headers={"If-Match": feature})
    assert r.status == 200 and r.json["changed"] is True, r
    assert is_problem(server.call("DELETE", api(pid, "/files/data/blob.bin?branch=feature"), tok,
                                  headers={"If-Match": r.json["commit"]}), 404)
    # Viewers and other tenants may not edit.
    r = server.call("PUT", f, org.users["viewer"].token, json={"branch": "main", "content": "v"},
                    headers={"If-Match": head})
    assert is_problem(r, 404)  # the project is private to its owner
    r = server.call("PUT", f, w.b.users["org-admin"].token, json={"branch": "main", "content": "v"},
                    headers={"If-Match": head})
    assert is_problem(r, 404)
    writes = server.call("GET", f"/api/v1/audit/events?limit=200&action=repo.file.*&target={pid}", w.admin).json["items"]
    assert len(writes) == 1 + 1 + 1 + 1 + 1 + 1  # start, v2, api, race winner, blob.bin, delete


def test_jobs_run_at_the_commit_pinned_at_submission(make_server, tmp_path):
    srv = make_server(env={"ATRIUM_COMPUTE_CPUS": "2", "ATRIUM_COMPUTE_MEM_MB": "2048", "ATRIUM_COMPUTE_GPUS": "0"})
    tok = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", tok, json={"slug": "pin", "name": "Pin"}).json
    pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", tok, json={"slug": "p", "name": "P"}).json["id"]
    # An empty repository: jobs run in an empty workspace; a ref that names nothing is refused.
    r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok, json={"script": "ls -A", "ref": "main"})
    assert is_problem(r, 400, "invalid-ref")
    repo = tmp_path / "r"
    git("clone", "-q", url(srv, "pin", "p", tok), str(repo))
    commit_file(repo, "run.sh", "#!/bin/sh\necho version one\n", "v1")
    (repo / "run.sh").chmod(0o755)
    git("add", "run.sh", cwd=repo)
    git("commit", "-q", "-m", "exec bit", cwd=repo)
    git("push", "-q", "origin", "main", cwd=repo)
    v1 = git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    git("push", "-q", "origin", "main:stable", cwd=repo)

    script = "./run.sh; echo $ATRIUM_COMMIT; stat -c %u run.sh; id -u; test -d .git && echo HAS-GIT || echo no-git"
    held = srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok,
                    json={"script": script, "hold": True, "time_limit_s": 60})
    assert held.status == 201, held
    by_tag = srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok,
                      json={"script": script, "ref": v1[:12], "hold": True, "time_limit_s": 60}).json
    # The branch moves after submission; the held jobs still run at v1, a new job at v2.
    commit_file(repo, "run.sh", "#!/bin/sh\necho version two\n", "v2")
    git("push", "-q", "origin", "main", cwd=repo)
    v2 = git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    fresh = srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok, json={"script": script, "time_limit_s": 60}).json
    stable = srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok,
                      json={"script": script, "ref": "stable", "time_limit_s": 60}).json
    for j in (held.json, by_tag):
        assert srv.call("POST", f"/api/v1/jobs/{j['id']}/release", tok).status == 200

    def ended(jid):
        def f():
            j = srv.call("GET", f"/api/v1/jobs/{jid}", tok).json
            return j if j["state"] in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL") else None
        return wait_until(f, 60, interval=0.05, what=f"job {jid}")

    expect = {held.json["id"]: (v1, "one", None), by_tag["id"]: (v1, "one", v1[:12]),
              fresh["id"]: (v2, "two", None), stable["id"]: (v1, "one", "stable")}
    for jid, (commit, word, ref) in expect.items():
        job = ended(jid)
        out = srv.raw("GET", f"/api/v1/jobs/{jid}/logs", headers={"Authorization": f"Bearer {tok}"}).body.decode()
        assert job["state"] == "COMPLETED", (job, out, srv.output()[-2000:])
        lines = out.split()
        # The checkout is owned by the job's uid; it is the tree only (no .git).
        assert lines == ["version", word, commit, lines[3], lines[3], "no-git"], out
        assert job["commit"] == {"id": commit, "ref": ref}, job["commit"]


def test_an_acknowledged_push_survives_kill9(make_server, tmp_path):
    srv = make_server()
    tok = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", tok, json={"slug": "k9", "name": "K9"}).json
    srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", tok, json={"slug": "p", "name": "P"})
    repo = tmp_path / "r"
    git("clone", "-q", url(srv, "k9", "p", tok), str(repo))
    for i in range(3):
        commit_file(repo, f"f{i}.txt", f"{i}\n" * 1000, f"c{i}")
    git("push", "-q", "origin", "main", cwd=repo)
    head = git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    # Leftovers a crash can leave in the git work directory are cleared at the next start.
    tmp = srv.data_dir / "git" / "tmp"
    (tmp / "body-stale").write_bytes(b"x" * 100)
    srv.kill9()
    srv.restart()
    assert not (tmp / "body-stale").exists()
    dst = tmp_path / "after"
    git("clone", "-q", url(srv, "k9", "p", tok), str(dst))
    assert git("rev-parse", "HEAD", cwd=dst).stdout.strip() == head
    assert git("fsck", "--strict", cwd=dst).returncode == 0
