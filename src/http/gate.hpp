// The contract between HTTP and identity: who is calling (Principal), what a route needs
// (Permission), what it touches (Target), and the Gatekeeper that authenticates and decides.
// identity/ implements Gatekeeper; every route's check goes through Gatekeeper::decide.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "db/database.hpp"
#include "http/message.hpp"

namespace atrium::http {

// resource:verb, e.g. projects:write. The scope (own/group/org/all) comes from grants.
struct Permission {
  std::string resource;
  std::string verb;
  std::string str() const { return resource + ":" + verb; }
};

// One permission of a role or a token: resource:verb:scope, each part may be "*".
struct Grant {
  std::string resource;
  std::string verb;
  std::string scope;  // own | group | org | all | *
  std::string str() const { return resource + ":" + verb + ":" + scope; }
};

// A role held in an org ("" = the whole instance).
struct Binding {
  std::string org_id;
  std::string role;
  std::vector<Grant> grants;
};

struct Principal {
  std::string user_id;
  std::string username;
  std::string session_id;  // set when authenticated by session cookie
  std::string csrf_hash;   // sha256 of the session's CSRF token
  std::string token_id;    // set when authenticated by bearer token
  std::vector<Grant> token_scopes;  // a token's scopes narrow the user's grants
  std::vector<Binding> bindings;
  std::vector<std::string> group_ids;
  bool via_token() const { return !token_id.empty(); }
  bool is_member_of(const std::string& org_id) const;
  bool is_instance_admin() const;
};

// What a request touches. Fields that do not apply stay empty.
struct Target {
  std::string org_id;        // the tenant; "" for instance-level objects
  std::string owner_id;      // the user who owns it (for :own grants)
  std::string group_id;      // the group it belongs to (for :group grants)
  std::string project_role;  // the caller's role in the project (owner/maintainer/member/viewer)
  std::string visibility;    // private | org | instance (projects)
};

enum class Decision { kAllow, kForbidden, kHidden };

// Shared and immutable: authenticated principals are cached and handed to many requests.
using PrincipalPtr = std::shared_ptr<const Principal>;

class Gatekeeper {
 public:
  virtual ~Gatekeeper() = default;
  // Reads credentials (bearer token or session cookie). null = anonymous; an error = bad
  // credentials (401). Runs inside the request's transaction.
  virtual Result<PrincipalPtr> authenticate(db::Tx& tx, const Request& req) = 0;
  // The one policy function: may this principal do this to this target?
  virtual Decision decide(const Principal& who, const Permission& perm, const Target& target) const = 0;
  // Whether the principal's token scopes allow the permission at all (checked before handlers).
  virtual bool token_allows(const Principal& who, const Permission& perm) const = 0;
  // Writes deferred bookkeeping (token last-used times) after a request; cheap when none.
  virtual void flush_pending(db::Database&) {}
};

}  // namespace atrium::http
