// Organisations and what hangs off them: members, groups, custom roles, invitations (quotas: quota/).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "identity/store.hpp"

namespace atrium::identity {

// ---- orgs
Result<Org> create_org(db::Tx& tx, const Actor& actor, const std::string& slug, const std::string& name, Millis now);
Result<nlohmann::json> list_orgs(db::Tx& tx, bool all, const std::string& user_id, const std::string& after, int limit);
// Renames and/or disables (enables) an org; a disabled org's members lose its role (load_principal).
Result<Org> update_org(db::Tx& tx, const Actor& actor, const Org& org, const std::optional<std::string>& name,
                       std::optional<bool> disabled, Millis now);
Status delete_org(db::Tx& tx, const Actor& actor, const Org& org, Millis now);

// ---- members
struct Member {
  std::string user_id, username, role_id, role;
  std::int64_t version = 1;
  std::string display_name;
  bool last_admin = false;  // the org's only org-admin: it can be neither demoted nor removed
  nlohmann::json json() const;
};
// Narrows a member list: `q` a case-insensitive part of the username or display name, `role_id`
// one role (empty: any).
struct MemberFilter {
  std::string q, role_id;
};
Result<nlohmann::json> list_members(db::Tx& tx, const std::string& org_id, const std::string& after, int limit,
                                    const MemberFilter& filter = {});
Result<std::optional<Member>> get_member(db::Tx& tx, const std::string& org_id, const std::string& user_id);
Status set_member_role(db::Tx& tx, const Actor& actor, const std::string& org_id, const Member& m,
                       const std::string& role_id, Millis now);
Status remove_member(db::Tx& tx, const Actor& actor, const std::string& org_id, const Member& m, Millis now);

// ---- groups
struct Group {
  std::string id, org_id, slug, name;
  Millis created = 0;
  std::int64_t version = 1;
  nlohmann::json json() const;
};
Result<Group> create_group(db::Tx& tx, const Actor& actor, const std::string& org_id, const std::string& slug,
                           const std::string& name, Millis now);
Result<nlohmann::json> list_groups(db::Tx& tx, const std::string& org_id, const std::string& after, int limit);
Result<std::optional<Group>> get_group(db::Tx& tx, const std::string& id);
// The org's group with this slug (or id).
Result<std::optional<Group>> find_group(db::Tx& tx, const std::string& org_id, const std::string& slug_or_id);
Result<Group> update_group(db::Tx& tx, const Actor& actor, const Group& g, const std::string& name, Millis now);
Status delete_group(db::Tx& tx, const Actor& actor, const Group& g, Millis now);
Status add_group_member(db::Tx& tx, const Actor& actor, const Group& g, const std::string& user_id, Millis now);
Result<nlohmann::json> list_group_members(db::Tx& tx, const std::string& group_id, const std::string& after, int limit);
Result<std::optional<std::int64_t>> group_member_version(db::Tx& tx, const std::string& group_id, const std::string& user_id);
Status remove_group_member(db::Tx& tx, const Actor& actor, const Group& g, const std::string& user_id, Millis now);

// ---- roles
struct Role {
  std::string id, org_id, name, description;
  std::vector<std::string> permissions;
  bool builtin = false;
  std::int64_t version = 1;
  nlohmann::json json() const;
};
// Each permission well-formed and at most org-wide (400 otherwise).
Status check_role_permissions(const std::vector<std::string>& perms);
Result<std::vector<Role>> list_roles(db::Tx& tx, const std::string& org_id);
Result<std::optional<Role>> get_role(db::Tx& tx, const std::string& id);
Result<Role> create_role(db::Tx& tx, const Actor& actor, const std::string& org_id, const std::string& name,
                         const std::string& description, const std::vector<std::string>& perms, Millis now);
Result<Role> update_role(db::Tx& tx, const Actor& actor, const Role& r, const std::optional<std::string>& description,
                         const std::optional<std::vector<std::string>>& perms, Millis now);
Status delete_role(db::Tx& tx, const Actor& actor, const Role& r, Millis now);

// ---- invitations: "inv_<id>.<nonce>.<hmac>", HMAC-SHA256 with the instance secret
struct NewInvitation {
  std::string token;
  nlohmann::json json;
};
Result<NewInvitation> create_invitation(db::Tx& tx, const Actor& actor, const std::string& secret,
                                        const std::string& org_id, const std::string& role_id, const std::string& email,
                                        Millis expires, Millis now);
Result<nlohmann::json> list_invitations(db::Tx& tx, const std::string& org_id, const std::string& after, int limit, Millis now);
Result<std::optional<nlohmann::json>> get_invitation(db::Tx& tx, const std::string& id, Millis now);
Status revoke_invitation(db::Tx& tx, const Actor& actor, const std::string& id, const std::string& org_id, Millis now);
// Checks the token (its HMAC, in constant time, then that the invitation is open) without
// consuming it: cheap, so a bad token is refused before any password is hashed. Returns org and role.
Result<std::pair<std::string, std::string>> check_invitation(db::Tx& tx, const std::string& secret,
                                                             const std::string& token, Millis now);
// Checks the token and consumes the invitation (once); returns org id and role id.
Result<std::pair<std::string, std::string>> consume_invitation(db::Tx& tx, const std::string& secret,
                                                               const std::string& token, const std::string& user_id,
                                                               Millis now);

}  // namespace atrium::identity
