// Secrets: API keys and tokens a user or a project keeps for external services. Values are sealed
// with a key derived from the data master key (core/crypto aead_seal), never returned, logged or
// audited after creation, and injected by name into the jobs and environments that ask for them:
// as an environment variable or as a file under /run/secrets/<NAME> (read-only, the job's uid only).
//
// This is the module's public contract (issue 18). jobs and envs call check_requests() at
// submission (names only are stored) and resolve() when a job or an environment is launched: a
// pending job never holds a value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"

namespace atrium::http {
class Api;
class Context;
struct Target;
}  // namespace atrium::http

namespace atrium::secrets {

std::vector<db::Migration> migrations();

// Limits. A value is UTF-8 text without NUL (binary keys: base64 them); the environment variables
// of one launch together stay under execve's limits.
inline constexpr std::size_t kMaxValueBytes = 64 * 1024;
inline constexpr std::size_t kMaxDescription = 500;
inline constexpr std::size_t kMaxPerOwner = 200;  // secrets per user, per project
inline constexpr std::size_t kMaxPerJob = 32;
inline constexpr std::size_t kMaxEnvBytes = 256 * 1024;  // env secrets of one launch together

// NAME: [A-Z_][A-Z0-9_]{0,63} (an environment variable name); not PATH, HOME, LD_*, ATRIUM_*,
// SLURM_* or the sandbox's own variables. invalid_argument with field "name".
Status check_name(std::string_view name);

// Where a job asked for a secret to appear.
struct Request {
  std::string name;
  std::string as = "env";  // "env" (variable NAME) | "file" (/run/secrets/NAME)
  // "user" | "project": where it was found at submission (check_requests pins it); "" = the
  // user's, else the project's (resolve looks it up then).
  std::string scope;
};
// Parses a job's or an environment's `secrets` field: ["HF_TOKEN", "KEY:file"], at most kMaxPerJob,
// each name once; invalid_argument with field "secrets".
Result<std::vector<Request>> parse_requests(const nlohmann::json& j);
// The API and storage form of requests: ["HF_TOKEN", "KEY:file"] (names only, never values).
nlohmann::json to_json(const std::vector<Request>& rs);

// At submission, inside the request's transaction: each requested name must exist as the caller's
// own secret (first) or the project's, and the caller must be allowed to read that scope (token
// scopes included); pins each request's scope. 422 `secret-not-found` naming the first missing
// one (field "secrets"), nothing else checked or told.
Result<std::vector<Request>> check_requests(http::Context& ctx, const std::string& project_id,
                                            const http::Target& project, std::vector<Request> wanted);

// The values for a launch: each requested name from its pinned scope (or the user's secrets
// first, then the project's); failed_precondition `secret-missing` naming the secret (never a
// value) when one is gone. `key`: Settings::key.
struct Value {
  Request request;
  std::string scope;  // "user" | "project"
  std::string value;  // plaintext: keep it in memory only, write it only into the sandbox
};
Result<std::vector<Value>> resolve(db::Tx& tx, std::string_view key, const std::string& user_id,
                                   const std::string& project_id, const std::vector<Request>& wanted);

// The seal of one value: XChaCha20-Poly1305 under `key`, the associated data binding the scope,
// the owner (user or project id) and the name, so a sealed value copied to another row does not
// open. Stored base64.
std::string seal(std::string_view key, std::string_view scope, std::string_view owner_id, std::string_view name,
                 std::string_view value);
std::optional<std::string> open(std::string_view key, std::string_view scope, std::string_view owner_id,
                                std::string_view name, std::string_view sealed);

// A deleted user's secrets go with the account.
Status forget_user(db::Tx& tx, const std::string& user_id);

struct Settings {
  std::string key;  // 32 bytes: the data master key's derive("secrets")
};
// /api/v1/me/secrets[/{name}] and /api/v1/projects/{id}/secrets[/{name}].
void add_routes(http::Api& api, const Settings& s);

}  // namespace atrium::secrets
