#include "vcs/git.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>

#include "core/crypto.hpp"
#include "core/dir.hpp"
#include "core/files.hpp"
#include "core/text.hpp"

namespace atrium::vcs {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kZero(40, '0');

std::unexpected<Error> sys_error(const std::string& what) {
  return fail(ErrorCode::kInternal, "git", what + ": " + std::strerror(errno));
}

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return s.substr(0, nl);
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto p = s.find(sep, start);
    if (p == std::string_view::npos) p = s.size();
    out.emplace_back(s.substr(start, p - start));
    start = p + 1;
  }
  return out;
}

std::unexpected<Error> git_failed(const std::string& what, const RunResult& r) {
  return fail(ErrorCode::kInternal, "git", what + " failed (" + std::to_string(r.status) + "): " + first_line(r.err));
}

std::int64_t to_i64(std::string_view s) {
  std::int64_t v = -1;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

// ------------------------------------------------------------------------------ names and paths

bool valid_ref_name(std::string_view n) {
  if (n.empty() || n.size() > 255 || n.front() == '/' || n.back() == '/' || n.back() == '.' || n == "@" ||
      n.front() == '-')
    return false;
  if (n.find("..") != std::string_view::npos || n.find("@{") != std::string_view::npos ||
      n.find("//") != std::string_view::npos)
    return false;
  for (unsigned char c : n)
    if (c < 0x20 || c == 0x7f || c == ' ' || c == '~' || c == '^' || c == ':' || c == '?' || c == '*' || c == '[' ||
        c == '\\')
      return false;
  for (auto& part : split(n, '/'))
    if (part.empty() || part.front() == '.' || part.ends_with(".lock")) return false;
  return is_valid_utf8(n);
}

Result<std::string> repo_path(std::string_view raw, const char* field) {
  auto bad = [&](const std::string& why) {
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-path", std::string(field) + ": " + why).with("field", field));
  };
  std::string p(raw);
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p.size() > 4096) return bad("longer than 4096 bytes");
  if (!is_valid_utf8(p)) return bad("not valid UTF-8");
  if (p.empty()) return p;
  if (p.front() == '/') return bad("must be relative");
  for (unsigned char c : p)
    if (c < 0x20 || c == 0x7f) return bad("contains a control character");
  for (auto& seg : split(p, '/')) {
    if (seg.empty() || seg == "." || seg == "..") return bad("has an empty, '.' or '..' segment");
    if (to_lower(seg) == ".git") return bad("names a .git directory");
  }
  return p;
}

std::string edited_mode(const std::optional<Repos::Entry>& before) {
  return before && before->mode == "100755" ? "100755" : "100644";
}

bool is_commit_id(std::string_view s) {
  if (s.size() != 40) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool looks_binary(std::string_view text) { return text.substr(0, 8000).find('\0') != std::string_view::npos; }

bool pattern_matches(const std::string& pattern, const std::string& branch) {
  return ::fnmatch(pattern.c_str(), branch.c_str(), 0) == 0;  // as the hook's shell `case` matches
}

// ------------------------------------------------------------------------------ repositories

namespace {

// Refuses deleting or rewriting a protected branch: one ref at a time (git's `update` hook), so
// the other refs of a push still land. ATRIUM_PROTECTED holds the patterns, one per line.
constexpr const char* kUpdateHook = R"SH(#!/bin/sh
# Installed by Atrium: protected branches cannot be deleted or force-pushed.
ref=$1 old=$2 new=$3
[ -n "$ATRIUM_PROTECTED" ] || exit 0
case "$ref" in refs/heads/*) ;; *) exit 0 ;; esac
branch=${ref#refs/heads/}
set -f
IFS='
'
hit=
for pat in $ATRIUM_PROTECTED; do
  case "$branch" in $pat) hit=1 ;; esac
done
[ -n "$hit" ] || exit 0
case "$new" in *[!0]*) ;; *)
  echo "atrium: branch '$branch' is protected: it cannot be deleted" >&2; exit 1 ;;
esac
case "$old" in *[!0]*) ;; *) exit 0 ;; esac
if ! git merge-base --is-ancestor "$old" "$new"; then
  echo "atrium: branch '$branch' is protected: force-push refused (not a fast-forward)" >&2; exit 1
fi
exit 0
)SH";

// Appends what a push changed ("old new ref" lines) to ATRIUM_PUSH_LOG for the audit trail.
constexpr const char* kPostReceiveHook = R"SH(#!/bin/sh
# Installed by Atrium: records the refs a push changed, for the audit trail.
if [ -n "$ATRIUM_PUSH_LOG" ]; then cat >> "$ATRIUM_PUSH_LOG"; else cat > /dev/null; fi
)SH";

}  // namespace

Repos::Repos(fs::path root) : root_(std::move(root)) {}

Status Repos::init() {
  std::error_code ec;
  fs::create_directories(root_ / "hooks", ec);
  fs::create_directories(root_ / "tmp", ec);
  if (ec) return fail(ErrorCode::kInternal, "git", "cannot create " + root_.string() + ": " + ec.message());
  ::chmod(root_.c_str(), 0700);
  // Left by a crash: spooled push bodies, push logs, temporary indexes, half-made repositories.
  // Nothing is in flight before the server listens.
  for (auto& e : fs::directory_iterator(root_ / "tmp", ec)) fs::remove_all(e.path(), ec);
  TRY_STATUS(write_file_atomic((root_ / "hooks" / "update").string(), kUpdateHook, 0755));
  TRY_STATUS(write_file_atomic((root_ / "hooks" / "post-receive").string(), kPostReceiveHook, 0755));
  git_.clear();
  for (const char* dir : {"/usr/local/bin", "/usr/bin", "/bin"})
    if (std::string p = std::string(dir) + "/git"; git_.empty() && ::access(p.c_str(), X_OK) == 0) git_ = p;
  if (git_.empty()) return fail(ErrorCode::kUnavailable, "git", "git is not installed (looked in /usr/local/bin, /usr/bin, /bin)");
  auto v = TRY(run({git_, "--exec-path"}, env()));
  if (v.status != 0) return git_failed("git --exec-path", v);
  http_backend_ = first_line(v.out) + "/git-http-backend";
  if (::access(http_backend_.c_str(), X_OK) != 0)
    return fail(ErrorCode::kUnavailable, "git", "git's http-backend is missing: " + http_backend_);
  return {};
}

fs::path Repos::path(const std::string& project_id) const { return root_ / (project_id + ".git"); }

bool Repos::exists(const std::string& project_id) const {
  std::error_code ec;
  return fs::exists(path(project_id) / "HEAD", ec);
}

Result<fs::path> Repos::ensure(const std::string& project_id) {
  auto dst = path(project_id);
  if (exists(project_id)) return dst;
  auto tmp = root_ / "tmp" / ("init-" + project_id + "-" + crypto::hex(crypto::random_bytes(6)));
  auto r = TRY(run({git_, "init", "--bare", "--quiet", "--initial-branch=main", tmp.string()}, env()));
  if (r.status != 0) return git_failed("git init", r);
  if (::rename(tmp.c_str(), dst.c_str()) != 0) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    if (!exists(project_id)) return sys_error("cannot create the repository");  // else: made meanwhile
  }
  TRY_STATUS(fsync_dir(root_));
  return dst;
}

std::vector<std::string> Repos::env(const std::vector<std::string>& extra) const {
  std::vector<std::string> e = {
      "PATH=/usr/local/bin:/usr/bin:/bin",
      "HOME=" + root_.string(),
      "LC_ALL=C",
      "GIT_CONFIG_NOSYSTEM=1",
      "GIT_CONFIG_GLOBAL=/dev/null",
      "GIT_TERMINAL_PROMPT=0",
      "GIT_CONFIG_COUNT=7",
      "GIT_CONFIG_KEY_0=core.hooksPath",
      "GIT_CONFIG_VALUE_0=" + (root_ / "hooks").string(),
      "GIT_CONFIG_KEY_1=http.receivepack",
      "GIT_CONFIG_VALUE_1=true",
      "GIT_CONFIG_KEY_2=receive.fsckObjects",
      "GIT_CONFIG_VALUE_2=true",
      "GIT_CONFIG_KEY_3=uploadpack.allowFilter",
      "GIT_CONFIG_VALUE_3=true",
      "GIT_CONFIG_KEY_4=core.logAllRefUpdates",
      "GIT_CONFIG_VALUE_4=true",
      "GIT_CONFIG_KEY_5=safe.directory",
      "GIT_CONFIG_VALUE_5=*",
      // An acknowledged push or API commit is on disk: objects (loose ones too) and refs fsynced.
      "GIT_CONFIG_KEY_6=core.fsync",
      "GIT_CONFIG_VALUE_6=committed",
  };
  e.insert(e.end(), extra.begin(), extra.end());
  return e;
}

Result<RunResult> Repos::git(const std::string& project_id, std::vector<std::string> args, std::string_view input,
                             const std::vector<std::string>& extra_env, std::size_t max_out) const {
  args.insert(args.begin(), {git_, "--git-dir=" + path(project_id).string()});
  return run(args, env(extra_env), input, max_out);
}

Result<std::optional<std::string>> Repos::resolve(const std::string& project_id, const std::string& ref) const {
  if (!exists(project_id)) return std::optional<std::string>{};
  if (ref.empty() || ref.front() == '-' || ref.size() > 255) return std::optional<std::string>{};
  for (unsigned char c : ref)
    if (c < 0x20 || c == 0x7f || c == ':' || c == '^' || c == '~' || c == '@') return std::optional<std::string>{};
  // A branch first, then a tag, then a commit id: never other revision syntax.
  std::vector<std::string> candidates = {"refs/heads/" + ref, "refs/tags/" + ref};
  bool hexish = ref.size() >= 4 && ref.size() <= 40 &&
                ref.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (hexish) candidates.push_back(ref);
  for (auto& c : candidates) {
    auto r = TRY(git(project_id, {"rev-parse", "--verify", "--quiet", "--end-of-options", c + "^{commit}"}));
    if (r.status == 0) return std::optional<std::string>(r.out.substr(0, 40));
  }
  return std::optional<std::string>{};
}

Result<std::optional<std::string>> Repos::branch_head(const std::string& project_id, const std::string& branch) const {
  if (!exists(project_id) || !valid_ref_name(branch)) return std::optional<std::string>{};
  auto r = TRY(git(project_id, {"rev-parse", "--verify", "--quiet", "--end-of-options", "refs/heads/" + branch + "^{commit}"}));
  if (r.status != 0) return std::optional<std::string>{};
  return std::optional<std::string>(r.out.substr(0, 40));
}

Result<std::string> Repos::default_branch(const std::string& project_id) const {
  if (!exists(project_id)) return std::string("main");
  auto r = TRY(git(project_id, {"symbolic-ref", "--short", "HEAD"}));
  if (r.status != 0) return std::string("main");
  return first_line(r.out);
}

Result<json> Repos::refs(const std::string& project_id, const std::string& kind) const {
  json items = json::array();
  if (!exists(project_id)) return items;
  auto r = TRY(git(project_id, {"for-each-ref", "--sort=refname",
                                "--format=%(refname:lstrip=2)%00%(objectname)%00%(*objectname)%00%(committerdate:unix)"
                                "%00%(*committerdate:unix)%00%(contents:subject)%00%(*contents:subject)",
                                "refs/" + kind + "/"}));
  if (r.status != 0) return git_failed("git for-each-ref", r);
  for (auto& line : split(r.out, '\n')) {
    if (line.empty()) continue;
    auto f = split(line, '\0');
    if (f.size() < 7) continue;
    bool annotated = !f[2].empty();
    json item = {{"name", f[0]},
                 {"commit", annotated ? f[2] : f[1]},
                 {"time", to_i64(annotated ? f[4] : f[3])},
                 {"subject", annotated ? f[6] : f[5]}};
    if (annotated) item["tag_object"] = f[1], item["message"] = f[5];
    items.push_back(std::move(item));
  }
  return items;
}

Result<std::vector<json>> Repos::log(const std::string& project_id, const std::string& commit, const std::string& path,
                                     int skip, int limit) const {
  std::vector<std::string> args = {"log", "--format=%H%x00%P%x00%an%x00%ae%x00%at%x00%cn%x00%ce%x00%ct%x00%B%x1e",
                                   "--skip=" + std::to_string(skip), "-n", std::to_string(limit), commit, "--"};
  if (!path.empty()) args.push_back(path);
  auto r = TRY(git(project_id, args));
  if (r.status != 0) return git_failed("git log", r);
  std::vector<json> out;
  for (auto& rec : split(r.out, '\x1e')) {
    std::string_view s = rec;
    while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
    if (s.empty()) continue;
    auto f = split(s, '\0');
    if (f.size() < 9) continue;
    std::string message = f[8];
    while (!message.empty() && message.back() == '\n') message.pop_back();
    json parents = json::array();
    for (auto& p : split(f[1], ' '))
      if (!p.empty()) parents.push_back(p);
    out.push_back({{"id", f[0]},
                   {"parents", parents},
                   {"author", {{"name", f[2]}, {"email", f[3]}, {"time", to_i64(f[4])}}},
                   {"committer", {{"name", f[5]}, {"email", f[6]}, {"time", to_i64(f[7])}}},
                   {"subject", first_line(message)},
                   {"message", message}});
  }
  return out;
}

namespace {

// One `git ls-tree -l -z` record: "<mode> <type> <id> <size>\t<path>".
std::optional<Repos::Entry> parse_entry(std::string_view rec) {
  auto tab = rec.find('\t');
  if (tab == std::string_view::npos) return std::nullopt;
  auto f = split(rec.substr(0, tab), ' ');
  std::vector<std::string> parts;
  for (auto& x : f)
    if (!x.empty()) parts.push_back(x);
  if (parts.size() < 4) return std::nullopt;
  Repos::Entry e{parts[0], parts[1], parts[2], std::string(rec.substr(tab + 1))};
  if (parts[3] != "-") e.size = to_i64(parts[3]);
  return e;
}

}  // namespace

Result<std::optional<Repos::Entry>> Repos::entry(const std::string& project_id, const std::string& commit,
                                                 const std::string& path) const {
  if (path.empty()) {
    auto r = TRY(git(project_id, {"rev-parse", "--verify", "--quiet", commit + "^{tree}"}));
    if (r.status != 0) return std::optional<Entry>{};
    return std::optional<Entry>(Entry{"040000", "tree", r.out.substr(0, 40), "", -1});
  }
  auto r = TRY(git(project_id, {"ls-tree", "-l", "-z", "--full-tree", commit, "--", path}));
  if (r.status != 0) return git_failed("git ls-tree", r);
  for (auto& rec : split(r.out, '\0')) {
    auto e = parse_entry(rec);
    if (e && e->path == path) return e;
  }
  return std::optional<Entry>{};
}

Result<std::vector<Repos::Entry>> Repos::tree(const std::string& project_id, const std::string& commit,
                                              const std::string& path) const {
  std::vector<std::string> args = {"ls-tree", "-l", "-z", "--full-tree", commit};
  if (!path.empty()) args.insert(args.end(), {"--", path + "/"});
  auto r = TRY(git(project_id, args));
  if (r.status != 0) return git_failed("git ls-tree", r);
  std::vector<Entry> out;
  for (auto& rec : split(r.out, '\0'))
    if (auto e = parse_entry(rec)) out.push_back(std::move(*e));
  return out;
}

Result<std::string> Repos::blob(const std::string& project_id, const std::string& id, std::size_t max) const {
  auto r = TRY(git(project_id, {"cat-file", "blob", id}, {}, {}, max));
  if (r.status != 0) return git_failed("git cat-file", r);
  return std::move(r.out);
}

Result<json> Repos::diff(const std::string& project_id, const std::string& from, const std::string& to,
                         std::size_t max_patch) const {
  auto names = TRY(git(project_id, {"diff", "--no-ext-diff", "--name-status", "-z", "-M", from, to, "--"}));
  if (names.status != 0) return git_failed("git diff", names);
  auto stats = TRY(git(project_id, {"diff", "--no-ext-diff", "--numstat", "-z", "-M", from, to, "--"}));
  if (stats.status != 0) return git_failed("git diff", stats);
  json files = json::array();
  auto f = split(names.out, '\0');
  for (std::size_t i = 0; i + 1 < f.size();) {
    const std::string& st = f[i];
    if (st.empty()) break;
    json item = {{"status", std::string(1, st[0])}};
    if ((st[0] == 'R' || st[0] == 'C') && i + 2 < f.size()) {
      item["old_path"] = f[i + 1];
      item["path"] = f[i + 2];
      i += 3;
    } else {
      item["path"] = f[i + 1];
      i += 2;
    }
    static const std::map<char, std::string> kStatus = {{'A', "added"},   {'D', "deleted"}, {'M', "modified"},
                                                        {'R', "renamed"}, {'C', "copied"},  {'T', "type-changed"}};
    auto it = kStatus.find(st[0]);
    item["status"] = it == kStatus.end() ? std::string(1, st[0]) : it->second;
    item["additions"] = 0;
    item["deletions"] = 0;
    item["binary"] = false;
    files.push_back(std::move(item));
  }
  // --numstat -z: "add\tdel\tpath\0" or, for renames, "add\tdel\t\0old\0new\0".
  auto s = split(stats.out, '\0');
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto parts = split(s[i], '\t');
    if (parts.size() < 3) continue;
    std::string path = parts[2];
    if (path.empty() && i + 2 < s.size()) {
      path = s[i + 2];
      i += 2;
    }
    for (auto& item : files)
      if (item["path"] == path) {
        item["binary"] = parts[0] == "-";
        item["additions"] = parts[0] == "-" ? 0 : to_i64(parts[0]);
        item["deletions"] = parts[1] == "-" ? 0 : to_i64(parts[1]);
      }
  }
  auto patch = git(project_id, {"diff", "--no-ext-diff", "-M", "--no-color", from, to, "--"}, {}, {}, max_patch);
  bool truncated = false;
  std::string text;
  if (!patch && patch.error().code == ErrorCode::kPayloadTooLarge) {
    truncated = true;
  } else {
    auto p = TRY(std::move(patch));
    if (p.status != 0) return git_failed("git diff", p);
    text = std::move(p.out);
  }
  if (!is_valid_utf8(text)) {
    truncated = true;  // a patch of non-UTF-8 text is not JSON: the file list still says what changed
    text.clear();
  }
  return json{{"from", from}, {"to", to}, {"files", files}, {"patch", text}, {"truncated", truncated}};
}

Result<std::optional<std::string>> Repos::commit(const std::string& project_id, const std::string& branch,
                                                 const std::optional<std::string>& parent,
                                                 const std::vector<FileChange>& changes, const Person& author,
                                                 const std::string& message, Millis when, bool new_branch) const {
  auto index = root_ / "tmp" / ("index-" + crypto::hex(crypto::random_bytes(8)));
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove(p, ec);
      fs::remove(p.string() + ".lock", ec);
    }
  } cleanup{index};
  std::vector<std::string> ienv = {"GIT_INDEX_FILE=" + index.string()};
  std::string parent_tree;
  if (parent) {
    auto r = TRY(git(project_id, {"read-tree", *parent}, {}, ienv));
    if (r.status != 0) return git_failed("git read-tree", r);
    parent_tree = TRY(entry(project_id, *parent, ""))->id;
  }
  for (auto& c : changes) {
    if (!c.content) {
      // Mode 0 removes the entry (--force-remove would need a work tree).
      auto r = TRY(git(project_id, {"update-index", "--index-info"}, "0 " + kZero + "\t" + c.path + "\n", ienv));
      if (r.status != 0) return git_failed("git update-index", r);
      continue;
    }
    auto h = TRY(git(project_id, {"hash-object", "-w", "--stdin"}, *c.content));
    if (h.status != 0) return git_failed("git hash-object", h);
    std::string mode = c.mode;
    if (mode.empty()) mode = edited_mode(parent ? TRY(entry(project_id, *parent, c.path)) : std::nullopt);
    auto r = TRY(git(project_id, {"update-index", "--add", "--cacheinfo", mode + "," + h.out.substr(0, 40) + "," + c.path},
                     {}, ienv));
    if (r.status != 0)
      return fail(Error(ErrorCode::kAlreadyExists, "path-conflict",
                        "'" + c.path + "' conflicts with a file or directory in the branch: " + first_line(r.err))
                      .with("path", c.path));
  }
  auto t = TRY(git(project_id, {"write-tree"}, {}, ienv));
  if (t.status != 0) return git_failed("git write-tree", t);
  std::string tree = t.out.substr(0, 40);
  auto move_branch = [&](const std::string& to) -> Status {
    auto u = TRY(git(project_id, {"update-ref", "-m", "atrium: " + first_line(message), "refs/heads/" + branch, to,
                                  parent && !new_branch ? *parent : kZero}));
    if (u.status != 0)
      return fail(Error(ErrorCode::kPreconditionFailed, "branch-moved",
                        "branch '" + branch + "' moved meanwhile; fetch its head and retry")
                      .with("branch", branch));
    return {};
  };
  if (tree == parent_tree) {  // nothing changes; a new branch still starts at the parent
    if (new_branch) TRY_STATUS(move_branch(*parent));
    return std::optional<std::string>{};
  }
  std::string date = "@" + std::to_string(when / 1000) + " +0000";
  std::vector<std::string> cenv = {"GIT_AUTHOR_NAME=" + author.name,       "GIT_AUTHOR_EMAIL=" + author.email,
                                   "GIT_AUTHOR_DATE=" + date,              "GIT_COMMITTER_NAME=" + author.name,
                                   "GIT_COMMITTER_EMAIL=" + author.email,  "GIT_COMMITTER_DATE=" + date};
  std::vector<std::string> args = {"commit-tree", tree};
  if (parent) args.insert(args.end(), {"-p", *parent});
  auto c = TRY(git(project_id, args, message, cenv));
  if (c.status != 0) return git_failed("git commit-tree", c);
  std::string id = c.out.substr(0, 40);
  TRY_STATUS(move_branch(id));
  return std::optional<std::string>(id);
}

Status Repos::export_tree(const std::string& project_id, const std::string& commit, const fs::path& dir,
                          std::int64_t uid) const {
  // `dir` is new and only root may enter it (the caller made it so), so nothing but git writes
  // there meanwhile; handing it over then goes through directory fds and never follows a link.
  Dir d = TRY(Dir::open(dir));
  auto index = root_ / "tmp" / ("export-" + crypto::hex(crypto::random_bytes(8)));
  std::vector<std::string> ienv = {"GIT_INDEX_FILE=" + index.string(), "GIT_WORK_TREE=" + dir.string()};
  auto r = TRY(git(project_id, {"read-tree", commit}, {}, ienv));
  if (r.status == 0) r = TRY(git(project_id, {"checkout-index", "--all", "--force"}, {}, ienv));
  std::error_code ec;
  fs::remove(index, ec);
  if (r.status != 0) return git_failed("checking out " + commit, r);
  return d.chown_tree(Owner{static_cast<std::uint32_t>(uid), static_cast<std::uint32_t>(uid)});
}

}  // namespace atrium::vcs
