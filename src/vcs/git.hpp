// Git repositories: one bare repository per project, driven through git's own commands (plumbing
// for reads and API commits, `git http-backend` for the smart HTTP protocol). Running git itself
// keeps the wire protocol (v0 and v2, gzip, shallow and partial clones) exactly git's, and ref
// updates use git's own lock files, so an API commit and a push race fairly.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace atrium::vcs {

struct RunResult {
  int status = 0;  // exit status; 128 + signal when killed
  std::string out, err;
};

// Runs `argv` (argv[0] looked up in PATH) with exactly `env`, `input` on stdin, and collects its
// output: stdout up to `max_out` bytes (more is an error), stderr up to 64 KiB.
Result<RunResult> run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      std::string_view input = {}, std::size_t max_out = 64 << 20);

// A child whose stdout is read as it comes: the smart HTTP service streams a pack to the client.
class Child {
 public:
  Child() = default;
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();  // a child still running is killed and reaped

  // stdin from `stdin_fd` (-1: /dev/null); stdout a non-blocking pipe; stderr kept for wait().
  static Result<Child> spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                             int stdin_fd);
  int out_fd() const { return out_; }
  // Reads what stdout has now into `out` (up to `max`): false at its end.
  Result<bool> read(std::string& out, std::size_t max);
  // Reads stdout until `n` bytes or its end, blocking.
  Result<bool> read_blocking(std::string& out, std::size_t max);
  // Waits for the exit; returns the status and the head of stderr.
  RunResult wait();

 private:
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
};

struct Person {
  std::string name, email;
};

// A file change for an API commit: content (set) or removal (nullopt). `mode` "" takes the file's
// mode from the parent commit (kept executable, else 100644); a caller that has already looked the
// file up passes it.
struct FileChange {
  std::string path;
  std::optional<std::string> content;
  std::string mode;
};

class Repos {
 public:
  // `root` holds <project id>.git and the hooks; made if missing.
  explicit Repos(std::filesystem::path root);
  // Makes the directories, writes the hooks, finds git and clears what a crash left.
  Status init();

  const std::filesystem::path& root() const { return root_; }
  // git's CGI, run directly (not through the `git` wrapper, which would start it as a second process).
  const std::string& http_backend() const { return http_backend_; }
  std::filesystem::path path(const std::string& project_id) const;
  bool exists(const std::string& project_id) const;
  // Makes the bare repository if it is missing (atomically: made aside, then renamed).
  Result<std::filesystem::path> ensure(const std::string& project_id);

  // The environment every git process gets: no user or system config, Atrium's hooks and
  // settings through GIT_CONFIG_*, plus `extra`.
  std::vector<std::string> env(const std::vector<std::string>& extra = {}) const;
  Result<RunResult> git(const std::string& project_id, std::vector<std::string> args, std::string_view input = {},
                        const std::vector<std::string>& extra_env = {}, std::size_t max_out = 64 << 20) const;

  // A branch, tag or (abbreviated) commit id as a full commit id; nullopt when it names none.
  Result<std::optional<std::string>> resolve(const std::string& project_id, const std::string& ref) const;
  // The commit a branch points at; nullopt when there is no such branch.
  Result<std::optional<std::string>> branch_head(const std::string& project_id, const std::string& branch) const;
  // The branch HEAD names ("main" for a new repository).
  Result<std::string> default_branch(const std::string& project_id) const;
  // refs/heads or refs/tags: [{name, commit, time, subject}] in name order.
  Result<nlohmann::json> refs(const std::string& project_id, const std::string& kind) const;
  // Commits reachable from `commit` (newest first), optionally touching `path`.
  Result<std::vector<nlohmann::json>> log(const std::string& project_id, const std::string& commit,
                                          const std::string& path, int skip, int limit) const;
  struct Entry {
    std::string mode, type, id, path;
    std::int64_t size = -1;  // blobs only
  };
  // The entry at `path` in `commit` ("" = the root tree); nullopt when absent.
  Result<std::optional<Entry>> entry(const std::string& project_id, const std::string& commit,
                                     const std::string& path) const;
  // The entries of the tree at `path`.
  Result<std::vector<Entry>> tree(const std::string& project_id, const std::string& commit,
                                  const std::string& path) const;
  Result<std::string> blob(const std::string& project_id, const std::string& id, std::size_t max) const;
  // Changed files (status, paths, lines) and the unified patch, cut at `max_patch` bytes.
  Result<nlohmann::json> diff(const std::string& project_id, const std::string& from, const std::string& to,
                              std::size_t max_patch) const;
  // A commit of `changes` on top of `parent` (nullopt: a root commit), then the branch moved from
  // `parent` to it only if it still points there (`new_branch`: only if it does not exist yet).
  // Returns the new commit; nullopt when the tree would not change. kPreconditionFailed when the
  // branch moved (or appeared) meanwhile.
  Result<std::optional<std::string>> commit(const std::string& project_id, const std::string& branch,
                                            const std::optional<std::string>& parent,
                                            const std::vector<FileChange>& changes, const Person& author,
                                            const std::string& message, Millis when, bool new_branch = false) const;
  // Writes the tree of `commit` into `dir`, then hands it and everything in it to `uid` (through
  // directory fds, links never followed). `dir` must exist, be empty and be enterable by root
  // only (no tenant may write into it while git does).
  Status export_tree(const std::string& project_id, const std::string& commit, const std::filesystem::path& dir,
                     std::int64_t uid) const;

 private:
  std::filesystem::path root_;
  // Found once in the children's PATH (not the server's): the same git whatever the server's
  // environment.
  std::string git_ = "git";
  std::string http_backend_;
};

// The mode an edited file gets: executable stays executable, anything else becomes a regular file.
std::string edited_mode(const std::optional<Repos::Entry>& before);

// Git ref name rules (git check-ref-format) for a branch or tag name, without running git.
bool valid_ref_name(std::string_view name);
// A path inside a repository for the API: relative, no empty, "." or ".." segments, no ".git"
// segment, no control characters, at most 4096 bytes.
Result<std::string> repo_path(std::string_view raw, const char* field);
// A full (40 hex) commit id.
bool is_commit_id(std::string_view s);
// Whether `text` looks binary (git's rule: a NUL in the first 8000 bytes).
bool looks_binary(std::string_view text);
// Whether a branch name matches a protection pattern (fnmatch without FNM_PATHNAME, as the update
// hook's shell `case` does: '*' also matches '/').
bool pattern_matches(const std::string& pattern, const std::string& branch);

}  // namespace atrium::vcs
