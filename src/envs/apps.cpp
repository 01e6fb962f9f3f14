#include "envs/apps.hpp"

#include <algorithm>

#include "core/ids.hpp"

namespace atrium::envs {

using nlohmann::json;

namespace {

// A terminal: one login shell on a PTY per WebSocket connection (terminado, JSON text frames:
// ["stdin", s], ["set_size", rows, cols] in; ["setup", {}], ["stdout", s], ["disconnect", 1] out).
// Only the proxy reaches the socket; it still checks the environment's token (defence in depth).
constexpr const char* kTerminalPy = R"PY(#!/usr/bin/python3
import hmac, os, sys
import terminado, tornado.httpserver, tornado.ioloop, tornado.netutil, tornado.web

# Started with -P outside the workspace (nothing of the project can shadow a module); the shells
# start in the workspace.
os.chdir("/workspace")

base = os.environ["ATRIUM_BASE_URL"].rstrip("/")
with open(os.environ["ATRIUM_TOKEN_FILE"]) as f:
    token = f.read()
shell = [os.environ.get("SHELL") or "/bin/bash", "-l"]
tm = terminado.UniqueTermManager(shell_command=shell, max_terminals=16)

def authorized(handler):
    got = handler.request.headers.get("Authorization", "")
    return hmac.compare_digest(got.encode(), ("token " + token).encode())

class Health(tornado.web.RequestHandler):
    def get(self):
        if not authorized(self):
            raise tornado.web.HTTPError(403)
        self.write({"terminals": len(tm.ptys_by_fd), "last_activity": tm.last_activity if hasattr(tm, "last_activity") else None})

class Page(tornado.web.RequestHandler):
    def get(self):
        if not authorized(self):
            raise tornado.web.HTTPError(403)
        if not base and "text/html" in self.request.headers.get("Accept", ""):
            # A browser: Atrium serves the terminal page (xterm.js) on this same origin.
            return self.redirect("/_atrium/terminal")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.write("Atrium terminal: connect a WebSocket to " + base + "/websocket (terminado protocol)\n")

class Socket(terminado.TermSocket):
    def get(self, *args, **kwargs):
        if not authorized(self):
            raise tornado.web.HTTPError(403)
        return super().get(*args, **kwargs)
    def check_origin(self, origin):
        return True  # the proxy checks Origin against Atrium's own origin before it forwards

app = tornado.web.Application([(base + "/websocket", Socket, {"term_manager": tm}),
                               (base + "/api/status", Health), (base + "/?", Page)])
srv = tornado.httpserver.HTTPServer(app, xheaders=True)
srv.add_socket(tornado.netutil.bind_unix_socket(os.environ["ATRIUM_SOCKET"], mode=0o600))
tornado.ioloop.IOLoop.current().start()
)PY";

// A web app that listens on a port: runs the command and relays the environment's unix socket to
// 127.0.0.1:$PORT inside the sandbox (its network namespace has only lo).
constexpr const char* kBridgePy = R"PY(#!/usr/bin/python3
import os, signal, socket, subprocess, sys, threading

port = int(os.environ["PORT"])
path = os.environ["ATRIUM_SOCKET"]
# Started with -P outside the workspace; the app itself runs in the workspace.
child = subprocess.Popen(sys.argv[1:], cwd="/workspace")

def forward(port_to, port_from):
    try:
        while True:
            b = port_from.recv(65536)
            if not b:
                break
            port_to.sendall(b)
    except OSError:
        pass
    finally:
        try:
            port_to.shutdown(socket.SHUT_WR)
        except OSError:
            pass

def serve(conn):
    try:
        up = socket.create_connection(("127.0.0.1", port))
    except OSError:
        conn.close()
        return
    t = threading.Thread(target=forward, args=(up, conn), daemon=True)
    t.start()
    forward(conn, up)
    t.join()
    conn.close()
    up.close()

def watch():
    rc = child.wait()
    os._exit(rc if rc >= 0 else 128 - rc)

signal.signal(signal.SIGTERM, lambda *_: (child.terminate(), None))
threading.Thread(target=watch, daemon=True).start()
try:
    os.unlink(path)
except FileNotFoundError:
    pass
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(path)
os.chmod(path, 0o600)
ls.listen(128)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
)PY";

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 40 || n.front() == '-') return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

json resources_json(const Resources& r) {
  return {{"cpus", r.cpus}, {"mem_mb", r.mem_mb}, {"time_limit_s", r.time_limit / 1000}};
}

Error bad(const std::string& field, const std::string& why) {
  return Error(ErrorCode::kInvalidArgument, "invalid-field", field + ": " + why).with("field", field);
}

Result<Resources> resources_from(const json& j, const std::string& field, Resources r) {
  if (!j.is_object()) return fail(bad(field, "must be an object {cpus, mem_mb, time_limit_s}"));
  for (auto& [k, v] : j.items()) {
    if (!v.is_number_integer()) return fail(bad(field, k + " must be an integer"));
    auto x = v.get<std::int64_t>();
    if (k == "cpus" && x >= 1 && x <= 1024) r.cpus = static_cast<int>(x);
    else if (k == "mem_mb" && x >= 16 && x <= (std::int64_t{1} << 32)) r.mem_mb = x;
    else if (k == "time_limit_s" && x >= 60 && x <= 365LL * 86400) r.time_limit = x * 1000;
    else return fail(bad(field, "unknown or out-of-range '" + k.substr(0, 40) + "'"));
  }
  return r;
}

}  // namespace

bool App::allowed_for(const std::string& org_id) const {
  return enabled && (!orgs || std::find(orgs->begin(), orgs->end(), org_id) != orgs->end());
}

Millis App::idle_timeout_for(const std::string& org_id) const {
  auto it = per_org.find(org_id);
  return it != per_org.end() && it->second.idle_timeout ? *it->second.idle_timeout : idle_timeout;
}

Millis App::max_uptime_for(const std::string& org_id) const {
  auto it = per_org.find(org_id);
  return it != per_org.end() && it->second.max_uptime ? *it->second.max_uptime : max_uptime;
}

const std::vector<App>& builtin_apps() {
  static const std::vector<App> apps = [] {
    App jupyter;
    jupyter.name = "jupyter";
    jupyter.kind = "jupyter";
    jupyter.title = "Jupyter Notebook (classic UI, jupyter_server 1.23 + nbclassic)";
    jupyter.health_path = "api/status";
    jupyter.builtin = true;
    App terminal;
    terminal.name = "terminal";
    terminal.kind = "terminal";
    terminal.title = "Terminal (a login shell on a PTY over WebSocket)";
    terminal.health_path = "api/status";
    terminal.defaults.mem_mb = 512;
    terminal.builtin = true;
    return std::vector<App>{jupyter, terminal};
  }();
  return apps;
}

namespace {
// How many GPUs a launch of the app may ask for.
Result<int> max_gpus_from(const json& v) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > 64)
    return fail(bad("max_gpus", "must be an integer in [0, 64]"));
  return v.get<int>();
}
}  // namespace

json to_json(const App& a) {
  json j = {{"name", a.name},
            {"kind", a.kind},
            {"title", a.title},
            {"defaults", resources_json(a.defaults)},
            {"max", resources_json(a.max)},
            {"max_gpus", a.max_gpus},
            {"idle_timeout_s", a.idle_timeout / 1000},
            {"max_uptime_s", a.max_uptime / 1000},
            {"spawn_timeout_s", a.spawn_timeout / 1000},
            {"network", a.network},
            {"rootfs", a.rootfs},
            {"image", a.image},
            {"enabled", a.enabled},
            {"orgs", a.orgs ? json(*a.orgs) : json(nullptr)},
            {"per_org", json::object()},
            {"builtin", a.builtin},
            {"health_path", a.health_path}};
  for (auto& [org, l] : a.per_org) {
    json o = json::object();
    if (l.idle_timeout) o["idle_timeout_s"] = *l.idle_timeout / 1000;
    if (l.max_uptime) o["max_uptime_s"] = *l.max_uptime / 1000;
    j["per_org"][org] = o;
  }
  if (a.kind == "web") {
    j["command"] = a.command;
    j["listen"] = a.listen;
    if (a.listen == "port") j["port"] = a.port;
  }
  j["etag"] = "\"" + std::to_string(a.version) + "\"";
  return j;
}

Result<App> app_from_json(const std::string& name, const json& j, const App* builtin) {
  if (!valid_name(name))
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-name", "an app name is 1-40 of a-z 0-9 -").with("field", "name"));
  if (!j.is_object()) return fail(bad("body", "must be a JSON object"));
  static const std::vector<std::string> known = {"kind",    "title",   "command",      "listen",        "port",
                                                 "health_path", "defaults", "max", "idle_timeout_s", "max_uptime_s",
                                                 "spawn_timeout_s", "network", "rootfs", "image", "enabled", "orgs", "per_org", "max_gpus",
                                                 // read-only fields a client may send back unchanged
                                                 "name", "builtin", "etag"};
  for (auto& [k, v] : j.items())
    if (std::find(known.begin(), known.end(), k) == known.end())
      return fail(Error(ErrorCode::kInvalidArgument, "unknown-field", "unknown field '" + k.substr(0, 64) + "'")
                      .with("field", k.substr(0, 64)));
  App a = builtin ? *builtin : App{};
  a.name = name;
  a.builtin = builtin != nullptr;
  auto str = [&](const char* k, std::string& out, std::size_t max) -> Status {
    if (!j.contains(k)) return {};
    if (!j[k].is_string() || j[k].get_ref<const std::string&>().size() > max ||
        j[k].get_ref<const std::string&>().find('\0') != std::string::npos)
      return fail(bad(k, "must be a string of at most " + std::to_string(max) + " bytes"));
    out = j[k].get<std::string>();
    return {};
  };
  auto seconds = [&](const char* k, Millis& out, std::int64_t lo, std::int64_t hi) -> Status {
    if (!j.contains(k)) return {};
    if (!j[k].is_number_integer() || j[k].get<std::int64_t>() < lo || j[k].get<std::int64_t>() > hi)
      return fail(bad(k, "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]"));
    out = j[k].get<std::int64_t>() * 1000;
    return {};
  };
  std::string kind = a.kind;
  TRY_STATUS(str("kind", kind, 16));
  if (builtin && kind != builtin->kind) return fail(bad("kind", "a built-in app keeps its kind (" + builtin->kind + ")"));
  if (kind != "jupyter" && kind != "terminal" && kind != "web") return fail(bad("kind", "must be jupyter, terminal or web"));
  if (!builtin && kind != "web") return fail(bad("kind", "only web apps can be added; jupyter and terminal are built in"));
  a.kind = kind;
  TRY_STATUS(str("title", a.title, 200));
  TRY_STATUS(str("listen", a.listen, 8));
  if (a.listen != "unix" && a.listen != "port") return fail(bad("listen", "must be unix or port"));
  if (j.contains("port")) {
    if (!j["port"].is_number_integer() || j["port"].get<std::int64_t>() < 1 || j["port"].get<std::int64_t>() > 65535)
      return fail(bad("port", "must be a port number"));
    a.port = j["port"].get<int>();
  }
  TRY_STATUS(str("health_path", a.health_path, 512));
  if (!a.health_path.empty() && a.health_path.front() == '/') a.health_path.erase(0, 1);
  for (char c : a.health_path)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#')
      return fail(bad("health_path", "must be a URL path without spaces or control characters"));
  if (a.health_path.find("..") != std::string::npos) return fail(bad("health_path", "must not contain .."));
  if (j.contains("command")) {
    if (!j["command"].is_array() || j["command"].empty() || j["command"].size() > 256)
      return fail(bad("command", "must be a non-empty list of strings (argv)"));
    a.command.clear();
    for (auto& x : j["command"]) {
      if (!x.is_string() || x.get_ref<const std::string&>().size() > 4096 ||
          x.get_ref<const std::string&>().find('\0') != std::string::npos)
        return fail(bad("command", "must be a list of strings without NUL"));
      a.command.push_back(x.get<std::string>());
    }
    if (a.command[0].empty()) return fail(bad("command", "must name a program"));
  }
  if (kind == "web" && a.command.empty()) return fail(bad("command", "a web app needs a command"));
  if (kind != "web" && j.contains("command")) return fail(bad("command", "only web apps take a command"));
  if (j.contains("defaults")) a.defaults = TRY(resources_from(j["defaults"], "defaults", a.defaults));
  if (j.contains("max")) a.max = TRY(resources_from(j["max"], "max", a.max));
  if (a.defaults.cpus > a.max.cpus || a.defaults.mem_mb > a.max.mem_mb || a.defaults.time_limit > a.max.time_limit)
    return fail(bad("defaults", "must not exceed max"));
  if (j.contains("max_gpus")) a.max_gpus = TRY(max_gpus_from(j["max_gpus"]));
  TRY_STATUS(seconds("idle_timeout_s", a.idle_timeout, 0, 365LL * 86400));
  TRY_STATUS(seconds("max_uptime_s", a.max_uptime, 0, 365LL * 86400));
  TRY_STATUS(seconds("spawn_timeout_s", a.spawn_timeout, 1, 3600));
  TRY_STATUS(str("network", a.network, 16));
  if (a.network != "none" && a.network != "outbound") return fail(bad("network", "must be none or outbound"));
  TRY_STATUS(str("rootfs", a.rootfs, 1024));
  if (!a.rootfs.empty() && a.rootfs.front() != '/') return fail(bad("rootfs", "must be an absolute host path"));
  TRY_STATUS(str("image", a.image, 400));
  if (!a.image.empty() && !a.rootfs.empty()) return fail(bad("image", "give an image or a rootfs, not both"));
  if (j.contains("enabled")) {
    if (!j["enabled"].is_boolean()) return fail(bad("enabled", "must be true or false"));
    a.enabled = j["enabled"].get<bool>();
  }
  if (j.contains("orgs")) {
    if (j["orgs"].is_null()) {
      a.orgs.reset();
    } else {
      if (!j["orgs"].is_array() || j["orgs"].size() > 10000) return fail(bad("orgs", "must be null (all orgs) or a list of org ids"));
      std::vector<std::string> ids;
      for (auto& x : j["orgs"]) {
        if (!x.is_string() || !is_id(x.get_ref<const std::string&>(), "org"))
          return fail(bad("orgs", "must hold org ids"));
        ids.push_back(x.get<std::string>());
      }
      a.orgs = std::move(ids);
    }
  }
  if (j.contains("per_org")) {
    const auto& po = j["per_org"];
    if (!po.is_object() || po.size() > 10000)
      return fail(bad("per_org", "must be an object {org id: {idle_timeout_s?, max_uptime_s?}}"));
    a.per_org.clear();
    for (auto& [org, v] : po.items()) {
      if (!is_id(org, "org") || !v.is_object()) return fail(bad("per_org", "keys are org ids, values objects"));
      App::OrgLimits l;
      for (auto& [k, x] : v.items()) {
        if ((k != "idle_timeout_s" && k != "max_uptime_s") || !x.is_number_integer() || x.get<std::int64_t>() < 0 ||
            x.get<std::int64_t>() > 365LL * 86400)
          return fail(bad("per_org", "an org's limits are idle_timeout_s and max_uptime_s, 0 to 365 days"));
        (k == "idle_timeout_s" ? l.idle_timeout : l.max_uptime) = x.get<std::int64_t>() * 1000;
      }
      a.per_org[org] = l;
    }
  }
  return a;
}

Launch launch_for(const App& a, const std::string& base_url, Millis idle_timeout) {
  Launch l;
  const std::string run = kSandboxRunDir;
  l.env = {{"HOME", kSandboxHome},
           {"SHELL", "/bin/bash"},
           {"TERM", "xterm-256color"},
           {"LANG", "C.UTF-8"},
           {"USER", "atrium"},
           {"ATRIUM_BASE_URL", base_url},
           {"ATRIUM_SOCKET", run + "/app.sock"},
           {"ATRIUM_TOKEN_FILE", run + "/token"}};
  std::string health = a.health_path;
  if (a.kind == "jupyter") {
    auto idle_s = std::to_string(idle_timeout / 1000);
    // -P (and PYTHONSAFEPATH, which its kernels inherit): the working directory is never on
    // sys.path, so a jupyter_server/ or ipykernel_launcher.py committed to the project (or next
    // to a notebook) is not what runs. The server starts in the run directory; it serves /workspace.
    l.argv = {"/usr/bin/python3",
              "-P",
              "-m",
              "jupyter_server",
              "--ServerApp.base_url=" + base_url,
              "--ServerApp.sock=" + run + "/app.sock",
              "--ServerApp.sock_mode=0600",
              "--ServerApp.allow_remote_access=True",
              "--ServerApp.trust_xheaders=True",
              "--ServerApp.root_dir=/workspace",
              "--ServerApp.open_browser=False",
              "--ServerApp.jpserver_extensions={'nbclassic': True}",
              "--ServerApp.default_url=/tree",
              // Its terminals open in the workspace, not in the server's working directory.
              "--ServerApp.terminado_settings={'shell_command': ['/bin/bash', '-c', 'cd /workspace && exec /bin/bash -l']}"};
    if (idle_timeout > 0) {
      // Jupyter culls idle kernels and terminals itself; Atrium culls the server.
      l.argv.push_back("--MappingKernelManager.cull_idle_timeout=" + idle_s);
      l.argv.push_back("--MappingKernelManager.cull_interval=60");
      l.argv.push_back("--TerminalManager.cull_inactive_timeout=" + idle_s);
      l.argv.push_back("--TerminalManager.cull_interval=60");
    }
    l.env["JUPYTER_TOKEN_FILE"] = run + "/token";
    l.env["JUPYTER_RUNTIME_DIR"] = run + "/jupyter";
    l.env["JUPYTER_CONFIG_DIR"] = std::string(kSandboxHome) + "/.jupyter";
    l.env["JUPYTER_DATA_DIR"] = std::string(kSandboxHome) + "/.local/share/jupyter";
    l.env["IPYTHONDIR"] = std::string(kSandboxHome) + "/.ipython";
    l.env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1";
  } else if (a.kind == "terminal") {
    l.files["terminal.py"] = kTerminalPy;
    l.argv = {"/usr/bin/python3", "-P", std::string(kSandboxAppDir) + "/terminal.py"};
  } else if (a.listen == "port") {
    l.files["bridge.py"] = kBridgePy;
    l.argv = {"/usr/bin/python3", "-P", std::string(kSandboxAppDir) + "/bridge.py"};
    l.argv.insert(l.argv.end(), a.command.begin(), a.command.end());
    l.env["PORT"] = std::to_string(a.port);
  } else {
    l.argv = a.command;
    l.cwd = "/workspace";  // the admin's command, as defined (it may expect the checkout)
  }
  if (a.kind == "jupyter" || a.kind == "terminal") l.env["PYTHONSAFEPATH"] = "1";
  l.health_path = base_url + health;
  return l;
}

}  // namespace atrium::envs
