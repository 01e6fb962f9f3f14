#include "vcs/routes.hpp"

#include <charconv>
#include <functional>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "core/text.hpp"
#include "identity/store.hpp"
#include "projects/projects.hpp"
#include "projects/routes.hpp"
#include "vcs/store.hpp"

namespace atrium::vcs {

using http::Access;
using http::Context;
using http::Response;
using nlohmann::json;

namespace {

// ---- loading the project a request names

Result<projects::Project> load_project(Context& ctx, db::Tx& tx, const http::Permission& perm) {
  return projects::load_in_route(ctx, tx, perm);
}

Status writable(const projects::Project& p) { return projects::check_writable(p); }

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
            {"type", e.type == "tree"     ? "dir"
                     : e.type == "commit" ? "submodule"
                     : e.mode == "120000" ? "symlink"
                                          : "file"},
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
  if (path.empty())
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-path", "path: is empty").with("field", "path"));
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
    if (!head)
      return fail(Error(ErrorCode::kPreconditionFailed, "branch-moved", "branch '" + branch + "' does not exist")
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
      if (!parent)
        return fail(Error(ErrorCode::kNotFound, "ref-not-found", "no branch, tag or commit '" + *from + "'"));
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
      return fail(
          Error(ErrorCode::kAlreadyExists, "path-conflict", "'" + path + "' is a directory").with("path", path));
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
    return audit::record(
        tx, ctx.actor(),
        {p.org_id,
         deleting ? "repo.file.delete" : "repo.file.write",
         "project",
         p.id,
         {{"branch", branch}, {"path", path}, {"commit", *id}, {"parent", parent ? json(*parent) : json(nullptr)}}},
        ctx.now());
  }));
  return Response::json(deleting ? 200 : 201, {{"commit", *id},
                                               {"branch", branch},
                                               {"path", path},
                                               {"changed", true},
                                               {"parent", parent ? json(*parent) : json(nullptr)}})
      .header("ETag", etag_for(*id));
}

// ---- handlers, one per endpoint

Result<Response> repo_show(Repos& repos, Context& ctx) {
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
}

Result<Response> refs_list(Repos& repos, const char* kind, Context& ctx) {
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
}

Result<Response> commits_list(Repos& repos, Context& ctx) {
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
}

Result<Response> commit_show(Repos& repos, Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"code", "read"}));
  auto id = TRY(repos.resolve(p.id, ctx.param("ref")));
  if (!id) return not_found("commit '" + ctx.param("ref") + "'");
  auto c = TRY(repos.log(p.id, *id, "", 0, 1));
  if (c.empty()) return not_found("commit");
  return Response::json(200, c[0]).header("ETag", etag_for(*id));
}

// One commit's changes: against its first parent, or against the empty tree for a root commit
// (which /compare cannot name), in /compare's shape.
Result<Response> commit_diff(Repos& repos, const Settings& s, Context& ctx) {
  static constexpr const char* kEmptyTree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
  auto p = TRY(load_project(ctx, ctx.t(), {"code", "read"}));
  auto id = TRY(repos.resolve(p.id, ctx.param("ref")));
  if (!id) return not_found("commit '" + ctx.param("ref") + "'");
  auto c = TRY(repos.log(p.id, *id, "", 0, 1));
  if (c.empty()) return not_found("commit");
  const json& parents = c[0]["parents"];
  std::string from = parents.empty() ? std::string(kEmptyTree) : parents[0].get<std::string>();
  json j = TRY(repos.diff(p.id, from, *id, s.max_patch_bytes));
  j["from"] = parents.empty() ? json(nullptr) : json(from);
  j["to"] = *id;
  return Response::json(200, j).header("ETag", etag_for(*id));
}

Result<Response> tree_show(Repos& repos, Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"code", "read"}));
  std::string path;
  if (auto v = ctx.req.query_param("path")) path = TRY(repo_path(*v, "path"));
  auto commit = TRY(commit_of(ctx, repos, p));
  auto e = TRY(repos.entry(p.id, commit, path));
  if (!e || e->type != "tree") return not_found("directory '" + path + "'");
  json entries = json::array();
  for (auto& x : TRY(repos.tree(p.id, commit, path))) entries.push_back(entry_json(x));
  return Response::json(200, {{"commit", commit}, {"path", path}, {"entries", entries}});
}

Result<Response> file_show(Repos& repos, const Settings& s, Context& ctx) {
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
    json j = {{"path", path},    {"commit", commit}, {"id", e->id},
              {"mode", e->mode}, {"size", e->size},  {"binary", binary}};
    j["encoding"] = binary ? "base64" : "utf-8";
    j["content"] = binary ? crypto::base64(data) : data;
    return Response::json(200, j).header("ETag", etag);
  }
  if (format && *format != "raw") return invalid("format must be raw or json");
  return Response::text(200, std::move(data), binary ? "application/octet-stream" : "text/plain; charset=utf-8")
      .header("ETag", etag)
      .header("X-Git-Commit", commit)
      .header("X-Content-Type-Options", "nosniff");
}

Result<Response> compare_show(Repos& repos, const Settings& s, Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"code", "read"}));
  if (!ctx.req.query_param("from")) return invalid("from is required");
  auto from = TRY(commit_of(ctx, repos, p, "from"));
  auto to = TRY(commit_of(ctx, repos, p, "to"));
  return Response::json(200, TRY(repos.diff(p.id, from, to, s.max_patch_bytes)));
}

Result<Response> file_put(Repos& repos, Context& ctx) {
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
      return fail(
          Error(ErrorCode::kInvalidArgument, "invalid-field", "content is not valid base64").with("field", "content"));
    content = std::move(*raw);
  }
  auto message = TRY(b.opt_str("message", 4096));
  auto path = ctx.param("path");
  std::string msg = message && !message->empty() ? *message : "Update " + path;
  auto from = TRY(b.opt_str("from"));
  return edit_file(ctx, repos, branch, std::move(content), msg, from);
}

Result<Response> file_put_head(Context& ctx) {
  TRY(load_project(ctx, ctx.t(), {"code", "write"}));
  return Response{};
}

Result<Response> file_delete(Repos& repos, Context& ctx) {
  TRY(ctx.db().read([&](db::Tx& tx) { return load_project(ctx, tx, {"code", "write"}); }));
  auto raw = ctx.req.query_param("branch");
  if (!raw) return invalid("branch is required");
  auto branch = TRY(branch_param(*raw, "branch"));
  auto message = ctx.req.query_param("message");
  std::string msg = message && !message->empty() ? std::string(*message) : "Delete " + ctx.param("path");
  if (msg.size() > 4096 || !is_valid_utf8(msg)) return invalid("message is too long or not UTF-8");
  return edit_file(ctx, repos, branch, std::nullopt, msg, std::nullopt);
}

Result<Response> protected_list(Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"code", "read"}));
  json items = json::array();
  for (auto& b : TRY(list_protected_branches(ctx.t(), p.id)))
    items.push_back({{"pattern", b.pattern}, {"created_by", b.created_by}, {"created", format_rfc3339(b.created)}});
  return Response::json(200, http::page_json(items, std::nullopt));
}

Result<Response> protected_add(Context& ctx) {
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
  if (!TRY(protect_branches(ctx.t(), p.id, {pattern, ctx.who().user_id, ctx.now()})))
    return fail(Error(ErrorCode::kAlreadyExists, "already-protected", "'" + pattern + "' is already protected")
                    .with("pattern", pattern));
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(), {p.org_id, "repo.protect", "project", p.id, {{"pattern", pattern}}},
                           ctx.now()));
  return Response::json(
      201, {{"pattern", pattern}, {"created_by", ctx.who().user_id}, {"created", format_rfc3339(ctx.now())}});
}

Result<Response> protected_remove(Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"code", "admin"}));
  if (!TRY(unprotect_branches(ctx.t(), p.id, ctx.param("pattern"))))
    return not_found("protected branch pattern '" + ctx.param("pattern") + "'");
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(),
                           {p.org_id, "repo.unprotect", "project", p.id, {{"pattern", ctx.param("pattern")}}},
                           ctx.now()));
  return Response::no_content();
}

void add_protected_branch_routes(http::Api& api) {
  const json kObj = http::object_schema();
  const json kList = http::list_schema();
  api.add({"GET", "/api/v1/projects/{id}/repo/protected-branches", Access::require("code", "read"),
           {"Branch patterns that cannot be deleted or force-pushed", "code", nullptr, kList},
           protected_list});
  api.add({"POST", "/api/v1/projects/{id}/repo/protected-branches", Access::require("code", "admin"),
           {"Protect branches matching a pattern (a name, or a glob such as release/*) from deletion and force-push",
            "code",
            json{{"type", "object"}, {"required", {"pattern"}}, {"properties", {{"pattern", {{"type", "string"}}}}}},
            kObj, 201},
           protected_add});
  api.add({"DELETE", "/api/v1/projects/{id}/repo/protected-branches/{pattern*}", Access::require("code", "admin"),
           {"Stop protecting a branch pattern", "code", nullptr, nullptr, 204},
           protected_remove});
}

}  // namespace

void add_routes(http::Api& api, Repos& repos, async::Runtime& rt, Settings s) {
  const json kObj = http::object_schema();
  const json kList = http::list_schema();
  detail::add_smart_http_routes(api, repos, rt);

  // ---- the repository API
  api.add({"GET", "/api/v1/projects/{id}/repo", Access::require("code", "read"),
           {"The project's git repository: clone URL, default branch, head", "code", nullptr, kObj},
           std::bind_front(repo_show, std::ref(repos))});

  api.add({"GET", "/api/v1/projects/{id}/repo/branches", Access::require("code", "read"),
           {"Branches in name order, with their head commit and whether they are protected",
            "code",
            nullptr,
            kList,
            200,
            {"limit", "after"}},
           std::bind_front(refs_list, std::ref(repos), "heads")});
  api.add({"GET", "/api/v1/projects/{id}/repo/tags", Access::require("code", "read"),
           {"Tags in name order, with the commit each names", "code", nullptr, kList, 200, {"limit", "after"}},
           std::bind_front(refs_list, std::ref(repos), "tags")});

  api.add({"GET", "/api/v1/projects/{id}/repo/commits", Access::require("code", "read"),
           {"Commits reachable from a ref (default: the default branch), newest first; path= keeps those touching it",
            "code",
            nullptr,
            kList,
            200,
            {"ref", "path", "limit", "after"}},
           std::bind_front(commits_list, std::ref(repos))});

  api.add({"GET", "/api/v1/projects/{id}/repo/commits/{ref}", Access::require("code", "read"),
           {"One commit (by id, branch or tag)", "code", nullptr, kObj},
           std::bind_front(commit_show, std::ref(repos))});
  api.add({"GET", "/api/v1/projects/{id}/repo/commits/{ref}/diff", Access::require("code", "read"),
           {"One commit's changes against its first parent (a root commit: against nothing), as /compare answers",
            "code", nullptr, kObj},
           std::bind_front(commit_diff, std::ref(repos), s)});

  api.add(
      {"GET",
       "/api/v1/projects/{id}/repo/tree",
       Access::require("code", "read"),
       {"The entries of a directory (path=, default the root) at a ref", "code", nullptr, kObj, 200, {"ref", "path"}},
       std::bind_front(tree_show, std::ref(repos))});

  api.add({"GET", "/api/v1/projects/{id}/repo/files/{path*}", Access::require("code", "read"),
           {"A file's content at a ref: raw, or with format=json its text (or base64 when binary)",
            "code",
            nullptr,
            nullptr,
            200,
            {"ref", "format"}},
           std::bind_front(file_show, std::ref(repos), s)});

  api.add({"GET", "/api/v1/projects/{id}/repo/compare", Access::require("code", "read"),
           {"The changes from one ref to another: files (status, lines added and removed) and a unified patch",
            "code",
            nullptr,
            kObj,
            200,
            {"from", "to"}},
           std::bind_front(compare_show, std::ref(repos), s)});

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
           std::bind_front(file_put, std::ref(repos)),
           http::TxMode::kNone,
           false,
           // The body is read only for a caller who may write the project's code.
           file_put_head});

  api.add({"DELETE", "/api/v1/projects/{id}/repo/files/{path*}", Access::require("code", "write"),
           {"Delete a file as a commit on a branch (branch=, message=); If-Match: the branch's head commit",
            "code",
            nullptr,
            kObj,
            200,
            {"branch", "message"}},
           std::bind_front(file_delete, std::ref(repos)),
           http::TxMode::kNone});
  add_protected_branch_routes(api);
}

}  // namespace atrium::vcs
