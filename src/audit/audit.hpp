// The audit trail: every mutation records an event in the same transaction as the change.
// Events are hash-chained (each holds the hash of the previous one) so tampering is detectable.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"

namespace atrium::audit {

struct Event {
  std::string org_id;       // the tenant the change belongs to, "" for instance-level
  std::string action;       // <kind>.<verb>, e.g. project.create
  std::string target_kind;  // project, org, user, ...
  std::string target_id;
  nlohmann::json summary = nlohmann::json::object();  // what changed (never secrets)
};

struct Filter {
  std::string actor;  // the actor's user id or username (as recorded with the event)
  std::vector<std::string> org_ids;  // empty = any (instance admins); otherwise restricted to these
  bool restrict_orgs = false;
  std::string action;       // exact, or prefix when it ends with '*'
  std::string target_id;
  std::optional<Millis> since, until;
  std::int64_t after_seq = 0;  // the cursor: the last seq of the previous page (0 = from the start)
  bool newest_first = false;   // descending seq: the next page holds seqs below after_seq
  int limit = 100;
};

struct VerifyResult {
  bool ok = true;
  std::int64_t checked = 0;
  std::optional<std::int64_t> first_broken_seq;
  std::string reason;
};

// A user's activity feed: the events about the given projects (those they are a member of) and
// their own actions in the given orgs or at instance level (no sign-ins), newest first.
struct ActivityQuery {
  std::string user_id;
  std::vector<std::string> org_ids;      // the caller's current orgs
  std::vector<std::string> project_ids;  // projects the caller may see as a member
  std::int64_t before_seq = 0;           // 0 = from the newest
  int limit = 50;
};

std::vector<db::Migration> migrations();

Status record(db::Tx& tx, const Actor& actor, const Event& e, Millis now);
// Events in seq order (or newest first) as JSON objects (the API shape).
Result<std::vector<nlohmann::json>> list(db::Tx& tx, const Filter& f);
// Feed rows: {seq, id, time, actor_id, actor, org_id, project_id, action, target_kind, target_id,
// summary}; never the client address, token or request id (others' events are in the feed).
Result<std::vector<nlohmann::json>> activity(db::Tx& tx, const ActivityQuery& q);
Result<VerifyResult> verify(db::Tx& tx);
// The org's share of the chain, for its administrators (who may not read the other orgs' events):
// each of the org's events matches its hash and links to the hash of the event before it (whoever's
// that is); `checked` counts the org's events. A break elsewhere in the chain is not reported here.
Result<VerifyResult> verify_org(db::Tx& tx, const std::string& org_id);

}  // namespace atrium::audit
