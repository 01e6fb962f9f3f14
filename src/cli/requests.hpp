// Pure mapping from CLI arguments to API calls (method, path, query, body), kept free of I/O so
// every command's request shape is unit-tested. Ids passed in here are already resolved.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/text.hpp"

namespace atrium::cli {

using Query = std::vector<std::pair<std::string, std::string>>;

struct ApiCall {
  std::string method = "GET";
  std::string path;  // /api/v1/..., segments already percent-encoded
  Query query;
  std::optional<nlohmann::json> body;
  std::optional<std::string> raw_body;  // bytes sent as application/offset+octet-stream (upload chunks)

  std::string target() const;  // path?query
};

using atrium::percent_encode;  // core/text.hpp
// "/a/b%20c" for "a/b c": each segment of a slash-separated path encoded, the slashes kept.
std::string encode_path_segments(std::string_view path);
std::string encode_query(const Query& q);
// "/api/v1/" + each segment percent-encoded, joined by '/'.
std::string api_path(std::initializer_list<std::string_view> segments);

// Errors from argument validation carry this type; the CLI exits 2 for them.
inline constexpr std::string_view kUsageErrorType = "usage";
std::unexpected<Error> usage_error(std::string detail);

// USER and ORG arguments: an id ("usr_...", "org_...") or a username / slug.
bool is_user_id(std::string_view arg);
bool is_org_id(std::string_view arg);
bool is_project_id(std::string_view arg);
// {"user_id": ...} for an id, {"username": ...} for a name.
nlohmann::json user_ref(std::string_view arg);
// An ETag as If-Match wants it: quoted ("v3"), weak tags kept as they are.
std::string quote_etag(std::string_view etag);

// --limit / --after / --all on list commands.
struct PageArgs {
  std::optional<int> limit;
  std::string after;
  bool all = false;
};
[[nodiscard]] Status add_page(ApiCall& call, const PageArgs& page);

// ---- orgs, groups, roles, users ----
[[nodiscard]] Result<ApiCall> org_create(std::string_view slug, std::string_view name);
[[nodiscard]] Result<ApiCall> org_update(std::string_view org_id, std::string_view name);
[[nodiscard]] Result<ApiCall> org_member_add(std::string_view org_id, std::string_view user, std::string_view role);
[[nodiscard]] Result<ApiCall> org_member_set(std::string_view org_id, std::string_view user_id, std::string_view role);
[[nodiscard]] Result<ApiCall> group_create(std::string_view org_id, std::string_view slug, std::string_view name);
[[nodiscard]] Result<ApiCall> group_add_member(std::string_view group_id, std::string_view user);

struct RoleCreateArgs {
  std::string name;
  std::vector<std::string> permissions;
  std::optional<std::string> description;
};
[[nodiscard]] Result<ApiCall> role_create(std::string_view org_id, const RoleCreateArgs& a);
// resource:verb:scope with '*' wildcards, checked against the documented vocabulary.
[[nodiscard]] Status check_permission(std::string_view perm);

struct UserCreateArgs {
  std::string username;
  std::string password;
  std::optional<std::string> email;
  std::optional<std::string> display_name;
};
[[nodiscard]] Result<ApiCall> user_create(const UserCreateArgs& a);
[[nodiscard]] Result<ApiCall> user_set_disabled(std::string_view user_id, bool disabled);

// ---- projects ----
struct ProjectListArgs {
  std::optional<std::string> org_id;
  std::optional<std::string> search;
  bool archived = false;  // list archived projects instead of active ones
};
[[nodiscard]] Result<ApiCall> project_list(const ProjectListArgs& a);

[[nodiscard]] Status check_visibility(std::string_view v);
struct ProjectCreateArgs {
  std::string slug;
  std::string name;
  std::optional<std::string> description;
  std::vector<std::string> tags;
  std::optional<std::string> visibility;
};
[[nodiscard]] Result<ApiCall> project_create(std::string_view org_id, const ProjectCreateArgs& a);

struct ProjectUpdateArgs {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<std::vector<std::string>> tags;  // replaces the tag set; empty clears it
  std::optional<std::string> visibility;
};
[[nodiscard]] Result<ApiCall> project_update(std::string_view project_id, const ProjectUpdateArgs& a);
[[nodiscard]] Result<ApiCall> project_set_archived(std::string_view project_id, bool archived);
[[nodiscard]] Result<ApiCall> project_member_add(std::string_view project_id, std::string_view user,
                                                 std::string_view role);

// ---- tokens, invitations ----
struct TokenCreateArgs {
  std::string name;
  std::vector<std::string> scopes;
  std::optional<int> expires_in_days;
};
[[nodiscard]] Result<ApiCall> token_create(const TokenCreateArgs& a);

struct InviteCreateArgs {
  std::string role;
  std::optional<std::string> email;
  std::optional<int> expires_in_hours;
};
[[nodiscard]] Result<ApiCall> invite_create(std::string_view org_id, const InviteCreateArgs& a);

struct InviteAcceptArgs {
  std::string token;
  std::string username;
  std::string password;
  std::optional<std::string> email;
  std::optional<std::string> display_name;
};
[[nodiscard]] Result<ApiCall> invite_accept(const InviteAcceptArgs& a);

// ---- auth ----
[[nodiscard]] ApiCall login_call(std::string_view username, std::string_view password);
// "cli@<hostname>" for the API token that `atrium login` mints.
std::string cli_token_name(std::string_view hostname);

// ---- audit ----
struct AuditFilters {
  std::optional<std::string> actor;
  std::optional<std::string> org_id;
  std::optional<std::string> action;
  std::optional<std::string> target;
  std::optional<std::string> since;  // RFC 3339, a date, or a duration ago
  std::optional<std::string> until;
};
[[nodiscard]] Result<ApiCall> audit_events(const AuditFilters& f, Millis now);

// ---- jobs ----
struct JobSubmitArgs {
  std::optional<std::string> name;
  std::optional<int> cpus;
  std::optional<std::string> mem;  // sbatch --mem text: 4G, 512M, a bare number of MiB
  std::optional<int> gpus;
  std::optional<std::string> time;  // sbatch --time text: minutes, HH:MM:SS, D-HH:MM:SS, 2h
  std::optional<std::string> array;
  std::optional<std::string> dependency;
  std::optional<std::string> qos;
  std::optional<int> nice;
  std::vector<std::string> env;      // NAME=VALUE
  std::vector<std::string> secrets;  // NAME or NAME:file (checked by the server)
  std::optional<std::string> image;  // name, name@sha256:..., sha256:..., or "none" (the host's root)
  std::vector<std::string> datasets;  // name or name@N, read-only at /data/<name>
  std::optional<std::string> begin;  // RFC 3339, "now" or now+DURATION
  bool hold = false;
  std::optional<std::string> partition;  // local or a SLURM partition (default: the org's)
  std::optional<std::string> account;    // a SLURM account of the org (SLURM partitions)
  std::optional<std::string> script;  // the script's text
  std::vector<std::string> command;   // argv
};
[[nodiscard]] Result<ApiCall> job_submit(std::string_view project_id, const JobSubmitArgs& a, Millis now);

struct JobListArgs {
  std::optional<std::string> project_id;  // a project's jobs; else mine (or an org's with org_id)
  std::optional<std::string> org_id;
  std::vector<std::string> states;  // names or squeue's short codes (PD, R, CD, ...), any case
  std::optional<std::string> user;  // "me" or a user id (with a project)
  std::optional<std::string> array_id;
};
[[nodiscard]] Result<ApiCall> job_list(const JobListArgs& a);
// A state name or squeue short code as the API spells it: "pd" -> "PENDING".
[[nodiscard]] Result<std::string> job_state_name(std::string_view s);

// POST /jobs/{id}/{cancel,hold,release,requeue}; an array id acts on every task.
[[nodiscard]] Result<ApiCall> job_action(std::string_view job_id, std::string_view verb);
// POST /jobs/cancel: all my PENDING and RUNNING jobs, or those of one project / one state.
[[nodiscard]] Result<ApiCall> job_cancel_all(const std::optional<std::string>& project_id,
                                             const std::optional<std::string>& state);
// GET /jobs/{id}/logs from a byte offset.
[[nodiscard]] ApiCall job_logs(std::string_view job_id, bool stderr_stream, std::int64_t offset);

// ---- environments ----
struct EnvLaunchArgs {
  std::string app;
  std::optional<int> cpus;
  std::optional<std::string> mem;   // as for jobs: 4G, 512M, a bare number of MiB
  std::optional<std::string> time;  // 8h, 90m, HH:MM:SS
  std::optional<std::string> ref;
  std::optional<std::string> image;  // as for jobs
  std::vector<std::string> datasets;
  std::optional<int> gpus;
  bool files = false;                       // the project's files read-write at /project
  std::optional<std::string> files_prefix;  // only this directory of them (implies files)
  std::vector<std::string> secrets;
  std::optional<std::string> partition;  // as for jobs
};
// POST /projects/{id}/envs.
[[nodiscard]] Result<ApiCall> env_launch(std::string_view project_id, const EnvLaunchArgs& a);

}  // namespace atrium::cli
