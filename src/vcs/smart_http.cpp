// git's smart HTTP service at /{org}/{project}.git/...: `git http-backend` as CGI, its pack
// streamed to the client, a push's ref updates audited before the client hears of them.
#include "vcs/routes.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <fstream>

#include <spdlog/spdlog.h>

#include "audit/audit.hpp"
#include "core/async.hpp"
#include "core/crypto.hpp"
#include "core/files.hpp"
#include "core/text.hpp"
#include "identity/store.hpp"
#include "projects/projects.hpp"
#include "projects/routes.hpp"
#include "vcs/store.hpp"

namespace atrium::vcs {

namespace fs = std::filesystem;
using http::Access;
using http::Context;
using http::Response;
using nlohmann::json;

bool is_git_service_request(std::string_view method, std::string_view target) {
  if (method != "POST") return false;
  auto path = target.substr(0, target.find('?'));
  return path.ends_with("/git-upload-pack") || path.ends_with("/git-receive-pack");
}

namespace {

constexpr std::size_t kPiece = 256 * 1024;
constexpr std::size_t kMaxCgiHeader = 64 * 1024;

Status writable(const projects::Project& p) { return projects::check_writable(p); }

// /{org}/{repo}: the project by the org's slug and the repository name (".git" optional).
Result<projects::Project> load_by_url(Context& ctx, db::Tx& tx, const http::Permission& perm) {
  std::string slug = ctx.param("repo");
  if (slug.ends_with(".git")) slug.resize(slug.size() - 4);
  auto hidden = [&]() -> std::unexpected<Error> {
    ctx.filtered();
    return not_found("repository");
  };
  if (!is_valid_slug(ctx.param("org")) || !is_valid_slug(slug)) return hidden();
  auto org = identity::get_org(tx, ctx.param("org"));
  if (!org) return hidden();
  auto p = TRY(projects::find_for(tx, org->id, slug, ctx.who().user_id));
  if (!p) return hidden();
  TRY_STATUS(ctx.authorize(perm, projects::target_of(*p)));
  return *p;
}

// A CGI response's body as git writes it: a pack streamed to the client as it is made. The pipe
// is non-blocking: next() waits for it to become readable; git's exit is collected on the pool.
class GitBody : public async::Stream {
 public:
  GitBody(async::Runtime& rt, Child c, std::string what) : rt_(rt), c_(std::move(c)), what_(std::move(what)) {}
  async::Task<bool> next(std::string& out) override {
    for (;;) {
      std::size_t before = out.size();
      auto more = c_.read(out, kPiece);
      if (more && *more && out.size() > before) co_return true;
      if (more && *more) {
        if (cancelled_) co_return true;
        co_await waiter_.wait_readable(c_.out_fd(), clock_);
        continue;
      }
      auto r = co_await async::on_pool(rt_, [this] { return c_.wait(); });
      if (!more || r.status != 0) {
        failed_ = true;  // the client sees a cut body, which git reports
        spdlog::warn("git {}: exit {}: {}", what_, r.status, r.err.substr(0, r.err.find('\n')));
      }
      co_return false;
    }
  }
  bool failed() const override { return failed_; }
  void cancel() override {
    cancelled_ = true;
    waiter_.wake();
  }

 private:
  async::Runtime& rt_;
  Child c_;
  std::string what_;
  bool failed_ = false, cancelled_ = false;
  SystemClock clock_;
  async::Waiter waiter_;
};

struct Cgi {
  int status = 200;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string rest;  // body bytes read with the header
};

Result<Cgi> read_cgi_header(Child& c) {
  std::string buf;
  for (;;) {
    auto end = buf.find("\r\n\r\n");
    std::size_t skip = 4;
    if (end == std::string::npos) {
      end = buf.find("\n\n");
      skip = 2;
    }
    if (end != std::string::npos) {
      Cgi cgi;
      cgi.rest = buf.substr(end + skip);
      std::string_view head(buf.data(), end);
      while (!head.empty()) {
        auto nl = head.find('\n');
        std::string_view line = head.substr(0, nl);
        head = nl == std::string_view::npos ? std::string_view() : head.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string name = to_lower(line.substr(0, colon));
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (name == "status") {
          std::from_chars(value.data(), value.data() + value.size(), cgi.status);
        } else if (name == "content-type") {
          cgi.content_type = std::string(value);
        } else if (name == "expires" || name == "pragma" || name == "cache-control") {
          cgi.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
        }
      }
      return cgi;
    }
    if (buf.size() > kMaxCgiHeader) return fail(ErrorCode::kInternal, "git", "git http-backend sent no header");
    if (!TRY(c.read_blocking(buf, 65536))) {
      auto r = c.wait();
      return fail(ErrorCode::kInternal, "git",
                  "git http-backend ended without a response (exit " + std::to_string(r.status) + "): " + r.err);
    }
  }
}

// The request body as git's stdin: the spooled file, or (small bodies) a memory file.
Result<int> body_fd(const http::Request& req, std::int64_t& length) {
  int fd = -1;
  if (!req.body_file.empty()) {
    fd = ::open(req.body_file.c_str(), O_RDONLY | O_CLOEXEC);
  } else {
    fd = ::memfd_create("git-request", MFD_CLOEXEC);
    if (fd >= 0 && (!write_all(fd, req.body) || ::lseek(fd, 0, SEEK_SET) != 0)) {
      ::close(fd);
      fd = -1;
    }
  }
  if (fd < 0) return fail(ErrorCode::kInternal, "git", std::string("request body: ") + std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  length = st.st_size;
  return fd;
}

struct Push {
  std::string old_id, new_id, ref;
};

std::vector<Push> read_push_log(const fs::path& file) {
  std::vector<Push> out;
  std::ifstream in(file);
  Push p;
  while (in >> p.old_id >> p.new_id >> p.ref) out.push_back(p);
  return out;
}

std::string git_service(Context& ctx) {
  const auto& path = ctx.req.path;
  if (path.ends_with("/git-upload-pack")) return "git-upload-pack";
  if (path.ends_with("/git-receive-pack")) return "git-receive-pack";
  auto s = ctx.req.query_param("service");
  return s ? std::string(*s) : std::string();
}

Result<Response> serve_git(Context& ctx, Repos& repos, async::Runtime& rt, const std::string& suffix) {
  std::string service = git_service(ctx);
  if (service != "git-upload-pack" && service != "git-receive-pack")
    return fail(ErrorCode::kPermissionDenied, "dumb-http",
                "only git's smart HTTP protocol is served (service=git-upload-pack or git-receive-pack)");
  bool push = service == "git-receive-pack";
  http::Permission perm{"code", push ? "write" : "read"};
  std::vector<std::string> patterns;
  auto p = TRY(ctx.db().read([&](db::Tx& tx) -> Result<projects::Project> {
    auto p = TRY(load_by_url(ctx, tx, perm));
    if (push) {
      TRY_STATUS(writable(p));
      patterns = TRY(protected_patterns(tx, p.id));
    }
    return p;
  }));
  TRY(repos.ensure(p.id));

  std::int64_t length = 0;
  int in = TRY(body_fd(ctx.req, length));
  struct CloseFd {
    int fd;
    ~CloseFd() { ::close(fd); }
  } close_in{in};
  fs::path push_log = repos.root() / "tmp" / ("push-" + crypto::hex(crypto::random_bytes(8)));
  std::string joined;
  for (auto& pat : patterns) joined += pat + "\n";
  std::string query = ctx.req.target.find('?') == std::string::npos
                          ? std::string()
                          : ctx.req.target.substr(ctx.req.target.find('?') + 1);
  std::vector<std::string> extra = {
      "GIT_PROJECT_ROOT=" + repos.root().string(),
      "GIT_HTTP_EXPORT_ALL=1",
      "PATH_INFO=/" + p.id + ".git/" + suffix,
      "REQUEST_METHOD=" + ctx.req.method,
      "QUERY_STRING=" + query,
      "REMOTE_USER=" + ctx.who().username,
      "REMOTE_ADDR=" + ctx.req.remote_ip,
      "ATRIUM_PROTECTED=" + joined,
      "ATRIUM_PUSH_LOG=" + push_log.string(),
  };
  if (ctx.req.method == "POST") extra.push_back("CONTENT_LENGTH=" + std::to_string(length));
  if (auto v = ctx.req.header("content-type")) extra.push_back("CONTENT_TYPE=" + std::string(*v));
  if (auto v = ctx.req.header("content-encoding")) extra.push_back("HTTP_CONTENT_ENCODING=" + std::string(*v));
  if (auto v = ctx.req.header("git-protocol")) extra.push_back("GIT_PROTOCOL=" + std::string(*v));
  auto child = TRY(Child::spawn({repos.http_backend()}, repos.env(extra), in));
  auto cgi = TRY(read_cgi_header(child));
  Response r = Response::text(cgi.status, std::move(cgi.rest), cgi.content_type);
  for (auto& [k, v] : cgi.headers) r.header(k, v);

  if (!(push && ctx.req.method == "POST")) {
    r.stream = std::make_shared<GitBody>(rt, std::move(child), service + " " + p.id);
    return r;
  }
  // A push: its report is short; it is read whole so that the refs it changed are audited
  // before the client hears that they did.
  while (TRY(child.read_blocking(r.body, kPiece))) {
    if (r.body.size() > (64u << 20)) return fail(ErrorCode::kInternal, "git", "receive-pack report too large");
  }
  auto done = child.wait();
  auto updates = read_push_log(push_log);
  std::error_code ec;
  fs::remove(push_log, ec);
  if (done.status != 0) spdlog::warn("git receive-pack {}: exit {}: {}", p.id, done.status, done.err);
  if (!updates.empty()) {
    auto st = ctx.db().write([&](db::Tx& tx) -> Status {
      for (auto& u : updates) {
        bool created = u.old_id.find_first_not_of('0') == std::string::npos;
        bool deleted = u.new_id.find_first_not_of('0') == std::string::npos;
        TRY_STATUS(audit::record(tx, ctx.actor(),
                                 {p.org_id,
                                  "repo.push",
                                  "project",
                                  p.id,
                                  {{"ref", u.ref},
                                   {"old", created ? json(nullptr) : json(u.old_id)},
                                   {"new", deleted ? json(nullptr) : json(u.new_id)},
                                   {"change", created   ? "create"
                                              : deleted ? "delete"
                                                        : "update"}}},
                                 ctx.now()));
      }
      return {};
    });
    if (!st) spdlog::error("git push to {}: the audit record failed: {}", p.id, st.error().detail);
  }
  return r;
}

Result<Response> git_head_check(Context& ctx) {
  std::string service = git_service(ctx);
  if (service != "git-upload-pack" && service != "git-receive-pack") return Response{};
  bool push = service == "git-receive-pack";
  auto p = TRY(load_by_url(ctx, ctx.t(), {"code", push ? "write" : "read"}));
  if (push) TRY_STATUS(writable(p));
  return Response{};
}

}  // namespace

void detail::add_smart_http_routes(http::Api& api, Repos& repos, async::Runtime& rt) {
  // ---- smart HTTP (git clone/fetch/push)
  auto smart = [&](const char* method, const char* suffix, const char* summary) {
    http::Route r{
        method,
        std::string("/{org}/{repo}/") + suffix,
        Access::require("code", "read"),
        {summary, "git", nullptr, nullptr},
        [&repos, &rt, suffix = std::string(suffix)](Context& ctx) { return serve_git(ctx, repos, rt, suffix); },
        http::TxMode::kNone};
    r.basic_auth = true;
    // A fetch's negotiation or a push's pack is read (spooled to disk) only once the caller may
    // read, or push to, the repository the path names.
    if (std::string_view(method) == "POST") r.head_check = git_head_check;
    api.add(std::move(r));
  };
  smart("GET", "info/refs", "git smart HTTP: the refs advertisement (service=git-upload-pack or git-receive-pack)");
  smart("POST", "git-upload-pack", "git smart HTTP: fetch and clone (needs code:read)");
  smart("POST", "git-receive-pack", "git smart HTTP: push (needs code:write; protected branches are enforced)");
}

}  // namespace atrium::vcs
