// repo: a project's git repository. clone (git with the stored login as its credential helper),
// credential (that helper), info, branches, tags, log, tree, cat, diff, put, rm, protect,
// unprotect.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/table.hpp"
#include "core/crypto.hpp"
#include "core/text.hpp"

namespace atrium::cli {

using nlohmann::json;

namespace {

std::string repo_path(const std::string& project, const std::string& tail) {
  return api_path({"projects", project, "repo"}) + tail;
}

std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("atrium");
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The branch's head, for If-Match; nullopt when the branch does not exist.
Result<std::optional<std::string>> branch_head(ApiClient& api, const std::string& project, const std::string& branch) {
  ApiCall c{"GET", repo_path(project, "/commits/" + percent_encode(branch)), {}, std::nullopt, std::nullopt};
  auto r = api.send(c);
  if (!r && r.error().code == ErrorCode::kNotFound) return std::optional<std::string>{};
  auto reply = TRY(std::move(r));
  return std::optional<std::string>(reply.body.value("id", ""));
}

struct RefArgs {
  std::string project, ref;
};

}  // namespace

namespace {

void add_repo_clone(CLI::App* repo, const Ctx& ctx) {
  struct Args {
    std::string project, dir;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = repo->add_subcommand("clone", "git clone a project, with this login as git's credential helper");
  cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
  cmd->add_option("DIR", a->dir, "Directory (default: the project's slug)");
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    a->project = TRY(api.resolve_project(a->project));
    auto info = TRY(api.get(repo_path(a->project, "")));
    auto t = TRY(ctx->target(true));
    std::string url = t.url.to_string() + info.body.value("clone_path", "");
    std::string helper = "!" + shell_quote(self_exe()) + " repo credential";
    std::vector<std::string> args = {"git",   "-c", "credential.helper=", "-c", "credential.helper=" + helper,
                                     "clone", url};
    if (!a->dir.empty()) args.push_back(a->dir);
    std::string dir = a->dir.empty()
                          ? info.body.value("clone_path", "").substr(info.body.value("clone_path", "").rfind('/') + 1)
                          : a->dir;
    if (dir.ends_with(".git") && a->dir.empty()) dir.resize(dir.size() - 4);
    // The token reaches git through the helper (stdout of a child), never argv or the URL.
    std::string cmdline;
    for (auto& s : args) cmdline += shell_quote(s) + " ";
    if (!t.token_from_store)
      ::setenv("ATRIUM_TOKEN", t.token.c_str(), 1), ::setenv("ATRIUM_SERVER_URL", t.url.to_string().c_str(), 1);
    int rc = std::system(cmdline.c_str());
    if (rc != 0) return fail(ErrorCode::kUnavailable, "git", "git clone failed");
    std::string cfg = "git -C " + shell_quote(dir) + " config credential.helper " + shell_quote(helper);
    if (std::system(cfg.c_str()) != 0) return fail(ErrorCode::kUnavailable, "git", "git config failed");
    return {};
  });
}

void add_repo_credential(CLI::App* repo, const Ctx& ctx) {
  auto op = std::make_shared<std::string>();
  auto* cmd = repo->add_subcommand("credential", "git credential helper: answers `get` with this login's token");
  cmd->add_option("OPERATION", *op, "get, store or erase (from git)")->required();
  ctx->on_run(cmd, [ctx, op]() -> Status {
    std::map<std::string, std::string> in;
    std::string line;
    while (std::getline(std::cin, line) && !line.empty()) {
      auto eq = line.find('=');
      if (eq != std::string::npos) in[line.substr(0, eq)] = line.substr(eq + 1);
    }
    if (*op != "get") return {};
    auto t = ctx->target(true);
    if (!t) return {};  // no login: git asks elsewhere
    std::string want = t->url.tls ? "https" : "http";
    if (in["protocol"] != want || in["host"] != t->url.authority()) return {};
    ctx->out() << "username=atrium\npassword=" << t->token << "\n";
    return {};
  });
  ctx->add_globals(cmd, kServerOpt | kTokenOpt | kInsecureOpt);
}

void add_repo_info(CLI::App* repo, const Ctx& ctx) {
  auto project = std::make_shared<std::string>();
  auto* cmd = repo->add_subcommand("info", "Clone URL, default branch and head");
  cmd->add_option("--project", *project, "Project: ORG/PROJECT or its id (prj_...)")->required();
  ctx->on_api(cmd, [ctx, project](ApiClient& api) -> Status {
    *project = TRY(api.resolve_project(*project));
    ctx->show(TRY(api.get(repo_path(*project, ""))));
    return {};
  });
}

void add_repo_log(CLI::App* repo, const Ctx& ctx) {
  struct Args {
    std::string project, ref, path;
    PageArgs page;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = repo->add_subcommand("log", "Commits, newest first");
  cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
  cmd->add_option("--ref", a->ref, "Branch, tag or commit (default: the default branch)");
  cmd->add_option("--path", a->path, "Only commits touching this path");
  add_page_options(cmd, a->page);
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    a->project = TRY(api.resolve_project(a->project));
    ApiCall c{"GET", repo_path(a->project, "/commits"), {}, std::nullopt, std::nullopt};
    if (!a->ref.empty()) c.query.emplace_back("ref", a->ref);
    if (!a->path.empty()) c.query.emplace_back("path", a->path);
    return ctx->list(api, c, a->page, "commit");
  });
}

void add_repo_tree(CLI::App* repo, const Ctx& ctx) {
  auto a = std::make_shared<RefArgs>();
  auto path = std::make_shared<std::string>();
  auto* cmd = repo->add_subcommand("tree", "A directory's entries at a ref");
  cmd->add_option("PATH", *path, "Directory (default: the root)");
  cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
  cmd->add_option("--ref", a->ref, "Branch, tag or commit (default: the default branch)");
  ctx->on_api(cmd, [ctx, a, path](ApiClient& api) -> Status {
    a->project = TRY(api.resolve_project(a->project));
    ApiCall c{"GET", repo_path(a->project, "/tree"), {}, std::nullopt, std::nullopt};
    if (!a->ref.empty()) c.query.emplace_back("ref", a->ref);
    if (!path->empty()) c.query.emplace_back("path", *path);
    auto r = TRY(api.send(c));
    if (ctx->globals.json) {
      ctx->print_json(r.body);
      return {};
    }
    std::vector<json> rows;
    for (auto& e : r.body["entries"]) rows.push_back(e);
    ctx->out() << render_table(columns_for("tree-entry"), rows);
    return {};
  });
}

void add_repo_cat(CLI::App* repo, const Ctx& ctx) {
  auto a = std::make_shared<RefArgs>();
  auto path = std::make_shared<std::string>();
  auto* cmd = repo->add_subcommand("cat", "A file's content at a ref, to stdout");
  cmd->add_option("PATH", *path, "File in the repository")->required();
  cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
  cmd->add_option("--ref", a->ref, "Branch, tag or commit (default: the default branch)");
  ctx->on_api(cmd, [ctx, a, path](ApiClient& api) -> Status {
    a->project = TRY(api.resolve_project(a->project));
    ApiCall c{"GET", repo_path(a->project, "/files" + encode_path_segments(*path)), {}, std::nullopt, std::nullopt};
    if (!a->ref.empty()) c.query.emplace_back("ref", a->ref);
    auto r = TRY(api.send_raw(c));
    ctx->out() << r.body << std::flush;
    return {};
  });
}

void add_repo_diff(CLI::App* repo, const Ctx& ctx) {
  struct Args {
    std::string project, from, to;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = repo->add_subcommand("diff", "The changes between two refs (a unified patch; --json: files and stats)");
  cmd->add_option("FROM", a->from, "Branch, tag or commit")->required();
  cmd->add_option("TO", a->to, "Branch, tag or commit (default: the default branch)");
  cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    a->project = TRY(api.resolve_project(a->project));
    ApiCall c{"GET", repo_path(a->project, "/compare"), {{"from", a->from}}, std::nullopt, std::nullopt};
    if (!a->to.empty()) c.query.emplace_back("to", a->to);
    auto r = TRY(api.send(c));
    if (ctx->globals.json) {
      ctx->print_json(r.body);
      return {};
    }
    ctx->out() << r.body.value("patch", "");
    if (r.body.value("truncated", false)) ctx->err() << "(the patch is too large to show whole)\n";
    return {};
  });
}

void add_repo_put(CLI::App* repo, const Ctx& ctx) {
  struct Args {
    std::string project, path, branch = "main", file, message, if_match;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = repo->add_subcommand("put", "Commit a file's new content to a branch (from --file, or stdin)");
  cmd->add_option("PATH", a->path, "File in the repository")->required();
  cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
  cmd->add_option("--branch", a->branch, "Branch (default: main; made when missing)");
  cmd->add_option("-f,--file", a->file, "Local file with the content (default: stdin)");
  cmd->add_option("-m,--message", a->message, "Commit message");
  cmd->add_option("--if-match", a->if_match, "Commit only if the branch is still at this commit");
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    a->project = TRY(api.resolve_project(a->project));
    std::string content;
    if (a->file.empty() || a->file == "-") {
      content.assign(std::istreambuf_iterator<char>(std::cin), {});
    } else {
      std::ifstream in(a->file, std::ios::binary);
      if (!in) return invalid("cannot read " + a->file);
      content.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::string head = a->if_match;
    if (head.empty()) head = TRY(branch_head(api, a->project, a->branch)).value_or("");
    json body = {{"branch", a->branch}, {"content", content}};
    if (!is_valid_utf8(content))
      body = {{"branch", a->branch}, {"content", crypto::base64(content)}, {"encoding", "base64"}};
    if (!a->message.empty()) body["message"] = a->message;
    Headers h = {head.empty() ? std::pair<std::string, std::string>{"If-None-Match", "*"}
                              : std::pair<std::string, std::string>{"If-Match", "\"" + head + "\""}};
    auto r = TRY(
        api.send({"PUT", repo_path(a->project, "/files" + encode_path_segments(a->path)), {}, body, std::nullopt}, h));
    ctx->done(r, r.body.value("changed", true) ? "committed " + r.body.value("commit", "") : "no change");
    return {};
  });
}

void add_repo_rm(CLI::App* repo, const Ctx& ctx) {
  struct Args {
    std::string project, path, branch = "main", message;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = repo->add_subcommand("rm", "Commit a file's removal from a branch");
  cmd->add_option("PATH", a->path, "File in the repository")->required();
  cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
  cmd->add_option("--branch", a->branch, "Branch (default: main)");
  cmd->add_option("-m,--message", a->message, "Commit message");
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    a->project = TRY(api.resolve_project(a->project));
    auto head = TRY(branch_head(api, a->project, a->branch));
    if (!head) return fail(ErrorCode::kNotFound, "not-found", "no branch '" + a->branch + "'");
    ApiCall c{"DELETE",
              repo_path(a->project, "/files" + encode_path_segments(a->path)),
              {{"branch", a->branch}},
              std::nullopt,
              std::nullopt};
    if (!a->message.empty()) c.query.emplace_back("message", a->message);
    auto r = TRY(api.send(c, {{"If-Match", "\"" + *head + "\""}}));
    ctx->done(r, "committed " + r.body.value("commit", ""));
    return {};
  });
}

}  // namespace

void add_repo_commands(CLI::App& app, const Ctx& ctx) {
  auto* repo = app.add_subcommand("repo", "A project's git repository: clone, browse, edit, protect branches");
  repo->require_subcommand(1);
  add_repo_clone(repo, ctx);
  add_repo_credential(repo, ctx);
  add_repo_info(repo, ctx);
  for (auto [name, kind, help] : {std::tuple{"branches", "branch", "Branches, with head and protection"},
                                  std::tuple{"tags", "tag", "Tags and the commits they name"}}) {
    struct Args {
      std::string project;
      PageArgs page;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = repo->add_subcommand(name, help);
    cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
    add_page_options(cmd, a->page);
    ctx->on_api(cmd, [ctx, a, name = std::string(name), kind = std::string(kind)](ApiClient& api) -> Status {
      a->project = TRY(api.resolve_project(a->project));
      return ctx->list(api, {"GET", repo_path(a->project, "/" + name), {}, std::nullopt, std::nullopt}, a->page, kind);
    });
  }
  add_repo_log(repo, ctx);
  add_repo_tree(repo, ctx);
  add_repo_cat(repo, ctx);
  add_repo_diff(repo, ctx);
  add_repo_put(repo, ctx);
  add_repo_rm(repo, ctx);
  for (bool protect : {true, false}) {
    struct Args {
      std::string project, pattern;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = repo->add_subcommand(protect ? "protect" : "unprotect",
                                     protect ? "Protect branches (a name or a glob) from deletion and force-push"
                                             : "Stop protecting a branch pattern");
    cmd->add_option("PATTERN", a->pattern, "Branch name or glob, e.g. main or release/*")->required();
    cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
    ctx->on_api(cmd, [ctx, a, protect](ApiClient& api) -> Status {
      a->project = TRY(api.resolve_project(a->project));
      if (protect) {
        auto r = TRY(api.send(
            {"POST", repo_path(a->project, "/protected-branches"), {}, json{{"pattern", a->pattern}}, std::nullopt}));
        ctx->done(r, "protected " + a->pattern);
      } else {
        auto r = TRY(api.send({"DELETE",
                               repo_path(a->project, "/protected-branches" + encode_path_segments(a->pattern)),
                               {},
                               std::nullopt,
                               std::nullopt}));
        ctx->done(r, "unprotected " + a->pattern);
      }
      return {};
    });
  }
}

}  // namespace atrium::cli
