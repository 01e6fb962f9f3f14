"""Configuration: TOML file < ATRIUM_* environment < flags; bad settings stop startup with a message
naming the key; the first start creates the admin (printing a one-time password when none is given)."""
import re
import socket

import pytest

from conftest import ADMIN_PASSWORD, Server, is_problem, parse_cookies, wait_until


def start_fails(srv: Server, timeout=30) -> str:
    """Runs a server that must refuse to start; returns its stderr."""
    srv.spawn()
    try:
        wait_until(lambda: srv.proc.poll() is not None or srv.port is not None, timeout,
                   what="the server to exit on a bad configuration")
    finally:
        if srv.port is not None or srv.proc.poll() is None:
            srv.kill9()
            raise AssertionError(f"the server started despite a bad configuration\n{srv.output()}")
    rc = srv.wait_exit(10)
    assert rc != 0, srv.output()
    return "\n".join(srv.stderr_snapshot())


@pytest.mark.parametrize("toml,names", [
    ("[server]\nnope = 1\n", ["server.nope"]),
    ("[limits]\nmax_body_bytes = 4096\nbogus_limit = 3\n", ["limits.bogus_limit"]),
    ("[nosuchsection]\nkey = \"x\"\n", ["nosuchsection.key"]),
    ("[limits]\nmax_body_bytes = \"big\"\n", ["limits.max_body_bytes", "integer"]),
    ("[limits]\nidle_timeout_s = 0\n", ["limits.idle_timeout_s"]),
    ("[server]\nlisten = 8080\n", ["server.listen", "string"]),
    ("[log]\nlevel = \"loud\"\n", ["log.level", "loud"]),
    ("[database]\nsqlite_synchronous = \"off\"\n", ["database.sqlite_synchronous"]),
    ("listen = \"127.0.0.1:0\"\n", ["listen"]),
    ("[server\nbroken toml", ["config"]),
], ids=["unknown-key", "unknown-key-among-good", "unknown-section", "wrong-type", "out-of-range",
        "int-for-string", "bad-enum", "bad-enum-2", "top-level-key", "syntax-error"])
def test_bad_config_file_stops_startup(tmp_path, toml, names):
    cfg = tmp_path / "atrium.toml"
    cfg.write_text(toml)
    err = start_fails(Server(tmp_path / "data", args=["--config", str(cfg)]))
    for n in names:
        assert n in err, (n, err)


@pytest.mark.parametrize("env,names", [
    ({"ATRIUM_LIMITS_NOPE": "1"}, ["ATRIUM_LIMITS_NOPE"]),
    ({"ATRIUM_SERVER_LISTN": "127.0.0.1:0"}, ["ATRIUM_SERVER_LISTN"]),
    ({"ATRIUM_LIMITS_IDLE_TIMEOUT_S": "abc"}, ["ATRIUM_LIMITS_IDLE_TIMEOUT_S", "abc"]),
    ({"ATRIUM_LIMITS_MAX_BODY_BYTES": "10"}, ["ATRIUM_LIMITS_MAX_BODY_BYTES"]),
    ({"ATRIUM_LOG_LEVEL": "chatty"}, ["ATRIUM_LOG_LEVEL"]),
    ({"ATRIUM_SERVER_TLS_CERT": "/nonexistent.pem"}, ["tls_key"]),
    ({"ATRIUM_CONFIG": "/nonexistent/atrium.toml"}, ["/nonexistent/atrium.toml"]),
    ({"ATRIUM_COMPUTE_DEFAULT_PARTITION": "gpu"}, ["compute.default_partition", "gpu"]),
], ids=["unknown-var", "typo-in-section", "not-an-integer", "below-minimum", "bad-enum", "cert-without-key",
        "missing-config-file", "unknown-default-partition"])
def test_bad_environment_stops_startup(tmp_path, env, names):
    err = start_fails(Server(tmp_path / "data", env=env))
    for n in names:
        assert n in err, (n, err)


def test_client_variables_do_not_stop_the_server(make_server):
    """ATRIUM_* variables outside the settings sections belong to the CLI and tools."""
    srv = make_server(env={"ATRIUM_TOKEN": "atr_x", "ATRIUM_SERVER_URL": "http://example.invalid",
                           "ATRIUM_BIN": "/bin/true"})
    assert srv.call("GET", "/healthz").status == 200


def test_short_admin_password_stops_startup(tmp_path):
    err = start_fails(Server(tmp_path / "data", admin_password="short"))
    assert "password" in err


def test_bad_listen_flag(tmp_path):
    err = start_fails(Server(tmp_path / "data", args=["--listen", "127.0.0.1:99999"]))
    assert "listen" in err
    err = start_fails(Server(tmp_path / "data2", args=["--listen", "no-port-here"]))
    assert "listen" in err


def held_port():
    """A port that is bound (and so unusable) for as long as the returned socket lives."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, s.getsockname()[1]


def test_precedence_file_env_flag(tmp_path, make_server):
    blocker, port = held_port()
    try:
        cfg = tmp_path / "atrium.toml"
        cfg.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\n[log]\naccess_log = ""\n')
        # The file alone: it is read (the held port cannot be bound, and the error names it).
        err = start_fails(Server(tmp_path / "d1", args=["--config", str(cfg)], listen=None))
        assert str(port) in err
        # The environment overrides the file; the file's other settings still apply.
        srv = make_server(env={"ATRIUM_LISTEN": "127.0.0.1:0"}, args=["--config", str(cfg)], listen=None,
                          data_dir=tmp_path / "d2")
        assert srv.port not in (None, port)
        assert srv.call("GET", "/healthz").status == 200
        assert srv.stop() == 0
        assert not [line for line in srv.stdout_snapshot() if line.startswith("{")], 'access_log = "" is off'
        # The flag overrides the environment (and ATRIUM_CONFIG names the file).
        srv = make_server(env={"ATRIUM_LISTEN": f"127.0.0.1:{port}", "ATRIUM_CONFIG": str(cfg)},
                          listen="127.0.0.1:0", data_dir=tmp_path / "d3")
        assert srv.port not in (None, port)
        assert srv.stop() == 0
        assert not [line for line in srv.stdout_snapshot() if line.startswith("{")], "ATRIUM_CONFIG was read"
    finally:
        blocker.close()


def test_data_dir_flag_overrides_env(tmp_path, make_server):
    srv = make_server(env={"ATRIUM_DATA_DIR": str(tmp_path / "from-env")}, data_dir=tmp_path / "from-flag")
    assert (tmp_path / "from-flag" / "atrium.db").exists()
    assert not (tmp_path / "from-env").exists()
    srv.stop()


def test_first_start_prints_a_one_time_admin_password(tmp_path, make_server):
    data = tmp_path / "data"
    srv = make_server(data_dir=data, admin_password=None)
    lines = srv.stdout_snapshot()
    found = [m.group(1) for line in lines if (m := re.search(r"one-time password: (\S+)", line))]
    assert len(found) == 1, lines
    pw = found[0]
    assert len(pw) >= 16
    r = srv.login("admin", pw)
    assert r.status == 200 and parse_cookies(r)["atrium_session"]["value"]
    assert srv.stop() == 0
    # Not printed again on the next start, and the password still works.
    srv.start()
    assert not [line for line in srv.stdout_snapshot() if "one-time password" in line or pw in line]
    assert srv.login("admin", pw).status == 200
    assert srv.stop() == 0
    # ATRIUM_ADMIN_PASSWORD on a later start does not reset an existing admin.
    again = make_server(data_dir=data, admin_password=ADMIN_PASSWORD)
    assert not [line for line in again.stdout_snapshot() if "created the instance admin" in line]
    assert is_problem(again.login("admin", ADMIN_PASSWORD), 401)
    assert again.login("admin", pw).status == 200
    assert (data / "secret.key").stat().st_mode & 0o077 == 0, "the instance secret is private"


def test_admin_password_from_env_is_not_printed(make_server):
    srv = make_server()
    out = "\n".join(srv.stdout_snapshot() + srv.stderr_snapshot())
    assert ADMIN_PASSWORD not in out
    assert "created the instance admin 'admin' (password from ATRIUM_ADMIN_PASSWORD)" in out


# ---- the data store's master key ------------------------------------------------------------------

def test_first_start_creates_a_private_master_key(tmp_path, make_server):
    srv = make_server(data_dir=tmp_path / "d")
    key = tmp_path / "d" / "master.key"
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    assert "created a new data master key" in "\n".join(srv.stderr_snapshot())
    before = key.read_bytes()
    srv.restart()  # the same key is used again, nothing new is created
    assert key.read_bytes() == before
    srv.stop()


def test_missing_wrong_or_exposed_master_key_stops_startup(tmp_path, make_server):
    data = tmp_path / "d"
    srv = make_server(data_dir=data)
    srv.stop()
    key = data / "master.key"
    original = key.read_bytes()

    key.unlink()  # the store was written with a key: a new one must not be made up
    err = start_fails(Server(data))
    assert "master key file" in err and "is missing" in err, err
    assert not key.exists()

    key.write_text("ab" * 32 + "\n")  # a valid key, but not this store's
    key.chmod(0o600)
    err = start_fails(Server(data))
    assert "does not match this store" in err, err

    key.write_bytes(original)
    key.chmod(0o644)
    err = start_fails(Server(data))
    assert "chmod 600" in err, err

    key.chmod(0o600)
    ok = make_server(data_dir=data)  # the right key again: starts
    ok.stop()


def test_master_key_file_setting(tmp_path, make_server):
    elsewhere = tmp_path / "keys" / "atrium.key"
    elsewhere.parent.mkdir()
    srv = make_server(data_dir=tmp_path / "d", env={"ATRIUM_DATA_KEY_FILE": str(elsewhere)})
    assert elsewhere.exists() and not (tmp_path / "d" / "master.key").exists()
    srv.stop()
