#include "cli/requests.hpp"

#include <array>
#include <cctype>

#include "cli/units.hpp"
#include "core/ids.hpp"
#include "core/text.hpp"

namespace atrium::cli {

using nlohmann::json;

namespace {

constexpr std::array<std::string_view, 3> kVisibilities{"private", "org", "instance"};
constexpr std::array<std::string_view, 16> kResources{"orgs",     "members", "groups",   "roles",
                                                      "invitations", "quotas", "projects", "users",
                                                      "tokens",   "sessions", "audit",    "jobs",
                                                      "files",    "code",     "secrets",  "*"};
constexpr std::array<std::string_view, 6> kVerbs{"read", "create", "write", "delete", "admin", "*"};
constexpr std::array<std::string_view, 5> kScopes{"own", "group", "org", "all", "*"};

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& set, std::string_view v) {
  for (auto s : set)
    if (s == v) return true;
  return false;
}

Status require_text(std::string_view option, std::string_view value) {
  if (value.empty()) return usage_error(std::string(option) + " must not be empty");
  if (!is_valid_utf8(value)) return usage_error(std::string(option) + " is not valid UTF-8");
  return {};
}

Status require_slug(std::string_view option, std::string_view value) {
  if (!is_valid_slug(value))
    return usage_error(std::string(option) + " '" + std::string(value) +
                       "' is not a valid slug (1-64 of a-z 0-9 - _ ., starting with a letter or digit)");
  return {};
}

ApiCall call(std::string method, std::string path, std::optional<json> body = std::nullopt) {
  ApiCall c;
  c.method = std::move(method);
  c.path = std::move(path);
  c.body = std::move(body);
  return c;
}

}  // namespace

std::string ApiCall::target() const {
  if (query.empty()) return path;
  return path + "?" + encode_query(query);
}

std::string encode_path_segments(std::string_view path) {
  std::string out;
  std::size_t i = 0;
  while (i <= path.size()) {
    auto slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    out += "/" + percent_encode(path.substr(i, slash - i));
    i = slash + 1;
  }
  return out;
}

std::string encode_query(const Query& q) {
  std::string out;
  for (const auto& [k, v] : q) {
    if (!out.empty()) out += '&';
    out += percent_encode(k) + "=" + percent_encode(v);
  }
  return out;
}

std::string api_path(std::initializer_list<std::string_view> segments) {
  std::string out = "/api/v1";
  for (auto s : segments) out += "/" + percent_encode(s);
  return out;
}

std::unexpected<Error> usage_error(std::string detail) {
  return fail(ErrorCode::kInvalidArgument, std::string(kUsageErrorType), std::move(detail));
}

bool is_user_id(std::string_view arg) { return is_id(arg, "usr"); }
bool is_org_id(std::string_view arg) { return is_id(arg, "org"); }
bool is_project_id(std::string_view arg) { return is_id(arg, "prj"); }

json user_ref(std::string_view arg) {
  if (is_user_id(arg)) return {{"user_id", std::string(arg)}};
  return {{"username", std::string(arg)}};
}

std::string quote_etag(std::string_view etag) {
  if (etag.starts_with("W/\"") || (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"'))
    return std::string(etag);
  return "\"" + std::string(etag) + "\"";
}

Status add_page(ApiCall& c, const PageArgs& page) {
  if (page.limit) {
    if (*page.limit < 1 || *page.limit > 200) return usage_error("--limit must be between 1 and 200");
    c.query.emplace_back("limit", std::to_string(*page.limit));
  } else if (page.all) {
    c.query.emplace_back("limit", "200");  // fewer round trips when fetching everything
  }
  if (!page.after.empty()) c.query.emplace_back("after", page.after);
  return {};
}

Result<ApiCall> org_create(std::string_view slug, std::string_view name) {
  TRY_STATUS(require_slug("--slug", slug));
  TRY_STATUS(require_text("--name", name));
  return call("POST", api_path({"orgs"}), json{{"slug", slug}, {"name", name}});
}

Result<ApiCall> org_update(std::string_view org_id, std::string_view name) {
  TRY_STATUS(require_text("--name", name));
  return call("PATCH", api_path({"orgs", org_id}), json{{"name", name}});
}

Result<ApiCall> org_member_add(std::string_view org_id, std::string_view user, std::string_view role) {
  TRY_STATUS(require_text("--user", user));
  TRY_STATUS(require_text("--role", role));
  json body = user_ref(user);
  body["role"] = role;
  return call("POST", api_path({"orgs", org_id, "members"}), std::move(body));
}

Result<ApiCall> org_member_set(std::string_view org_id, std::string_view user_id, std::string_view role) {
  TRY_STATUS(require_text("--role", role));
  return call("PATCH", api_path({"orgs", org_id, "members", user_id}), json{{"role", role}});
}

Result<ApiCall> group_create(std::string_view org_id, std::string_view slug, std::string_view name) {
  TRY_STATUS(require_slug("--slug", slug));
  TRY_STATUS(require_text("--name", name));
  return call("POST", api_path({"orgs", org_id, "groups"}), json{{"slug", slug}, {"name", name}});
}

Result<ApiCall> group_add_member(std::string_view group_id, std::string_view user) {
  TRY_STATUS(require_text("--user", user));
  return call("POST", api_path({"groups", group_id, "members"}), user_ref(user));
}

Status check_permission(std::string_view perm) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    auto colon = perm.find(':', start);
    parts.push_back(perm.substr(start, colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  auto bad = [&](std::string why) {
    return usage_error("bad permission '" + std::string(perm) + "': " + why +
                       " (resource:verb:scope, e.g. projects:read:org, *:*:all)");
  };
  if (parts.size() != 3) return bad("expected 3 parts");
  if (!one_of(kResources, parts[0])) return bad("unknown resource '" + std::string(parts[0]) + "'");
  if (!one_of(kVerbs, parts[1])) return bad("unknown verb '" + std::string(parts[1]) + "'");
  if (!one_of(kScopes, parts[2])) return bad("unknown scope '" + std::string(parts[2]) + "'");
  return {};
}

Result<ApiCall> role_create(std::string_view org_id, const RoleCreateArgs& a) {
  TRY_STATUS(require_text("--name", a.name));
  if (a.permissions.empty()) return usage_error("give at least one --perm");
  for (const auto& p : a.permissions) TRY_STATUS(check_permission(p));
  json body{{"name", a.name}, {"permissions", a.permissions}};
  if (a.description) body["description"] = *a.description;
  return call("POST", api_path({"orgs", org_id, "roles"}), std::move(body));
}

Result<ApiCall> user_create(const UserCreateArgs& a) {
  TRY_STATUS(require_slug("--username", a.username));
  if (a.password.empty()) return usage_error("the password must not be empty");
  json body{{"username", a.username}, {"password", a.password}};
  if (a.email) body["email"] = *a.email;
  if (a.display_name) body["display_name"] = *a.display_name;
  return call("POST", api_path({"users"}), std::move(body));
}

Result<ApiCall> user_set_disabled(std::string_view user_id, bool disabled) {
  return call("PATCH", api_path({"users", user_id}), json{{"disabled", disabled}});
}

Result<ApiCall> project_list(const ProjectListArgs& a) {
  ApiCall c = call("GET", api_path({"projects"}));
  if (a.search) {
    TRY_STATUS(require_text("--search", *a.search));
    c.query.emplace_back("q", *a.search);
  }
  if (a.org_id) c.query.emplace_back("org", *a.org_id);
  if (a.archived) c.query.emplace_back("archived", "true");
  return c;
}

Status check_visibility(std::string_view v) {
  if (!one_of(kVisibilities, v))
    return usage_error("--visibility must be one of private, org, instance (got '" + std::string(v) + "')");
  return {};
}

Result<ApiCall> project_create(std::string_view org_id, const ProjectCreateArgs& a) {
  TRY_STATUS(require_slug("--slug", a.slug));
  TRY_STATUS(require_text("--name", a.name));
  json body{{"slug", a.slug}, {"name", a.name}};
  if (a.description) body["description"] = *a.description;
  if (!a.tags.empty()) {
    for (const auto& t : a.tags) TRY_STATUS(require_text("--tag", t));
    body["tags"] = a.tags;
  }
  if (a.visibility) {
    TRY_STATUS(check_visibility(*a.visibility));
    body["visibility"] = *a.visibility;
  }
  return call("POST", api_path({"orgs", org_id, "projects"}), std::move(body));
}

Result<ApiCall> project_update(std::string_view project_id, const ProjectUpdateArgs& a) {
  json body = json::object();
  if (a.name) {
    TRY_STATUS(require_text("--name", *a.name));
    body["name"] = *a.name;
  }
  if (a.description) body["description"] = *a.description;
  if (a.tags) {
    for (const auto& t : *a.tags) TRY_STATUS(require_text("--tag", t));
    body["tags"] = *a.tags;
  }
  if (a.visibility) {
    TRY_STATUS(check_visibility(*a.visibility));
    body["visibility"] = *a.visibility;
  }
  if (body.empty()) return usage_error("nothing to update: give --name, --description, --tag, --clear-tags or --visibility");
  return call("PATCH", api_path({"projects", project_id}), std::move(body));
}

Result<ApiCall> project_set_archived(std::string_view project_id, bool archived) {
  return call("PATCH", api_path({"projects", project_id}), json{{"archived", archived}});
}

Result<ApiCall> project_member_add(std::string_view project_id, std::string_view user, std::string_view role) {
  TRY_STATUS(require_text("--user", user));
  TRY_STATUS(require_text("--role", role));
  json body = user_ref(user);
  body["role"] = role;
  return call("POST", api_path({"projects", project_id, "members"}), std::move(body));
}

Result<ApiCall> token_create(const TokenCreateArgs& a) {
  TRY_STATUS(require_text("--name", a.name));
  json body{{"name", a.name}};
  if (!a.scopes.empty()) body["scopes"] = a.scopes;
  if (a.expires_in_days) {
    if (*a.expires_in_days < 1) return usage_error("--expires-in-days must be at least 1");
    body["expires_in_days"] = *a.expires_in_days;
  }
  return call("POST", api_path({"tokens"}), std::move(body));
}

Result<ApiCall> invite_create(std::string_view org_id, const InviteCreateArgs& a) {
  TRY_STATUS(require_text("--role", a.role));
  json body{{"role", a.role}};
  if (a.email) body["email"] = *a.email;
  if (a.expires_in_hours) {
    if (*a.expires_in_hours < 1) return usage_error("--expires-in-hours must be at least 1");
    body["expires_in_hours"] = *a.expires_in_hours;
  }
  return call("POST", api_path({"orgs", org_id, "invitations"}), std::move(body));
}

Result<ApiCall> invite_accept(const InviteAcceptArgs& a) {
  TRY_STATUS(require_text("--token", a.token));
  TRY_STATUS(require_slug("--username", a.username));
  if (a.password.empty()) return usage_error("the password must not be empty");
  json body{{"token", a.token}, {"username", a.username}, {"password", a.password}};
  if (a.email) body["email"] = *a.email;
  if (a.display_name) body["display_name"] = *a.display_name;
  return call("POST", api_path({"invitations", "accept"}), std::move(body));
}

ApiCall login_call(std::string_view username, std::string_view password) {
  return call("POST", api_path({"auth", "login"}), json{{"username", username}, {"password", password}});
}

std::string cli_token_name(std::string_view hostname) {
  std::string host(hostname);
  if (host.empty()) host = "unknown-host";
  return "cli@" + host;
}

Result<ApiCall> audit_events(const AuditFilters& f, Millis now) {
  ApiCall c = call("GET", api_path({"audit", "events"}));
  if (f.actor) c.query.emplace_back("actor", *f.actor);
  if (f.org_id) c.query.emplace_back("org", *f.org_id);
  if (f.action) c.query.emplace_back("action", *f.action);
  if (f.target) c.query.emplace_back("target", *f.target);
  if (f.since) {
    auto t = parse_time_filter(*f.since, now);
    if (!t) return usage_error("--since: " + t.error().detail);
    c.query.emplace_back("since", *t);
  }
  if (f.until) {
    auto t = parse_time_filter(*f.until, now);
    if (!t) return usage_error("--until: " + t.error().detail);
    c.query.emplace_back("until", *t);
  }
  return c;
}

namespace {

bool valid_env_name(std::string_view k) {
  if (k.empty() || k.size() > 128 || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  for (char ch : k)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') return false;
  return true;
}

Result<std::string> begin_time(std::string_view text, Millis now) {
  Millis t = 0;
  if (parse_rfc3339(text, t)) return format_rfc3339(t);
  if (text == "now") return format_rfc3339(now);
  if (text.starts_with("now+")) {
    if (auto d = parse_duration(text.substr(4)))
      return format_rfc3339(now + std::chrono::duration_cast<std::chrono::milliseconds>(*d).count());
  }
  return usage_error("--begin: bad time '" + std::string(text) +
                     "': expected RFC 3339 (2026-11-25T19:16:09Z), now, or now+DURATION (now+2h)");
}

struct Resources {
  const std::optional<int>& cpus;
  const std::optional<std::string>& mem;
  const std::optional<int>& gpus;
  const std::optional<std::string>& time;
};

// cpus, mem_mb, gpus and time_limit_s, as jobs and environments take them.
Status add_resources(json& body, const Resources& r) {
  if (r.cpus) {
    if (*r.cpus < 1) return usage_error("--cpus must be at least 1");
    body["cpus"] = *r.cpus;
  }
  if (r.mem) {
    auto mb = parse_mem_mb(*r.mem);
    if (!mb) return usage_error("--mem: " + mb.error().detail);
    body["mem_mb"] = *mb;
  }
  if (r.gpus) {
    if (*r.gpus < 0) return usage_error("--gpus must not be negative");
    body["gpus"] = *r.gpus;
  }
  if (r.time) {
    auto t = parse_time_limit(*r.time);
    if (!t) return usage_error("--time: " + t.error().detail);
    body["time_limit_s"] = t->count();
  }
  return {};
}

// `image` and `datasets`, as jobs and environments take them.
Status add_image_and_datasets(json& body, const std::optional<std::string>& image,
                              const std::vector<std::string>& datasets) {
  if (image) {
    TRY_STATUS(require_text("--image", *image));
    body["image"] = *image;
  }
  for (const auto& d : datasets) TRY_STATUS(require_text("--dataset", d));
  if (!datasets.empty()) body["datasets"] = datasets;
  return {};
}

}  // namespace

Result<ApiCall> job_submit(std::string_view project_id, const JobSubmitArgs& a, Millis now) {
  if (project_id.empty()) return usage_error("--project must not be empty");
  if (a.script && !a.command.empty()) return usage_error("give either --script or a command after --, not both");
  if (!a.script && a.command.empty()) return usage_error("give --script FILE (or - for stdin) or -- COMMAND ARGS...");
  json body = json::object();
  if (a.name) {
    TRY_STATUS(require_text("--name", *a.name));
    body["name"] = *a.name;
  }
  if (a.script) {
    if (a.script->empty()) return usage_error("the script is empty");
    if (a.script->find('\0') != std::string::npos) return usage_error("the script contains NUL bytes");
    body["script"] = *a.script;
  } else {
    if (a.command[0].empty()) return usage_error("the command must name a program");
    body["command"] = a.command;
  }
  TRY_STATUS(add_resources(body, {a.cpus, a.mem, a.gpus, a.time}));
  if (a.array) {
    TRY_STATUS(require_text("--array", *a.array));
    body["array"] = *a.array;
  }
  if (a.dependency) {
    TRY_STATUS(require_text("--dependency", *a.dependency));
    body["dependency"] = *a.dependency;
  }
  if (a.qos) {
    TRY_STATUS(require_text("--qos", *a.qos));
    body["qos"] = *a.qos;
  }
  if (a.nice) body["nice"] = *a.nice;
  if (!a.env.empty()) {
    json env = json::object();
    for (const auto& kv : a.env) {
      auto eq = kv.find('=');
      std::string key = kv.substr(0, eq);
      if (eq == std::string::npos || !valid_env_name(key))
        return usage_error("--env '" + kv +
                           "': expected NAME=VALUE with NAME of A-Z a-z 0-9 _ (not starting with a digit)");
      env[key] = kv.substr(eq + 1);
    }
    body["env"] = std::move(env);
  }
  if (!a.secrets.empty()) body["secrets"] = a.secrets;
  TRY_STATUS(add_image_and_datasets(body, a.image, a.datasets));
  if (a.begin) body["begin_time"] = TRY(begin_time(*a.begin, now));
  if (a.hold) body["hold"] = true;
  if (a.partition) {
    TRY_STATUS(require_text("--partition", *a.partition));
    body["partition"] = *a.partition;
  }
  if (a.account) {
    TRY_STATUS(require_text("--account", *a.account));
    body["account"] = *a.account;
  }
  return call("POST", api_path({"projects", project_id, "jobs"}), std::move(body));
}

Result<std::string> job_state_name(std::string_view s) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kStates{{
      {"PENDING", "PD"},
      {"RUNNING", "R"},
      {"COMPLETED", "CD"},
      {"FAILED", "F"},
      {"CANCELLED", "CA"},
      {"TIMEOUT", "TO"},
      {"OUT_OF_MEMORY", "OOM"},
      {"NODE_FAIL", "NF"},
  }};
  std::string upper(s);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "CANCELED") upper = "CANCELLED";
  for (const auto& [name, code] : kStates)
    if (upper == name || upper == code) return std::string(name);
  return usage_error("unknown job state '" + std::string(s) +
                     "' (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL or "
                     "PD, R, CD, F, CA, TO, OOM, NF)");
}

Result<ApiCall> job_list(const JobListArgs& a) {
  ApiCall c;
  if (a.project_id) {
    TRY_STATUS(require_text("--project", *a.project_id));
    if (a.org_id) return usage_error("give --project or --org, not both");
    c.path = api_path({"projects", *a.project_id, "jobs"});
  } else {
    c.path = api_path({"jobs"});
    if (a.org_id) c.query.emplace_back("org", *a.org_id);
  }
  if (!a.states.empty()) {
    std::string joined;
    for (const auto& s : a.states) {
      if (!joined.empty()) joined += ',';
      joined += TRY(job_state_name(s));
    }
    c.query.emplace_back("state", joined);
  }
  if (a.user) {
    TRY_STATUS(require_text("--user", *a.user));
    if (!a.project_id && *a.user != "me")
      return usage_error("--user needs --project (without it, job list shows your own jobs)");
    if (a.project_id) c.query.emplace_back("user", *a.user);
  }
  if (a.array_id) {
    TRY_STATUS(require_text("--array", *a.array_id));
    c.query.emplace_back("array", *a.array_id);
  }
  return c;
}

Result<ApiCall> job_action(std::string_view job_id, std::string_view verb) {
  if (job_id.empty()) return usage_error("a job id is required");
  return call("POST", api_path({"jobs", job_id, verb}));
}

Result<ApiCall> job_cancel_all(const std::optional<std::string>& project_id, const std::optional<std::string>& state) {
  json body = json::object();
  if (project_id) {
    TRY_STATUS(require_text("--project", *project_id));
    body["project_id"] = *project_id;
  }
  if (state) {
    std::string s = TRY(job_state_name(*state));
    if (s != "PENDING" && s != "RUNNING") return usage_error("--state must be PENDING or RUNNING");
    body["state"] = s;
  }
  return call("POST", api_path({"jobs", "cancel"}), std::move(body));
}

ApiCall job_logs(std::string_view job_id, bool stderr_stream, std::int64_t offset) {
  ApiCall c = call("GET", api_path({"jobs", job_id, "logs"}));
  c.query.emplace_back("stream", stderr_stream ? "stderr" : "stdout");
  c.query.emplace_back("offset", std::to_string(offset));
  return c;
}

Result<ApiCall> env_launch(std::string_view project_id, const EnvLaunchArgs& a) {
  if (project_id.empty()) return usage_error("--project must not be empty");
  TRY_STATUS(require_text("--app", a.app));
  json body{{"app", a.app}};
  TRY_STATUS(add_resources(body, {a.cpus, a.mem, a.gpus, a.time}));
  if (a.ref) {
    TRY_STATUS(require_text("--ref", *a.ref));
    body["ref"] = *a.ref;
  }
  TRY_STATUS(add_image_and_datasets(body, a.image, a.datasets));
  if (a.files_prefix) {
    if (a.files_prefix->find('\0') != std::string::npos || !is_valid_utf8(*a.files_prefix))
      return usage_error("--files-prefix is not a valid path");
    body["files"] = json{{"prefix", *a.files_prefix}};  // "" is the whole tree, as --files
  } else if (a.files) {
    body["files"] = true;
  }
  if (!a.secrets.empty()) body["secrets"] = a.secrets;
  if (a.partition) {
    TRY_STATUS(require_text("--partition", *a.partition));
    body["partition"] = *a.partition;
  }
  return call("POST", api_path({"projects", project_id, "envs"}), std::move(body));
}

}  // namespace atrium::cli
