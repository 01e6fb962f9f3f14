"""Hostile environments: code committed to a project must not run as the next member who launches
Jupyter there. Jupyter used to start as `python3 -m jupyter_server` in /workspace (the checkout) and
its kernels as `python -m ipykernel_launcher` in the notebook's directory, so a committed
jupyter_server/ package or ipykernel_launcher.py ran instead. Now every Python of the built-in apps
starts with safe paths (-P, PYTHONSAFEPATH=1 inherited by kernels) outside the checkout.

One Jupyter launch: a project whose checkout shadows jupyter_server and ipykernel_launcher (at its
root and next to a notebook) and carries every Jupyter / IPython config file name; kernels execute
code, and no shadowing file ever runs (each would leave a marker in the home).
"""
from __future__ import annotations

import json
import uuid

import pytest

from conftest import env_suite_server, World
from test_envs import ENV_SERVER, bearer, env_ws, execute, launch, proxied, stop, terminal_run, wait_state

MARKERS = "/home/atrium/markers"


def marker(name: str) -> str:
    return (f"import os\nos.makedirs({MARKERS!r}, exist_ok=True)\n"
            f"open(os.path.join({MARKERS!r}, {name!r}), 'w').write('ran')\n")


CONFIGS = ("jupyter_server_config.py", "jupyter_notebook_config.py", "ipython_config.py", "ipython_kernel_config.py")
SHADOWS = {
    "jupyter_server/__init__.py": marker("jupyter_server-init"),
    "jupyter_server/__main__.py": marker("jupyter_server-main"),
    "ipykernel_launcher.py": marker("ipykernel_launcher"),
    "nb/ipykernel_launcher.py": marker("nb-ipykernel_launcher"),
    "nb/ipykernel/__init__.py": marker("nb-ipykernel"),
    **{name: marker(name) for name in CONFIGS},
    **{f"nb/{name}": marker("nb-" + name) for name in CONFIGS},
    "nb/x.ipynb": json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with env_suite_server(tmp_path_factory, "envcode", ENV_SERVER) as s:
        yield s


@pytest.fixture(scope="module")
def w(srv) -> World:
    return World(srv, srv.admin, prefix="c")


def start_kernel_and_run(srv, token, base, body, code):
    if "path" in body:
        r = proxied(srv, "POST", base + "api/sessions", token, {"Content-Type": "application/json"},
                    json.dumps(body).encode())
        assert r.status == 201, r
        kid = r.json["kernel"]["id"]
    else:
        r = proxied(srv, "POST", base + "api/kernels", token, {"Content-Type": "application/json"},
                    json.dumps(body).encode())
        assert r.status == 201, r
        kid = r.json["id"]
    ws = env_ws(srv, f"{base}api/kernels/{kid}/channels?session_id={uuid.uuid4().hex}",
                   headers=bearer(token))
    try:
        return execute(ws, code, v1=False)
    finally:
        ws.close()


def test_committed_jupyter_server_and_kernel_launcher_never_run(srv, w):
    committer = w.a.users["org-admin"]  # any project member can commit...
    victim = w.a.users["member"]        # ...and the next one who launches Jupyter runs it
    pid = w.a.org_project["id"]
    head = None
    for path, content in SHADOWS.items():
        r = srv.call("PUT", f"/api/v1/projects/{pid}/repo/files/{path}", committer.token,
                     json={"branch": "main", "content": content},
                     headers={"If-Match": head} if head else {"If-None-Match": "*"})
        assert r.status == 201, (path, r)
        head = r.headers.get("ETag")
        assert head, r.headers
    r = launch(srv, victim.token, pid, "jupyter", cpus=1, mem_mb=1024)
    assert r.status == 201, r
    env = wait_state(srv, victim.token, r.json["id"], ("READY", "FAILED"), 150)
    home = srv.data_dir / "homes" / pid / victim.id
    assert env["state"] == "READY", (env["reason"], env.get("log_tail"), sorted(p.name for p in home.glob("markers/*")))
    base = env["url"]
    probe = ("import os, sys; (os.getcwd(), sorted(os.listdir(%r)) if os.path.isdir(%r) else [], "
             "sys.flags.safe_path)" % (MARKERS, MARKERS))
    # A kernel in the checkout's root, and one for a notebook next to the other shadows.
    assert start_kernel_and_run(srv, victim.token, base, {"path": "root.ipynb", "type": "notebook",
                                                          "name": "root.ipynb", "kernel": {"name": "python3"}},
                                probe) == "('/workspace', [], True)"
    assert start_kernel_and_run(srv, victim.token, base, {"path": "nb/x.ipynb", "type": "notebook", "name": "x.ipynb",
                                                          "kernel": {"name": "python3"}}, probe) == \
        "('/workspace/nb', [], True)"
    # The project's files are still there to work with, and Jupyter's terminals open in them.
    assert proxied(srv, "GET", base + "api/contents/nb", victim.token).status == 200
    t = proxied(srv, "POST", base + "api/terminals", victim.token)
    assert t.status == 200, t
    ws = env_ws(srv, f"{base}terminals/websocket/{t.json['name']}", headers=bearer(victim.token))
    terminal_run(ws, "echo cwd-$(pwd)-$PYTHONSAFEPATH", r"cwd-/workspace-1")
    ws.close()
    stop(srv, victim.token, env["id"])
    assert not list(home.glob("markers/*")), sorted(p.name for p in home.glob("markers/*"))
