// Projects: belong to an org, have members with project roles, a visibility, tags, and a
// full-text index (SQLite FTS5) over name, description and tags.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/notifier.hpp"
#include "db/database.hpp"
#include "http/etag.hpp"
#include "http/gate.hpp"

namespace atrium::projects {

// Fired after a commit that changed a project or its members (who may do what in it): caches of
// access decisions (the environment proxy's) follow it.
const Notifier& changes();
std::vector<db::Migration> migrations();

struct Project {
  std::string id, org_id, slug, name, description, visibility, group_id, created_by;
  std::vector<std::string> tags;
  bool archived = false;
  Millis created = 0, updated = 0;
  std::int64_t version = 1;
  std::string my_role;  // the caller's project role, filled by the caller
  nlohmann::json json() const;
  std::string etag() const { return http::etag_of(version); }
};

struct Changes {
  std::optional<std::string> name, description, visibility, group_id;  // group_id "" = none
  std::optional<std::vector<std::string>> tags;
  std::optional<bool> archived;
};

Result<Project> create(db::Tx& tx, const Actor& actor, const std::string& org_id, const std::string& slug,
                       const std::string& name, const std::string& description, const std::vector<std::string>& tags,
                       const std::string& visibility, const std::string& group_id, Millis now);
Result<std::optional<Project>> get(db::Tx& tx, const std::string& id);
// The project with `user_id`'s project role filled in (one query).
Result<std::optional<Project>> get_for(db::Tx& tx, const std::string& id, const std::string& user_id);
// By the org and the project's slug (the git URL's /{org}/{slug}.git), like get_for.
Result<std::optional<Project>> find_for(db::Tx& tx, const std::string& org_id, const std::string& slug,
                                        const std::string& user_id);
Result<Project> update(db::Tx& tx, const Actor& actor, const Project& p, const Changes& c, Millis now);
Status remove(db::Tx& tx, const Actor& actor, const Project& p, Millis now);
Result<std::int64_t> count_in_org(db::Tx& tx, const std::string& org_id);
Result<std::int64_t> count_in_group(db::Tx& tx, const std::string& group_id);
// The target a policy check needs for this project and caller.
http::Target target_of(const Project& p);

// What the caller may see, as computed by the route from the policy.
struct Visibility {
  bool all = false;                        // instance admin
  std::vector<std::string> member_orgs;    // sees visibility=org projects of these orgs
  std::vector<std::string> read_orgs;      // may read every project of these orgs
  std::vector<std::string> read_groups;    // may read every project of these groups
  std::string user_id;                     // sees projects they are a member of, and instance-visible ones
};
struct ListQuery {
  std::string q;        // full-text query; "" = none
  std::string org_id;   // "" = any
  std::string archived = "false";  // true | false | any
  bool mine = false;    // only projects the caller is a member of
  std::string after;
  int limit = 50;
};
Result<std::vector<Project>> list(db::Tx& tx, const Visibility& v, const ListQuery& q);
// The projects `user_id` is a member of in `org_ids` (the caller's current orgs), with the role.
Result<std::vector<Project>> member_projects(db::Tx& tx, const std::string& user_id,
                                             const std::vector<std::string>& org_ids);

// ---- members
Result<nlohmann::json> list_members(db::Tx& tx, const std::string& project_id, const std::string& after, int limit);
Result<std::optional<std::pair<std::string, std::int64_t>>> member(db::Tx& tx, const std::string& project_id,
                                                                   const std::string& user_id);  // role, version
Status add_member(db::Tx& tx, const Actor& actor, const Project& p, const std::string& user_id, const std::string& role,
                  Millis now);
Status set_member_role(db::Tx& tx, const Actor& actor, const Project& p, const std::string& user_id,
                       const std::string& role, std::int64_t version, Millis now);
Status remove_member(db::Tx& tx, const Actor& actor, const Project& p, const std::string& user_id, std::int64_t version,
                     Millis now);

// Turns free text into a safe FTS5 query: each word quoted, prefix-matched, all required.
std::string fts_query(std::string_view text);

}  // namespace atrium::projects
