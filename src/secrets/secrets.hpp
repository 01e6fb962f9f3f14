// Secrets: API keys and tokens a user or a project keeps for external services. Values are sealed
// with the master key (core/crypto seal), never returned, logged or audited after creation, and
// injected by name into the jobs and environments that ask for them: as an environment variable or
// as a file under /run/secrets/<NAME> (read-only, the job's uid only).
//
// This is the module's public contract (issue 18). jobs and envs call resolve() when a job or an
// environment is launched (not at submission: a pending job never holds a value) and open() there.
#pragma once

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

namespace atrium::secrets {

std::vector<db::Migration> migrations();

// NAME: [A-Z_][A-Z0-9_]{0,63} (an environment variable name); not PATH, HOME, LD_* or ATRIUM_*.
Status check_name(std::string_view name);

// Where a job asked for a secret to appear.
struct Request {
  std::string name;
  std::string as = "env";  // "env" (variable NAME) | "file" (/run/secrets/NAME)
};
// Parses a job's or an environment's `secrets` field: ["HF_TOKEN", "KEY:file"], at most 32;
// invalid_argument with field "secrets".
Result<std::vector<Request>> parse_requests(const nlohmann::json& j);

// The values for a launch: each requested name from the user's secrets first, then the project's;
// not_found (naming the secret, never a value) when one is missing.
struct Value {
  Request request;
  std::string scope;  // "user" | "project"
  std::string value;  // plaintext: keep it in memory only, write it only into the sandbox
};
Result<std::vector<Value>> resolve(db::Tx& tx, std::string_view master_key, const std::string& user_id, const std::string& project_id,
                                   const std::vector<Request>& wanted);

}  // namespace atrium::secrets
