"""The web UI as the server serves it: pages and files of the built UI (build/web, beside the
binary), its security headers, and the paths that stay the API's, git's and environments'."""
import re
from pathlib import Path

from conftest import ATRIUM_BIN

WEB_DIR = Path(ATRIUM_BIN).resolve().parent.parent / "web"


def ui_headers_ok(r):
    csp = r.headers.get("content-security-policy") or ""
    assert "script-src 'self';" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0], csp
    assert "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp, csp
    assert r.headers.get("x-frame-options") == "DENY"
    assert r.headers.get("x-content-type-options") == "nosniff"


def test_every_ui_route_gets_the_app_page_with_a_strict_policy(server):
    assert (WEB_DIR / "index.html").is_file(), "build the UI first (make build)"
    for path in ("/", "/login?next=%2Fenv%2Fx%2F", "/org-a/secret/tree/main/src", "/jobs/job_1", "/me/tokens"):
        r = server.call("GET", path)
        assert r.status == 200, (path, r)
        assert r.content_type == "text/html", path
        assert '<div id="root">' in r.text
        assert r.headers.get("cache-control") == "no-cache"
        ui_headers_ok(r)
        # No inline script: every <script> names a file of this origin.
        for tag in re.findall(r"<script[^>]*>", r.text):
            assert re.search(r'src="/assets/[^"]+\.js"', tag), tag


def test_assets_are_immutable_precompressed_and_conditional(server):
    html = server.call("GET", "/").text
    js = re.search(r'src="(/assets/[^"]+\.js)"', html).group(1)
    plain = server.call("GET", js)
    assert plain.status == 200 and plain.content_type == "text/javascript"
    assert plain.headers.get("cache-control") == "public, max-age=31536000, immutable"
    br = server.call("GET", js, headers={"Accept-Encoding": "gzip, br"})
    assert br.headers.get("content-encoding") == "br" and len(br.body) < len(plain.body)
    assert br.headers.get("vary") == "Accept-Encoding"
    again = server.call("GET", js, headers={"Accept-Encoding": "gzip, br", "If-None-Match": br.headers.get("etag")})
    assert again.status == 304 and again.body == b""
    assert server.call("GET", "/assets/nope-123.js").status == 404


def test_api_git_and_env_paths_keep_their_own_answers(server):
    r = server.call("GET", "/api/v1/no-such-thing")
    assert r.status == 404 and r.content_type == "application/problem+json"
    r = server.call("GET", "/org-x/none.git/info/refs?service=git-upload-pack")
    assert r.content_type != "text/html", r
    r = server.call("POST", "/login", json={})
    assert r.status in (404, 405) and r.content_type == "application/problem+json"
    assert server.call("GET", "/healthz").json == {"status": "ok"}


def test_without_a_built_ui_the_server_runs_and_says_how_to_build_it(make_server, tmp_path):
    s = make_server(env={"ATRIUM_WEB_ASSETS_DIR": str(tmp_path / "nowhere")})
    r = s.call("GET", "/")
    assert r.status == 503 and "make build" in r.text
    assert s.call("GET", "/healthz").status == 200


def test_org_slugs_that_name_ui_pages_are_reserved(server, admin):
    for slug in ("me", "new", "jobs", "search", "invite", "settings"):
        r = server.call("POST", "/api/v1/orgs", admin, json={"slug": slug, "name": "x"})
        assert r.status == 400 and r.json["type"].endswith("reserved-slug"), (slug, r)
