"""Jobs and environments on images, through a real server: a registry and images built by the test
(images_fixture, jupyter_image), pulled by the images module, pinned at submission, mounted as /.

- a job sees the image's /etc/os-release (ID=atrium-test), not the host's: by name, name@digest,
  digest and the project's default; "none" is the host's root; arrays and requeues keep the digest;
- unknown names, wrong digests and another org's digest: 422 with field image, nothing submitted,
  the same answer whichever it was (no existence leak);
- reproducibility: the same job at the same commit, image digest and dataset version makes
  byte-identical outputs, whose version's provenance names the image, the commit and the inputs;
- a root that is gone at launch fails the job (FAILED, never the host root); garbage collection
  keeps the root of a running job;
- the built-in Jupyter app on an image that has Jupyter executes a kernel.
"""
from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import pytest

from conftest import ATRIUM_BIN, USER_PASSWORD, World, base_env, env_suite_server, is_problem, list_all, wait_until
from images_fixture import build_oci_image, busybox_layout, busybox_rootfs, oci_registry  # noqa: F401
from jupyter_image import jupyter_layout
from test_envs import bearer, env_ws, execute, proxied

pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("umoci", "skopeo", "docker-registry")),
                                reason="needs umoci, skopeo and docker-registry")

SERVER_ENV = {"ATRIUM_IMAGES_INSECURE_REGISTRIES": "127.0.0.1:*", "ATRIUM_COMPUTE_CPUS": "16",
              "ATRIUM_COMPUTE_MEM_MB": "32768", "ATRIUM_COMPUTE_GPUS": "0"}
ZERO = "sha256:" + "0" * 64
ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with env_suite_server(tmp_path_factory, "jobimg", SERVER_ENV) as s:
        yield s


@pytest.fixture(scope="module")
def w(srv) -> World:
    return World(srv, srv.admin, prefix="ji-")


def pull(srv, tok, pid, name, source, **extra) -> dict:
    r = srv.call("POST", f"/api/v1/projects/{pid}/images", tok, json={"name": name, "source": source, **extra})
    assert r.status in (201, 202), r

    def done():
        g = srv.call("GET", f"/api/v1/images/{r.json['id']}", tok)
        assert g.status == 200, g
        return g.json if g.json["state"] != "pending" else None
    im = wait_until(done, 120, 0.05, f"image {name} to be pulled")
    assert im["state"] == "ready", im
    return im


@pytest.fixture(scope="module")
def busybox(srv, w, oci_registry, busybox_layout) -> dict:
    """The busybox image of org A's shared project, also its default image."""
    oci_registry.push(busybox_layout, "v1", "test/busybox")
    m = w.a.users["member"]
    return pull(srv, m.token, w.a.org_project["id"], "busybox", oci_registry.ref("test/busybox", "v1"), default=True)


def submit(srv, tok, pid, **body):
    return srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok, json={"time_limit_s": 120, **body})


def ended(srv, tok, jid, timeout=60) -> dict:
    def f():
        j = srv.call("GET", f"/api/v1/jobs/{jid}", tok).json
        captured = (j.get("outputs") or {}).get("capture") != "pending"
        return j if j["state"] in ENDED and captured else None
    return wait_until(f, timeout, 0.05, f"job {jid} to end")


def stdout(srv, tok, jid) -> str:
    return srv.raw("GET", f"/api/v1/jobs/{jid}/logs", headers=bearer(tok)).body.decode()


def job_count(srv, tok, pid) -> int:
    return len(list_all(srv, f"/api/v1/projects/{pid}/jobs", tok))


def test_a_job_sees_the_images_root_by_name_digest_default_and_none(srv, w, busybox):
    m, pid, digest = w.a.users["member"], w.a.org_project["id"], busybox["digest"]
    cases = {"busybox": "busybox", f"busybox@{digest}": "busybox", digest: None, None: "busybox", "none": "host"}
    jobs = {}
    for text, name in cases.items():
        body = {"command": ["cat", "/etc/os-release"]}
        if text is not None:
            body["image"] = text
        r = submit(srv, m.token, pid, **body)
        assert r.status == 201, (text, r)
        want = None if name == "host" else {"name": name, "digest": digest}
        assert r.json["image"] == want, (text, r.json["image"])
        jobs[r.json["id"]] = name
    for jid, name in jobs.items():
        j = ended(srv, m.token, jid)
        out = stdout(srv, m.token, jid)
        assert j["state"] == "COMPLETED", (j, out)
        if name == "host":
            assert "ID=atrium-test" not in out and "ID=" in out
        else:
            assert "ID=atrium-test" in out, out
            assert j["image"]["digest"] == digest
    # An array: every task pinned to the same digest; a requeue runs it on the same one again.
    r = submit(srv, m.token, pid, command=["cat", "/etc/os-release"], array="0-2", image="busybox")
    assert r.status == 201, r
    for jid in r.json["job_ids"]:
        assert ended(srv, m.token, jid)["image"] == {"name": "busybox", "digest": digest}
    first = r.json["job_ids"][0]
    assert srv.call("POST", f"/api/v1/jobs/{first}/requeue", m.token).status == 200
    wait_until(lambda: srv.call("GET", f"/api/v1/jobs/{first}", m.token).json["requeue_count"] == 1, 30, 0.05)
    again = ended(srv, m.token, first)
    assert again["state"] == "COMPLETED" and again["image"]["digest"] == digest
    assert "ID=atrium-test" in stdout(srv, m.token, first)


def test_cli_submits_on_an_image(srv, w, busybox, tmp_path):
    m, pid = w.a.users["member"], w.a.org_project["id"]
    env = {**base_env(admin_password=None), "ATRIUM_CONFIG_DIR": str(tmp_path / "cfg"), "ATRIUM_SERVER_URL": srv.base}

    def cli(*args, stdin=None):
        return subprocess.run([ATRIUM_BIN, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)
    assert cli("login", "--username", m.username, "--password-stdin", stdin=USER_PASSWORD + "\n").returncode == 0
    p = cli("job", "submit", "--project", pid, "--image", f"busybox@{busybox['digest']}", "--", "cat", "/etc/os-release")
    assert p.returncode == 0 and p.stdout.startswith("Submitted job job_"), p
    jid = p.stdout.strip().rsplit(" ", 1)[1]
    assert ended(srv, m.token, jid)["image"] == {"name": "busybox", "digest": busybox["digest"]}
    assert "ID=atrium-test" in stdout(srv, m.token, jid)
    p = cli("job", "submit", "--project", pid, "--image", "nosuch", "--", "true")
    assert p.returncode != 0 and "image" in p.stderr, p


def test_unknown_wrong_or_foreign_images_are_refused_and_nothing_is_submitted(srv, w, busybox):
    m, pid = w.a.users["member"], w.a.org_project["id"]
    before = job_count(srv, m.token, pid)
    for text in ("nosuch", f"busybox@{ZERO}", ZERO, "busybox@sha256:xyz", "sha256:12", "Bad Name!"):
        r = submit(srv, m.token, pid, command=["true"], image=text)
        assert is_problem(r, 422) and r.json.get("field") == "image", (text, r)
    assert job_count(srv, m.token, pid) == before
    # Org B: A's digest answers exactly as a digest nobody has (no existence leak), A's name too.
    b, bpid = w.b.users["member"], w.b.org_project["id"]
    foreign = submit(srv, b.token, bpid, command=["true"], image=busybox["digest"])
    unknown = submit(srv, b.token, bpid, command=["true"], image="sha256:" + "1" * 64)
    assert is_problem(foreign, 422) and is_problem(unknown, 422)
    assert foreign.json["type"] == unknown.json["type"]
    assert foreign.json["detail"].replace(busybox["digest"], "D") == unknown.json["detail"].replace("sha256:" + "1" * 64, "D")
    assert is_problem(submit(srv, b.token, bpid, command=["true"], image="busybox"), 422)
    # B's project has no default image: absent means its jobs run on the host's root.
    r = submit(srv, b.token, bpid, command=["true"])
    assert r.status == 201 and r.json["image"] is None
    assert job_count(srv, b.token, bpid) == 1
    # An environment: the same rules.
    r = srv.call("POST", f"/api/v1/projects/{bpid}/envs", b.token, json={"app": "terminal", "image": busybox["digest"]})
    assert is_problem(r, 422) and r.json.get("field") == "image", r


def test_same_commit_image_and_inputs_make_identical_outputs_with_provenance(srv, w, busybox):
    m, pid, digest = w.a.users["member"], w.a.org_project["id"], busybox["digest"]
    r = srv.call("PUT", f"/api/v1/projects/{pid}/repo/files/run.sh", m.token,
                 json={"branch": "main", "content": "#!/bin/sh\nsha256sum /data/inputs/x.txt /etc/os-release\n"},
                 headers={"If-None-Match": "*"})
    assert r.status == 201, r
    commit = r.json["commit"]
    made = submit(srv, m.token, pid, script="echo 'input data' > x.txt", image="busybox",
                  outputs={"dataset": "inputs", "paths": ["x.txt"]})
    assert made.status == 201, made
    assert ended(srv, m.token, made.json["id"])["outputs"]["version"] == 1
    job = {"script": "sh run.sh > out.txt; cat /etc/os-release >> out.txt", "image": f"busybox@{digest}",
           "ref": commit, "datasets": ["inputs@1"], "outputs": {"dataset": "results", "paths": ["out.txt"]}}
    runs = [ended(srv, m.token, submit(srv, m.token, pid, **job).json["id"]) for _ in range(2)]
    versions = []
    for j in runs:
        assert j["state"] == "COMPLETED", j
        assert j["image"] == {"name": "busybox", "digest": digest} and j["commit"]["id"] == commit
        assert j["datasets"][0]["version"] == 1
        v = srv.call("GET", f"/api/v1/datasets/{j['outputs']['dataset_id']}/versions/{j['outputs']['version']}",
                     m.token)
        assert v.status == 200, v
        versions.append(v.json)
    assert versions[0]["version"] != versions[1]["version"]
    assert versions[0]["manifest_sha256"] == versions[1]["manifest_sha256"]  # byte-identical outputs
    for v, j in zip(versions, runs):
        p = v["provenance"]
        assert p["job_id"] == j["id"] and p["image"] == {"name": "busybox", "digest": digest}
        assert p["commit"] == commit
        assert [(i["name"], i["version"]) for i in p["inputs"]] == [("inputs", 1)]


def test_a_gone_root_fails_the_job_and_gc_keeps_a_running_jobs_root(srv, w, busybox, oci_registry, tmp_path):
    m, pid = w.a.users["member"], w.a.org_project["id"]
    root = busybox_rootfs(tmp_path / "victim-root")
    (root / "etc" / "victim").write_text("v\n")
    oci_registry.push(build_oci_image(root, tmp_path / "victim", "v1"), "v1", "test/victim")
    victim = pull(srv, m.token, pid, "victim", oci_registry.ref("test/victim", "v1"))
    hexd = victim["digest"].split(":", 1)[1]
    root_dir = srv.data_dir / "images" / "roots" / hexd
    assert root_dir.is_dir()
    # GC: the image removed while a job runs on it; its root stays until the job has ended.
    flag = uuid.uuid4().hex
    run = submit(srv, m.token, pid, image="victim",
                 script=f"cat /etc/victim; while [ ! -e /workspace/{flag} ]; do sleep 0.05; done; cat /etc/victim")
    assert run.status == 201, run
    wait_until(lambda: "v" in stdout(srv, m.token, run.json["id"]), 30, 0.05, "the job to run")
    held = submit(srv, m.token, pid, image="victim", command=["cat", "/etc/victim"], hold=True)
    assert held.status == 201, held
    g = srv.call("GET", f"/api/v1/images/{victim['id']}", m.token)
    d = srv.call("DELETE", f"/api/v1/images/{victim['id']}", m.token, headers={"If-Match": g.etag})
    assert d.status in (200, 202, 204), d
    ws = srv.data_dir / "jobs" / run.json["id"] / "workspace"

    def collected():
        tasks = list_all(srv, "/api/v1/tasks?kind=images.gc", srv.admin)
        return any(t.get("key") == f"images.gc:{victim['id']}" and t["state"] == "succeeded" for t in tasks)
    wait_until(collected, 60, 0.05, "the collection after the removal")
    assert root_dir.is_dir()  # in use: a running job and a held one
    (ws / flag).write_text("")
    j = ended(srv, m.token, run.json["id"])
    assert j["state"] == "COMPLETED" and stdout(srv, m.token, run.json["id"]) == "v\nv\n"
    # Gone before the held job starts (removed from the disk behind the server's back): FAILED with
    # its reason, never run on the host's root.
    shutil.rmtree(root_dir, ignore_errors=True)
    assert srv.call("POST", f"/api/v1/jobs/{held.json['id']}/release", m.token).status == 200
    j = ended(srv, m.token, held.json["id"])
    assert j["state"] == "FAILED", j
    assert "image victim@" in j["events"][-1]["cause"] and "not available" in j["events"][-1]["cause"], j["events"]
    assert stdout(srv, m.token, held.json["id"]) == ""


def test_jupyter_on_an_image_executes_a_kernel(srv, w, oci_registry):
    t0 = time.monotonic()
    layout = jupyter_layout()  # built once per package set, reused
    oci_registry.push(layout, "v1", "test/jupyter")
    m, pid = w.a.users["member"], w.a.org_project["id"]
    im = pull(srv, m.token, pid, "jupyter", oci_registry.ref("test/jupyter", "v1"))
    r = srv.call("POST", f"/api/v1/projects/{pid}/envs", m.token,
                 json={"app": "jupyter", "image": "jupyter", "cpus": 1, "mem_mb": 1024})
    assert r.status == 201, r
    assert r.json["image"] == {"name": "jupyter", "digest": im["digest"]}

    def ready():
        e = srv.call("GET", f"/api/v1/envs/{r.json['id']}", m.token).json
        return e if e["state"] in ("READY", "FAILED", "STOPPED") else None
    env = wait_until(ready, 120, 0.05, "the Jupyter environment")
    assert env["state"] == "READY", env
    base = env["url"]
    k = proxied(srv, "POST", base + "api/kernels", m.token, {"Content-Type": "application/json"}, b'{"name": "python3"}')
    assert k.status == 201, k
    ws = env_ws(srv, f"{base}api/kernels/{k.json['id']}/channels?session_id={uuid.uuid4().hex}",
                headers=bearer(m.token))
    assert "atrium-jupyter-test" in execute(ws, "open('/etc/os-release').read()", v1=False)
    ws.close()
    assert srv.call("POST", f"/api/v1/envs/{env['id']}/stop", m.token).status == 200
    print(f"jupyter on an image: {time.monotonic() - t0:.1f} s (layout, push, pull, launch, kernel)")
