#include "vcs/routes.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
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

namespace atrium::vcs {

namespace fs = std::filesystem;
using http::Access;
using http::Context;
using http::Response;
using nlohmann::json;

std::vector<db::Migration> migrations() {
  return {{1, "protected branches",
           R"SQL(
CREATE TABLE protected_branches (
  project_id TEXT NOT NULL, pattern TEXT NOT NULL, created_by TEXT NOT NULL, created_ms INTEGER NOT NULL,
  PRIMARY KEY (project_id, pattern)) WITHOUT ROWID;
)SQL"}};
}

Result<std::vector<std::string>> protected_patterns(db::Tx& tx, const std::string& project_id) {
  std::vector<std::string> out;
  for (auto& r : TRY(tx.query("SELECT pattern FROM protected_branches WHERE project_id = ? ORDER BY pattern",
                              {project_id})))
    out.push_back(r.str(0));
  return out;
}

bool is_git_service_request(std::string_view method, std::string_view target) {
  if (method != "POST") return false;
  auto path = target.substr(0, target.find('?'));
  return path.ends_with("/git-upload-pack") || path.ends_with("/git-receive-pack");
}

namespace {

constexpr std::size_t kPiece = 256 * 1024;
constexpr std::size_t kMaxCgiHeader = 64 * 1024;

// ---- loading the project a request names

Result<projects::Project> load_project(Context& ctx, db::Tx& tx, const http::Permission& perm) {
  return projects::load_in_route(ctx, tx, perm);
}

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

// ---- git's smart HTTP service, through `git http-backend` (CGI)

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
  struct stat st{};
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
                                 {p.org_id, "repo.push", "project", p.id,
                                  {{"ref", u.ref},
                                   {"old", created ? json(nullptr) : json(u.old_id)},
                                   {"new", deleted ? json(nullptr) : json(u.new_id)},
                                   {"change", created ? "create" : deleted ? "delete" : "update"}}},
                                 ctx.now()));
      }
      return {};
    });
    if (!st) spdlog::error("git push to {}: the audit record failed: {}", p.id, st.error().detail);
  }
  return r;
}

// ---- the repository API

// The commit a request's `ref` (default: the default branch) names; 404 when none.
Result<std::string> commit_of(Context& ctx, Repos& repos, const projects::Project& p, const char* name = "ref") {
  std::string ref;
  if (auto v = ctx.req.query_param(name); v && !v->empty())
    ref = std::string(*v);
  else
    ref = TRY(repos.default_branch(p.id));
  auto id = TRY(repos.resolve(p.id, ref));
  if (!id)
    return fail(Error(ErrorCode::kNotFound, "ref-not-found", "no branch, tag or commit '" + ref + "'").with(name, ref));
  return *id;
}

json entry_json(const Repos::Entry& e) {
  auto slash = e.path.rfind('/');
  json j = {{"name", slash == std::string::npos ? e.path : e.path.substr(slash + 1)},
            {"path", e.path},
            {"type", e.type == "tree" ? "dir" : e.type == "commit" ? "submodule" : e.mode == "120000" ? "symlink" : "file"},
            {"mode", e.mode},
            {"id", e.id}};
  if (e.size >= 0) j["size"] = e.size;
  return j;
}

std::string etag_for(const std::string& id) { return "\"" + id + "\""; }

std::string unquote(std::string_view v) {
  if (v.starts_with("W/")) v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return std::string(v);
}

Result<std::string> branch_param(std::string_view raw, const char* field) {
  if (!valid_ref_name(raw))
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-branch", std::string(field) + " is not a valid branch name")
                    .with("field", field));
  return std::string(raw);
}

// An API commit to one file: If-Match names the branch head it was made against (412 when the
// branch has moved), or If-None-Match: * makes the branch (from `from`, else a root commit).
Result<Response> edit_file(Context& ctx, Repos& repos, const std::string& branch, std::optional<std::string> content,
                           const std::string& message, const std::optional<std::string>& from) {
  auto path = TRY(repo_path(ctx.param("path"), "path"));
  if (path.empty()) return fail(Error(ErrorCode::kInvalidArgument, "invalid-path", "path: is empty").with("field", "path"));
  auto [p, user] = TRY(ctx.db().read([&](db::Tx& tx) -> Result<std::pair<projects::Project, identity::User>> {
    auto p = TRY(load_project(ctx, tx, {"code", "write"}));
    TRY_STATUS(writable(p));
    return std::pair{p, TRY(identity::get_user(tx, ctx.who().user_id))};
  }));
  auto im = ctx.req.header("if-match");
  auto inm = ctx.req.header("if-none-match");
  auto head = TRY(repos.branch_head(p.id, branch));
  std::optional<std::string> parent;
  if (im) {
    if (!head) return fail(Error(ErrorCode::kPreconditionFailed, "branch-moved", "branch '" + branch + "' does not exist")
                               .with("branch", branch));
    if (unquote(*im) != *head)
      return fail(Error(ErrorCode::kPreconditionFailed, "branch-moved",
                        "branch '" + branch + "' is at " + *head + ", not the commit If-Match names")
                      .with("branch", branch)
                      .with("head", *head));
    parent = head;
  } else if (inm && *inm == "*") {
    if (head)
      return fail(Error(ErrorCode::kPreconditionFailed, "branch-exists", "branch '" + branch + "' already exists")
                      .with("branch", branch)
                      .with("head", *head));
    if (from) {
      parent = TRY(repos.resolve(p.id, *from));
      if (!parent) return fail(Error(ErrorCode::kNotFound, "ref-not-found", "no branch, tag or commit '" + *from + "'"));
    }
  } else {
    return fail(Error(ErrorCode::kPreconditionRequired, "if-match-required",
                      "send If-Match with the branch's head commit (or If-None-Match: * to make the branch)")
                    .with("branch", branch)
                    .with("head", head ? json(*head) : json(nullptr)));
  }
  bool deleting = !content;
  std::optional<Repos::Entry> e;
  if (parent) {
    e = TRY(repos.entry(p.id, *parent, path));
    if (e && e->type != "blob")
      return fail(Error(ErrorCode::kAlreadyExists, "path-conflict", "'" + path + "' is a directory").with("path", path));
    if (deleting && !e) return not_found("file '" + path + "'");
  } else if (deleting) {
    return not_found("file '" + path + "'");
  }
  TRY(repos.ensure(p.id));
  std::string name = user.display_name.empty() ? user.username : user.display_name;
  std::string email = user.email.empty() ? user.username + "@users.atrium" : user.email;
  auto id = TRY(repos.commit(p.id, branch, parent, {{path, std::move(content), edited_mode(e)}}, {name, email}, message,
                            ctx.now(), /*new_branch=*/!im));
  if (!id) {  // nothing changed: the head stays
    return Response::json(200, {{"commit", *parent}, {"branch", branch}, {"path", path}, {"changed", false}})
        .header("ETag", etag_for(*parent));
  }
  TRY_STATUS(ctx.db().write([&](db::Tx& tx) {
    return audit::record(tx, ctx.actor(),
                         {p.org_id, deleting ? "repo.file.delete" : "repo.file.write", "project", p.id,
                          {{"branch", branch}, {"path", path}, {"commit", *id},
                           {"parent", parent ? json(*parent) : json(nullptr)}}},
                         ctx.now());
  }));
  return Response::json(deleting ? 200 : 201,
                        {{"commit", *id}, {"branch", branch}, {"path", path}, {"changed", true},
                         {"parent", parent ? json(*parent) : json(nullptr)}})
      .header("ETag", etag_for(*id));
}

}  // namespace

void add_routes(http::Api& api, Repos& repos, async::Runtime& rt, Settings s) {
  const json kObj = http::object_schema();
  const json kList = http::list_schema();

  // ---- smart HTTP (git clone/fetch/push)
  auto smart = [&](const char* method, const char* suffix, const char* summary) {
    http::Route r{method,
                  std::string("/{org}/{repo}/") + suffix,
                  Access::require("code", "read"),
                  {summary, "git", nullptr, nullptr},
                  [&repos, &rt, suffix = std::string(suffix)](Context& ctx) { return serve_git(ctx, repos, rt, suffix); },
                  http::TxMode::kNone};
    r.basic_auth = true;
    // A fetch's negotiation or a push's pack is read (spooled to disk) only once the caller may
    // read, or push to, the repository the path names.
    if (std::string_view(method) == "POST")
      r.head_check = [](Context& ctx) -> Result<Response> {
        std::string service = git_service(ctx);
        if (service != "git-upload-pack" && service != "git-receive-pack") return Response{};
        bool push = service == "git-receive-pack";
        auto p = TRY(load_by_url(ctx, ctx.t(), {"code", push ? "write" : "read"}));
        if (push) TRY_STATUS(writable(p));
        return Response{};
      };
    api.add(std::move(r));
  };
  smart("GET", "info/refs", "git smart HTTP: the refs advertisement (service=git-upload-pack or git-receive-pack)");
  smart("POST", "git-upload-pack", "git smart HTTP: fetch and clone (needs code:read)");
  smart("POST", "git-receive-pack", "git smart HTTP: push (needs code:write; protected branches are enforced)");

  // ---- the repository API
  api.add({"GET", "/api/v1/projects/{id}/repo", Access::require("code", "read"),
           {"The project's git repository: clone URL, default branch, head", "code", nullptr, kObj},
           [&repos](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"code", "read"}));
             auto org = TRY(identity::get_org(ctx.t(), p.org_id));
             std::string branch = TRY(repos.default_branch(p.id));
             auto head = TRY(repos.resolve(p.id, branch));
             auto host = ctx.req.header("host");
             std::string path = "/" + org.slug + "/" + p.slug + ".git";
             return Response::json(
                 200, {{"project_id", p.id},
                       {"clone_path", path},
                       {"clone_url", host ? (ctx.req.tls ? "https://" : "http://") + std::string(*host) + path : path},
                       {"default_branch", branch},
                       {"head", head ? json(*head) : json(nullptr)},
                       {"empty", !head}});
           }});

  auto list_refs = [&repos](const char* kind) {
    return [&repos, kind](Context& ctx) -> Result<Response> {
      auto page = TRY(ctx.page());
      auto p = TRY(load_project(ctx, ctx.t(), {"code", "read"}));
      auto all = TRY(repos.refs(p.id, kind));
      std::vector<std::string> patterns;
      if (std::string_view(kind) == "heads") patterns = TRY(protected_patterns(ctx.t(), p.id));
      json items = json::array();
      for (auto& item : all) {
        if (item["name"].get<std::string>() <= page.after && !page.after.empty()) continue;
        if (static_cast<int>(items.size()) == page.limit) break;
        if (std::string_view(kind) == "heads") {
          bool prot = false;
          for (auto& pat : patterns) prot = prot || pattern_matches(pat, item["name"]);
          item["protected"] = prot;
        }
        items.push_back(item);
      }
      return http::paged(std::move(items), page.limit, "name");
    };
  };
  api.add({"GET", "/api/v1/projects/{id}/repo/branches", Access::require("code", "read"),
           {"Branches in name order, with their head commit and whether they are protected", "code", nullptr, kList,
            200, {"limit", "after"}},
           list_refs("heads")});
  api.add({"GET", "/api/v1/projects/{id}/repo/tags", Access::require("code", "read"),
           {"Tags in name order, with the commit each names", "code", nullptr, kList, 200, {"limit", "after"}},
           list_refs("tags")});

  api.add({"GET", "/api/v1/projects/{id}/repo/commits", Access::require("code", "read"),
           {"Commits reachable from a ref (default: the default branch), newest first; path= keeps those touching it",
            "code", nullptr, kList, 200, {"ref", "path", "limit", "after"}},
           [&repos](Context& ctx) -> Result<Response> {
             auto page = TRY(ctx.page(500));
             auto p = TRY(load_project(ctx, ctx.t(), {"code", "read"}));
             std::string path;
             if (auto v = ctx.req.query_param("path")) path = TRY(repo_path(*v, "path"));
             int skip = 0;
             if (!page.after.empty()) {
               auto [ptr, ec] = std::from_chars(page.after.data(), page.after.data() + page.after.size(), skip);
               if (ec != std::errc() || skip < 0) return invalid("after is not a cursor this server returned");
             }
             auto head = TRY(commit_of(ctx, repos, p));
             auto commits = TRY(repos.log(p.id, head, path, skip, page.limit + 1));
             std::optional<std::string> next;
             if (static_cast<int>(commits.size()) > page.limit) {
               commits.pop_back();
               next = std::to_string(skip + page.limit);
             }
             return Response::json(200, http::page_json(json(commits), next));
           }});

  api.add({"GET", "/api/v1/projects/{id}/repo/commits/{ref}", Access::require("code", "read"),
           {"One commit (by id, branch or tag)", "code", nullptr, kObj},
           [&repos](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"code", "read"}));
             auto id = TRY(repos.resolve(p.id, ctx.param("ref")));
             if (!id) return not_found("commit '" + ctx.param("ref") + "'");
             auto c = TRY(repos.log(p.id, *id, "", 0, 1));
             if (c.empty()) return not_found("commit");
             return Response::json(200, c[0]).header("ETag", etag_for(*id));
           }});

  api.add({"GET", "/api/v1/projects/{id}/repo/tree", Access::require("code", "read"),
           {"The entries of a directory (path=, default the root) at a ref", "code", nullptr, kObj, 200,
            {"ref", "path"}},
           [&repos](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"code", "read"}));
             std::string path;
             if (auto v = ctx.req.query_param("path")) path = TRY(repo_path(*v, "path"));
             auto commit = TRY(commit_of(ctx, repos, p));
             auto e = TRY(repos.entry(p.id, commit, path));
             if (!e || e->type != "tree") return not_found("directory '" + path + "'");
             json entries = json::array();
             for (auto& x : TRY(repos.tree(p.id, commit, path))) entries.push_back(entry_json(x));
             return Response::json(200, {{"commit", commit}, {"path", path}, {"entries", entries}});
           }});

  api.add({"GET", "/api/v1/projects/{id}/repo/files/{path*}", Access::require("code", "read"),
           {"A file's content at a ref: raw, or with format=json its text (or base64 when binary)", "code", nullptr,
            nullptr, 200, {"ref", "format"}},
           [&repos, s](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"code", "read"}));
             auto path = TRY(repo_path(ctx.param("path"), "path"));
             auto commit = TRY(commit_of(ctx, repos, p));
             auto e = TRY(repos.entry(p.id, commit, path));
             if (!e || e->type != "blob") return not_found("file '" + path + "'");
             if (static_cast<std::size_t>(e->size) > s.max_blob_bytes)
               return fail(Error(ErrorCode::kPayloadTooLarge, "file-too-large",
                                 "the file has " + std::to_string(e->size) + " bytes; the API serves up to " +
                                     std::to_string(s.max_blob_bytes) + " (clone the repository for more)")
                               .with("size", e->size)
                               .with("max_bytes", static_cast<std::int64_t>(s.max_blob_bytes)));
             std::string etag = etag_for(e->id);
             if (auto inm = ctx.req.header("if-none-match"); inm && *inm == etag)
               return Response::text(304, "", "").header("ETag", etag);
             auto data = TRY(repos.blob(p.id, e->id, s.max_blob_bytes + 1));
             bool binary = looks_binary(data) || !is_valid_utf8(data);
             auto format = ctx.req.query_param("format");
             if (format && *format == "json") {
               json j = {{"path", path}, {"commit", commit}, {"id", e->id}, {"mode", e->mode},
                         {"size", e->size}, {"binary", binary}};
               j["encoding"] = binary ? "base64" : "utf-8";
               j["content"] = binary ? crypto::base64(data) : data;
               return Response::json(200, j).header("ETag", etag);
             }
             if (format && *format != "raw") return invalid("format must be raw or json");
             return Response::text(200, std::move(data),
                                   binary ? "application/octet-stream" : "text/plain; charset=utf-8")
                 .header("ETag", etag)
                 .header("X-Git-Commit", commit)
                 .header("X-Content-Type-Options", "nosniff");
           }});

  api.add({"GET", "/api/v1/projects/{id}/repo/compare", Access::require("code", "read"),
           {"The changes from one ref to another: files (status, lines added and removed) and a unified patch",
            "code", nullptr, kObj, 200, {"from", "to"}},
           [&repos, s](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"code", "read"}));
             if (!ctx.req.query_param("from")) return invalid("from is required");
             auto from = TRY(commit_of(ctx, repos, p, "from"));
             auto to = TRY(commit_of(ctx, repos, p, "to"));
             return Response::json(200, TRY(repos.diff(p.id, from, to, s.max_patch_bytes)));
           }});

  api.add({"PUT", "/api/v1/projects/{id}/repo/files/{path*}", Access::require("code", "write"),
           {"Create or replace a file as a commit on a branch. If-Match: the branch's head commit (412 when it "
            "moved); If-None-Match: * makes the branch (from `from`)",
            "code",
            json{{"type", "object"},
                 {"required", {"branch", "content"}},
                 {"properties",
                  {{"branch", {{"type", "string"}}},
                   {"content", {{"type", "string"}}},
                   {"encoding", {{"type", "string"}, {"enum", {"utf-8", "base64"}}}},
                   {"message", {{"type", "string"}}},
                   {"from", {{"type", "string"}}}}}},
            kObj, 201},
           [&repos](Context& ctx) -> Result<Response> {
             // Another tenant's project is 404 whatever the body: the project first.
             TRY(ctx.db().read([&](db::Tx& tx) { return load_project(ctx, tx, {"code", "write"}); }));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"branch", "content", "encoding", "message", "from"}));
             auto branch = TRY(branch_param(TRY(b.str("branch")), "branch"));
             auto content = TRY(b.str("content", 16 << 20));
             auto enc = TRY(b.opt_one_of("encoding", {"utf-8", "base64"}));
             if (enc && *enc == "base64") {
               auto raw = crypto::base64_decode(content);
               if (!raw)
                 return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "content is not valid base64")
                                 .with("field", "content"));
               content = std::move(*raw);
             }
             auto message = TRY(b.opt_str("message", 4096));
             auto path = ctx.param("path");
             std::string msg = message && !message->empty() ? *message : "Update " + path;
             auto from = TRY(b.opt_str("from"));
             return edit_file(ctx, repos, branch, std::move(content), msg, from);
           },
           http::TxMode::kNone, false,
           // The body is read only for a caller who may write the project's code.
           [](Context& ctx) -> Result<Response> {
             TRY(load_project(ctx, ctx.t(), {"code", "write"}));
             return Response{};
           }});

  api.add({"DELETE", "/api/v1/projects/{id}/repo/files/{path*}", Access::require("code", "write"),
           {"Delete a file as a commit on a branch (branch=, message=); If-Match: the branch's head commit", "code",
            nullptr, kObj, 200, {"branch", "message"}},
           [&repos](Context& ctx) -> Result<Response> {
             TRY(ctx.db().read([&](db::Tx& tx) { return load_project(ctx, tx, {"code", "write"}); }));
             auto raw = ctx.req.query_param("branch");
             if (!raw) return invalid("branch is required");
             auto branch = TRY(branch_param(*raw, "branch"));
             auto message = ctx.req.query_param("message");
             std::string msg = message && !message->empty() ? std::string(*message) : "Delete " + ctx.param("path");
             if (msg.size() > 4096 || !is_valid_utf8(msg)) return invalid("message is too long or not UTF-8");
             return edit_file(ctx, repos, branch, std::nullopt, msg, std::nullopt);
           },
           http::TxMode::kNone});

  // ---- protected branches
  api.add({"GET", "/api/v1/projects/{id}/repo/protected-branches", Access::require("code", "read"),
           {"Branch patterns that cannot be deleted or force-pushed", "code", nullptr, kList},
           [](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"code", "read"}));
             json items = json::array();
             for (auto& r : TRY(ctx.t().query(
                      "SELECT pattern, created_by, created_ms FROM protected_branches WHERE project_id = ? ORDER BY pattern",
                      {p.id})))
               items.push_back({{"pattern", r.str(0)}, {"created_by", r.str(1)}, {"created", format_rfc3339(r.i64(2))}});
             return Response::json(200, http::page_json(items, std::nullopt));
           }});
  api.add({"POST", "/api/v1/projects/{id}/repo/protected-branches", Access::require("code", "admin"),
           {"Protect branches matching a pattern (a name, or a glob such as release/*) from deletion and force-push",
            "code", json{{"type", "object"}, {"required", {"pattern"}}, {"properties", {{"pattern", {{"type", "string"}}}}}},
            kObj, 201},
           [](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"code", "admin"}));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"pattern"}));
             auto pattern = TRY(b.str("pattern", 200));
             std::string probe = pattern;
             for (auto& c : probe)
               if (c == '*' || c == '?') c = 'x';
             if (!valid_ref_name(probe) || pattern.find('[') != std::string::npos)
               return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                                 "pattern must be a branch name, optionally with * and ? wildcards")
                               .with("field", "pattern"));
             auto n = TRY(ctx.t().exec(
                 "INSERT INTO protected_branches (project_id, pattern, created_by, created_ms) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT DO NOTHING",
                 {p.id, pattern, ctx.who().user_id, ctx.now()}));
             if (n == 0)
               return fail(Error(ErrorCode::kAlreadyExists, "already-protected", "'" + pattern + "' is already protected")
                               .with("pattern", pattern));
             TRY_STATUS(audit::record(ctx.t(), ctx.actor(),
                                      {p.org_id, "repo.protect", "project", p.id, {{"pattern", pattern}}}, ctx.now()));
             return Response::json(201, {{"pattern", pattern}, {"created_by", ctx.who().user_id},
                                         {"created", format_rfc3339(ctx.now())}});
           }});
  api.add({"DELETE", "/api/v1/projects/{id}/repo/protected-branches/{pattern*}", Access::require("code", "admin"),
           {"Stop protecting a branch pattern", "code", nullptr, nullptr, 204},
           [](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"code", "admin"}));
             auto n = TRY(ctx.t().exec("DELETE FROM protected_branches WHERE project_id = ? AND pattern = ?",
                                       {p.id, ctx.param("pattern")}));
             if (n == 0) return not_found("protected branch pattern '" + ctx.param("pattern") + "'");
             TRY_STATUS(audit::record(ctx.t(), ctx.actor(),
                                      {p.org_id, "repo.unprotect", "project", p.id, {{"pattern", ctx.param("pattern")}}},
                                      ctx.now()));
             return Response::no_content();
           }});
}

}  // namespace atrium::vcs
