#include "identity/orgs.hpp"

#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "http/etag.hpp"
#include "identity/columns.hpp"
#include "identity/policy.hpp"
#include "quota/quota.hpp"

namespace atrium::identity {
namespace {

using http::etag_of;

template <typename F>
nlohmann::json items_of(const db::Rows& rows, F f) {
  nlohmann::json items = nlohmann::json::array();
  for (auto& r : rows) items.push_back(f(r));
  return items;
}

// The rows as objects of T, each shown by its json().
template <typename T>
Result<nlohmann::json> json_items(const db::Columns<T>& cols, const db::Rows& rows) {
  nlohmann::json items = nlohmann::json::array();
  for (auto& t : TRY(cols.read_all(rows))) items.push_back(t.json());
  return items;
}

std::string role_name(const std::string& role_id, const std::string& custom_name) {
  if (const auto* b = find_builtin(role_id)) return b->name;
  return custom_name;
}

Status stale() {
  return fail(ErrorCode::kPreconditionFailed, "etag-mismatch", "the object changed meanwhile; fetch it again and retry");
}

}  // namespace

// ---------------------------------------------------------------- orgs

Result<Org> create_org(db::Tx& tx, const Actor& actor, const std::string& slug, const std::string& name, Millis now) {
  Org o{.id = new_id("org", now), .slug = slug, .name = name, .created = now};
  auto ins = tx.exec("INSERT INTO orgs (id, slug, name, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?)",
                     {o.id, slug, name, now, now});
  if (!ins) {
    if (ins.error().code == ErrorCode::kAlreadyExists)
      return fail(ErrorCode::kAlreadyExists, "slug-taken", "an organisation with slug '" + slug + "' exists");
    return std::unexpected(ins.error());
  }
  TRY_STATUS(audit::record(tx, actor, {o.id, "org.create", "org", o.id, {{"slug", slug}, {"name", name}}}, now));
  return o;
}

Result<nlohmann::json> list_orgs(db::Tx& tx, bool all, const std::string& user_id, const std::string& after, int limit) {
  // Each with its member count (a correlated count over org_members' primary key); a member does
  // not see an org that is disabled.
  std::string cols = kOrgColumns.list("o") + ", (SELECT COUNT(*) FROM org_members c WHERE c.org_id = o.id)";
  auto rows = all ? TRY(tx.query("SELECT " + cols + " FROM orgs o WHERE o.id > ? ORDER BY o.id LIMIT ?",
                                 {after, std::int64_t{limit}}))
                  : TRY(tx.query("SELECT " + cols +
                                     " FROM orgs o JOIN org_members m ON m.org_id = o.id AND m.user_id = ? "
                                     "WHERE o.id > ? AND o.disabled = 0 ORDER BY o.id LIMIT ?",
                                 {user_id, after, std::int64_t{limit}}));
  nlohmann::json items = nlohmann::json::array();
  for (auto& r : rows) {
    auto j = TRY(kOrgColumns.read(r)).json();
    j["members"] = r.i64(kOrgColumns.width());
    items.push_back(std::move(j));
  }
  return items;
}

Result<Org> update_org(db::Tx& tx, const Actor& actor, const Org& org, const std::optional<std::string>& name,
                       std::optional<bool> disabled, Millis now) {
  Org o = org;
  if (name) o.name = *name;
  if (disabled) o.disabled = *disabled;
  auto n = TRY(tx.exec("UPDATE orgs SET name = ?, disabled = ?, updated_ms = ?, version = version + 1 "
                       "WHERE id = ? AND version = ?",
                       {o.name, std::int64_t{o.disabled ? 1 : 0}, now, org.id, org.version}));
  if (n == 0) return std::unexpected(stale().error());
  if (name) TRY_STATUS(audit::record(tx, actor, {org.id, "org.update", "org", org.id, {{"name", *name}}}, now));
  // Disabling is its own event: who shut an org's members out, and who let them back in.
  if (disabled && *disabled != org.disabled)
    TRY_STATUS(audit::record(tx, actor, {org.id, *disabled ? "org.disable" : "org.enable", "org", org.id,
                                         {{"slug", org.slug}}}, now));
  o.version++;
  return o;
}

Status delete_org(db::Tx& tx, const Actor& actor, const Org& org, Millis now) {
  TRY(tx.exec("DELETE FROM group_members WHERE group_id IN (SELECT id FROM org_groups WHERE org_id = ?)", {org.id}));
  TRY(tx.exec("DELETE FROM org_groups WHERE org_id = ?", {org.id}));
  TRY(tx.exec("DELETE FROM org_members WHERE org_id = ?", {org.id}));
  TRY(tx.exec("DELETE FROM roles WHERE org_id = ?", {org.id}));
  TRY(tx.exec("DELETE FROM invitations WHERE org_id = ?", {org.id}));
  TRY_STATUS(quota::remove_org(tx, org.id));
  auto n = TRY(tx.exec("DELETE FROM orgs WHERE id = ? AND version = ?", {org.id, org.version}));
  if (n == 0) return stale();
  return audit::record(tx, actor, {org.id, "org.delete", "org", org.id, {{"slug", org.slug}}}, now);
}

// ---------------------------------------------------------------- members

nlohmann::json Member::json() const {
  return {{"user_id", user_id},       {"username", username},     {"display_name", display_name}, {"role", role},
          {"role_id", role_id},       {"last_admin", last_admin}, {"etag", etag_of(version)}};
}

static const db::Columns<Member> kMemberColumns{
    db::col<&Member::user_id>("m.user_id"),
    db::col<&Member::username>("u.username"),
    db::col<&Member::role_id>("m.role_id"),
    db::col<Member>("r.name",  // a custom role's name; after role_id, which names a built-in one
                    [](Member& m, const db::Row& r, std::size_t i) -> Status {
                      m.role = role_name(m.role_id, r.str(i));
                      return {};
                    }),
    db::col<&Member::version>("m.version"),
    db::col<&Member::display_name>("u.display_name"),
};

static const std::string kMemberSelect = "SELECT " + kMemberColumns.list() +
                                         " FROM org_members m JOIN users u ON u.id = m.user_id "
                                         "LEFT JOIN roles r ON r.id = m.role_id ";

static Result<std::int64_t> admin_count(db::Tx& tx, const std::string& org_id) {
  auto row = TRY(tx.query_one("SELECT COUNT(*) FROM org_members WHERE org_id = ? AND role_id = 'role_org-admin'", {org_id}));
  return row ? row->i64(0) : 0;
}

static void mark_last_admin(Member& m, std::int64_t admins) {
  m.last_admin = m.role_id == "role_org-admin" && admins <= 1;
}

Result<nlohmann::json> list_members(db::Tx& tx, const std::string& org_id, const std::string& after, int limit,
                                    const MemberFilter& filter) {
  std::string sql = std::string(kMemberSelect) + "WHERE m.org_id = ? AND m.user_id > ? ";
  std::vector<db::Value> args{org_id, after};
  if (!filter.q.empty()) {
    sql += "AND (u.username LIKE ? ESCAPE '\\' OR u.display_name LIKE ? ESCAPE '\\') ";
    args.push_back(contains_pattern(filter.q));
    args.push_back(contains_pattern(filter.q));
  }
  if (!filter.role_id.empty()) {
    sql += "AND m.role_id = ? ";
    args.push_back(filter.role_id);
  }
  args.push_back(std::int64_t{limit});
  auto rows = TRY(tx.query(sql + "ORDER BY m.user_id LIMIT ?", args));
  auto admins = TRY(admin_count(tx, org_id));
  nlohmann::json items = nlohmann::json::array();
  for (auto& m : TRY(kMemberColumns.read_all(rows))) {
    mark_last_admin(m, admins);
    items.push_back(m.json());
  }
  return items;
}

Result<std::optional<Member>> get_member(db::Tx& tx, const std::string& org_id, const std::string& user_id) {
  auto row = TRY(tx.query_one(std::string(kMemberSelect) + "WHERE m.org_id = ? AND m.user_id = ?", {org_id, user_id}));
  if (!row) return std::optional<Member>{};
  auto m = TRY(kMemberColumns.read(*row));
  mark_last_admin(m, TRY(admin_count(tx, org_id)));
  return std::optional<Member>{std::move(m)};
}

// The last org-admin of an org cannot be removed or demoted: someone must be able to administer it.
static Status keep_an_admin(db::Tx& tx, const std::string& org_id, const Member& m) {
  if (m.role_id != "role_org-admin") return {};
  if (TRY(admin_count(tx, org_id)) <= 1)
    return fail(ErrorCode::kFailedPrecondition, "last-org-admin",
                "this is the organisation's last org-admin; make someone else org-admin first");
  return {};
}

Status set_member_role(db::Tx& tx, const Actor& actor, const std::string& org_id, const Member& m,
                       const std::string& role_id, Millis now) {
  if (role_id != "role_org-admin") TRY_STATUS(keep_an_admin(tx, org_id, m));
  auto n = TRY(tx.exec("UPDATE org_members SET role_id = ?, version = version + 1 WHERE org_id = ? AND user_id = ? AND version = ?",
                       {role_id, org_id, m.user_id, m.version}));
  if (n == 0) return stale();
  return audit::record(tx, actor, {org_id, "org.member.update", "user", m.user_id, {{"role", role_id}, {"was", m.role_id}}},
                       now);
}

Status remove_member(db::Tx& tx, const Actor& actor, const std::string& org_id, const Member& m, Millis now) {
  TRY_STATUS(keep_an_admin(tx, org_id, m));
  TRY(tx.exec("DELETE FROM group_members WHERE user_id = ? AND group_id IN (SELECT id FROM org_groups WHERE org_id = ?)",
              {m.user_id, org_id}));
  auto n = TRY(tx.exec("DELETE FROM org_members WHERE org_id = ? AND user_id = ? AND version = ?",
                       {org_id, m.user_id, m.version}));
  if (n == 0) return stale();
  return audit::record(tx, actor, {org_id, "org.member.remove", "user", m.user_id, {{"role", m.role_id}}}, now);
}

// ---------------------------------------------------------------- groups

nlohmann::json Group::json() const {
  return {{"id", id}, {"org_id", org_id}, {"slug", slug}, {"name", name}, {"created_at", format_rfc3339(created)},
          {"etag", etag_of(version)}};
}

static const db::Columns<Group> kGroupColumns{
    db::col<&Group::id>("id"),          db::col<&Group::org_id>("org_id"),       db::col<&Group::slug>("slug"),
    db::col<&Group::name>("name"),      db::col<&Group::created>("created_ms"), db::col<&Group::version>("version"),
};

Result<Group> create_group(db::Tx& tx, const Actor& actor, const std::string& org_id, const std::string& slug,
                           const std::string& name, Millis now) {
  Group g{new_id("grp", now), org_id, slug, name, now, 1};
  auto ins = tx.exec("INSERT INTO org_groups (id, org_id, slug, name, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?)",
                     {g.id, org_id, slug, name, now, now});
  if (!ins) {
    if (ins.error().code == ErrorCode::kAlreadyExists)
      return fail(ErrorCode::kAlreadyExists, "slug-taken", "a group with slug '" + slug + "' exists in this organisation");
    return std::unexpected(ins.error());
  }
  TRY_STATUS(audit::record(tx, actor, {org_id, "group.create", "group", g.id, {{"slug", slug}, {"name", name}}}, now));
  return g;
}

Result<nlohmann::json> list_groups(db::Tx& tx, const std::string& org_id, const std::string& after, int limit) {
  auto rows = TRY(tx.query("SELECT " + kGroupColumns.list() + " FROM org_groups WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?",
                           {org_id, after, std::int64_t{limit}}));
  return json_items(kGroupColumns, rows);
}

Result<std::optional<Group>> get_group(db::Tx& tx, const std::string& id) {
  auto row = TRY(tx.query_one("SELECT " + kGroupColumns.list() + " FROM org_groups WHERE id = ?", {id}));
  if (!row) return std::optional<Group>{};
  return std::optional<Group>{TRY(kGroupColumns.read(*row))};
}

Result<std::optional<Group>> find_group(db::Tx& tx, const std::string& org_id, const std::string& slug_or_id) {
  auto row = TRY(tx.query_one("SELECT " + kGroupColumns.list() + " FROM org_groups WHERE org_id = ? AND (slug = ? OR id = ?)",
                              {org_id, slug_or_id, slug_or_id}));
  if (!row) return std::optional<Group>{};
  return std::optional<Group>{TRY(kGroupColumns.read(*row))};
}

Result<Group> update_group(db::Tx& tx, const Actor& actor, const Group& g, const std::string& name, Millis now) {
  auto n = TRY(tx.exec("UPDATE org_groups SET name = ?, updated_ms = ?, version = version + 1 WHERE id = ? AND version = ?",
                       {name, now, g.id, g.version}));
  if (n == 0) return std::unexpected(stale().error());
  TRY_STATUS(audit::record(tx, actor, {g.org_id, "group.update", "group", g.id, {{"name", name}}}, now));
  Group out = g;
  out.name = name;
  out.version++;
  return out;
}

Status delete_group(db::Tx& tx, const Actor& actor, const Group& g, Millis now) {
  TRY(tx.exec("DELETE FROM group_members WHERE group_id = ?", {g.id}));
  TRY_STATUS(quota::remove_subject(tx, "group", g.id));
  auto n = TRY(tx.exec("DELETE FROM org_groups WHERE id = ? AND version = ?", {g.id, g.version}));
  if (n == 0) return stale();
  return audit::record(tx, actor, {g.org_id, "group.delete", "group", g.id, {{"slug", g.slug}}}, now);
}

Status add_group_member(db::Tx& tx, const Actor& actor, const Group& g, const std::string& user_id, Millis now) {
  auto in_org = TRY(org_role_of(tx, g.org_id, user_id));
  if (!in_org)
    return fail(Error(ErrorCode::kInvalidArgument, "not-org-member", "the user must be a member of the group's organisation")
                    .with("field", "user_id"));
  auto ins = tx.exec("INSERT INTO group_members (group_id, user_id, created_ms) VALUES (?, ?, ?)", {g.id, user_id, now});
  if (!ins) {
    if (ins.error().code == ErrorCode::kAlreadyExists)
      return fail(ErrorCode::kAlreadyExists, "already-member", "the user is already in this group");
    return std::unexpected(ins.error());
  }
  return audit::record(tx, actor, {g.org_id, "group.member.add", "user", user_id, {{"group_id", g.id}}}, now);
}

Result<nlohmann::json> list_group_members(db::Tx& tx, const std::string& group_id, const std::string& after, int limit) {
  auto rows = TRY(tx.query("SELECT gm.user_id, u.username, gm.version FROM group_members gm JOIN users u ON u.id = gm.user_id "
                           "WHERE gm.group_id = ? AND gm.user_id > ? ORDER BY gm.user_id LIMIT ?",
                           {group_id, after, std::int64_t{limit}}));
  return items_of(rows, [](const db::Row& r) {
    return nlohmann::json{{"user_id", r.str(0)}, {"username", r.str(1)}, {"etag", etag_of(r.i64(2))}};
  });
}

Result<std::optional<std::int64_t>> group_member_version(db::Tx& tx, const std::string& group_id, const std::string& user_id) {
  auto row = TRY(tx.query_one("SELECT version FROM group_members WHERE group_id = ? AND user_id = ?", {group_id, user_id}));
  if (!row) return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>{row->i64(0)};
}

Status remove_group_member(db::Tx& tx, const Actor& actor, const Group& g, const std::string& user_id, Millis now) {
  TRY(tx.exec("DELETE FROM group_members WHERE group_id = ? AND user_id = ?", {g.id, user_id}));
  return audit::record(tx, actor, {g.org_id, "group.member.remove", "user", user_id, {{"group_id", g.id}}}, now);
}

// ---------------------------------------------------------------- roles

nlohmann::json Role::json() const {
  return {{"id", id},
          {"org_id", org_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(org_id)},
          {"name", name},
          {"description", description},
          {"permissions", permissions},
          {"builtin", builtin},
          {"etag", etag_of(version)}};
}

static const db::Columns<Role> kRoleColumns{
    db::col<&Role::id>("id"),
    db::col<&Role::org_id>("org_id"),
    db::col<&Role::name>("name"),
    db::col<&Role::description>("description"),
    db::col<&Role::permissions>("permissions"),
    db::col<&Role::version>("version"),
};

static Role builtin_role(const BuiltinRole& b) { return Role{b.id, "", b.name, b.description, b.permissions, true, 1}; }

Result<std::vector<Role>> list_roles(db::Tx& tx, const std::string& org_id) {
  std::vector<Role> out;
  for (auto& b : builtin_roles())
    if (!b.instance) out.push_back(builtin_role(b));
  auto rows = TRY(tx.query("SELECT " + kRoleColumns.list() + " FROM roles WHERE org_id = ? ORDER BY id", {org_id}));
  for (auto& r : TRY(kRoleColumns.read_all(rows))) out.push_back(std::move(r));
  return out;
}

Result<std::optional<Role>> get_role(db::Tx& tx, const std::string& id) {
  if (const auto* b = find_builtin(id); b && b->id == id) return std::optional<Role>{builtin_role(*b)};
  auto row = TRY(tx.query_one("SELECT " + kRoleColumns.list() + " FROM roles WHERE id = ?", {id}));
  if (!row) return std::optional<Role>{};
  return std::optional<Role>{TRY(kRoleColumns.read(*row))};
}

Status check_role_permissions(const std::vector<std::string>& perms) {
  if (perms.empty()) return invalid("permissions must not be empty");
  for (auto& p : perms) {
    auto g = TRY(parse_grant(p, true));
    if (g.scope == "all" || g.scope == "*")
      return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                        "permission '" + p + "': an organisation's role can reach at most scope 'org'")
                      .with("field", "permissions"));
  }
  return {};
}

Result<Role> create_role(db::Tx& tx, const Actor& actor, const std::string& org_id, const std::string& name,
                         const std::string& description, const std::vector<std::string>& perms, Millis now) {
  if (find_builtin(name)) return fail(ErrorCode::kAlreadyExists, "name-taken", "'" + name + "' is a built-in role");
  TRY_STATUS(check_role_permissions(perms));
  Role r{new_id("rol", now), org_id, name, description, perms, false, 1};
  nlohmann::json pj = perms;
  auto ins = tx.exec("INSERT INTO roles (id, org_id, name, description, permissions, created_ms, updated_ms) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     {r.id, org_id, name, description, pj.dump(), now, now});
  if (!ins) {
    if (ins.error().code == ErrorCode::kAlreadyExists)
      return fail(ErrorCode::kAlreadyExists, "name-taken", "a role named '" + name + "' exists in this organisation");
    return std::unexpected(ins.error());
  }
  TRY_STATUS(audit::record(tx, actor, {org_id, "role.create", "role", r.id, {{"name", name}, {"permissions", pj}}}, now));
  return r;
}

Result<Role> update_role(db::Tx& tx, const Actor& actor, const Role& r, const std::optional<std::string>& description,
                         const std::optional<std::vector<std::string>>& perms, Millis now) {
  Role n = r;
  if (description) n.description = *description;
  if (perms) {
    TRY_STATUS(check_role_permissions(*perms));
    n.permissions = *perms;
  }
  nlohmann::json pj = n.permissions;
  auto c = TRY(tx.exec("UPDATE roles SET description = ?, permissions = ?, updated_ms = ?, version = version + 1 "
                       "WHERE id = ? AND version = ?",
                       {n.description, pj.dump(), now, r.id, r.version}));
  if (c == 0) return std::unexpected(stale().error());
  TRY_STATUS(audit::record(tx, actor, {r.org_id, "role.update", "role", r.id, {{"permissions", pj}}}, now));
  n.version++;
  return n;
}

Status delete_role(db::Tx& tx, const Actor& actor, const Role& r, Millis now) {
  auto used = TRY(tx.query_one("SELECT COUNT(*) FROM org_members WHERE role_id = ?", {r.id}));
  auto invited = TRY(tx.query_one(
      "SELECT COUNT(*) FROM invitations WHERE role_id = ? AND used_ms IS NULL AND revoked_ms IS NULL AND expires_ms > ?",
      {r.id, now}));
  if ((used && used->i64(0) > 0) || (invited && invited->i64(0) > 0))
    return fail(ErrorCode::kFailedPrecondition, "role-in-use",
                "members or open invitations still have this role; give them another role first");
  auto n = TRY(tx.exec("DELETE FROM roles WHERE id = ? AND version = ?", {r.id, r.version}));
  if (n == 0) return stale();
  return audit::record(tx, actor, {r.org_id, "role.delete", "role", r.id, {{"name", r.name}}}, now);
}

// ---------------------------------------------------------------- invitations

namespace {
// An invitation as listed (never its nonce).
struct Invitation {
  std::string id, org_id, role_id, email, role_name, created_by;
  Millis created = 0, expires = 0;
  std::optional<Millis> used, revoked;
  std::int64_t version = 1;
};

const db::Columns<Invitation> kInvitationColumns{
    db::col<&Invitation::id>("i.id"),
    db::col<&Invitation::org_id>("i.org_id"),
    db::col<&Invitation::role_id>("i.role_id"),
    db::col<&Invitation::email>("i.email"),
    db::col<&Invitation::created>("i.created_ms"),
    db::col<&Invitation::expires>("i.expires_ms"),
    db::col<&Invitation::used>("i.used_ms"),
    db::col<&Invitation::revoked>("i.revoked_ms"),
    db::col<&Invitation::version>("i.version"),
    db::col<&Invitation::role_name>("r.name"),
    db::col<&Invitation::created_by>("i.created_by"),
};

const std::string kInvSelect = "SELECT " + kInvitationColumns.list() +
                               " FROM invitations i LEFT JOIN roles r ON r.id = i.role_id ";

Result<nlohmann::json> invitation_json(const db::Row& r, Millis now) {
  auto i = TRY(kInvitationColumns.read(r));
  std::string state = i.revoked ? "revoked" : i.used ? "used" : i.expires <= now ? "expired" : "open";
  return nlohmann::json{{"id", i.id},
                        {"org_id", i.org_id},
                        {"role_id", i.role_id},
                        {"role", role_name(i.role_id, i.role_name)},
                        {"email", i.email},
                        {"created_at", format_rfc3339(i.created)},
                        {"expires_at", format_rfc3339(i.expires)},
                        {"state", state},
                        {"created_by", i.created_by},
                        {"etag", etag_of(i.version)}};
}
}  // namespace

Result<NewInvitation> create_invitation(db::Tx& tx, const Actor& actor, const std::string& secret,
                                        const std::string& org_id, const std::string& role_id, const std::string& email,
                                        Millis expires, Millis now) {
  std::string id = new_id("inv", now);
  std::string nonce = crypto::base64url(crypto::random_bytes(24));
  std::string body = id + "." + nonce;
  std::string token = body + "." + crypto::base64url(crypto::hmac_sha256(secret, body));
  TRY(tx.exec("INSERT INTO invitations (id, org_id, role_id, email, nonce_hash, created_by, created_ms, expires_ms) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
              {id, org_id, role_id, email, crypto::sha256_hex(nonce), actor.user_id, now, expires}));
  TRY_STATUS(audit::record(tx, actor,
                           {org_id, "invitation.create", "invitation", id,
                            {{"role", role_id}, {"email", email}, {"expires_at", format_rfc3339(expires)}}},
                           now));
  auto row = TRY(tx.query_one(kInvSelect + "WHERE i.id = ?", {id}));
  return NewInvitation{token, TRY(invitation_json(*row, now))};
}

Result<nlohmann::json> list_invitations(db::Tx& tx, const std::string& org_id, const std::string& after, int limit, Millis now) {
  auto rows = TRY(tx.query(kInvSelect + "WHERE i.org_id = ? AND i.id > ? ORDER BY i.id LIMIT ?",
                           {org_id, after, std::int64_t{limit}}));
  nlohmann::json items = nlohmann::json::array();
  for (auto& r : rows) items.push_back(TRY(invitation_json(r, now)));
  return items;
}

Result<std::optional<nlohmann::json>> get_invitation(db::Tx& tx, const std::string& id, Millis now) {
  auto row = TRY(tx.query_one(kInvSelect + "WHERE i.id = ?", {id}));
  if (!row) return std::optional<nlohmann::json>{};
  return std::optional<nlohmann::json>{TRY(invitation_json(*row, now))};
}

Status revoke_invitation(db::Tx& tx, const Actor& actor, const std::string& id, const std::string& org_id, Millis now) {
  TRY(tx.exec("UPDATE invitations SET revoked_ms = ?, version = version + 1 WHERE id = ? AND revoked_ms IS NULL", {now, id}));
  return audit::record(tx, actor, {org_id, "invitation.revoke", "invitation", id, {}}, now);
}

namespace {
struct InvitationToken {
  std::string id, nonce;
};
Error invitation_invalid() {
  return Error(ErrorCode::kInvalidArgument, "invitation-invalid",
               "this invitation is not valid: it may be used, expired, revoked or mistyped")
      .with("field", "token");
}
// The token's id and nonce when its HMAC is right (no database read).
std::optional<InvitationToken> parse_invitation_token(const std::string& secret, const std::string& token) {
  auto d2 = token.rfind('.');
  if (d2 == std::string::npos || token.size() > 256) return std::nullopt;
  std::string body = token.substr(0, d2);
  auto mac = crypto::base64url_decode(std::string_view(token).substr(d2 + 1));
  if (!mac || !crypto::constant_time_equal(*mac, crypto::hmac_sha256(secret, body))) return std::nullopt;
  auto d1 = body.find('.');
  if (d1 == std::string::npos) return std::nullopt;
  return InvitationToken{body.substr(0, d1), body.substr(d1 + 1)};
}
// The open invitation the token names (nullopt: none, or a wrong nonce). An invitation to a
// disabled org is refused outright: accepting it would make a member with no role there.
Result<std::optional<db::Row>> open_invitation(db::Tx& tx, const InvitationToken& t, Millis now) {
  auto row = TRY(tx.query_one("SELECT i.org_id, i.role_id, i.nonce_hash, o.disabled FROM invitations i "
                              "JOIN orgs o ON o.id = i.org_id WHERE i.id = ? AND i.used_ms IS NULL AND "
                              "i.revoked_ms IS NULL AND i.expires_ms > ?",
                              {t.id, now}));
  if (!row || !crypto::constant_time_equal(row->str(2), crypto::sha256_hex(t.nonce))) return std::optional<db::Row>{};
  if (row->i64(3) != 0)
    return fail(ErrorCode::kFailedPrecondition, "org-disabled",
                "this invitation's organisation is disabled; ask its administrators or the instance's");
  return row;
}
}  // namespace

Result<std::pair<std::string, std::string>> check_invitation(db::Tx& tx, const std::string& secret,
                                                             const std::string& token, Millis now) {
  auto t = parse_invitation_token(secret, token);
  if (!t) return std::unexpected(invitation_invalid());
  auto row = TRY(open_invitation(tx, *t, now));
  if (!row) return std::unexpected(invitation_invalid());
  return std::pair{row->str(0), row->str(1)};
}

Result<std::pair<std::string, std::string>> consume_invitation(db::Tx& tx, const std::string& secret,
                                                               const std::string& token, const std::string& user_id,
                                                               Millis now) {
  auto t = parse_invitation_token(secret, token);
  if (!t) return std::unexpected(invitation_invalid());
  auto row = TRY(open_invitation(tx, *t, now));
  if (!row) return std::unexpected(invitation_invalid());
  // Consume exactly once, even under concurrent use of the same link.
  auto n = TRY(tx.exec("UPDATE invitations SET used_ms = ?, used_by = ?, version = version + 1 WHERE id = ? AND used_ms IS NULL",
                       {now, user_id, t->id}));
  if (n == 0) return std::unexpected(invitation_invalid());
  return std::pair{row->str(0), row->str(1)};
}

}  // namespace atrium::identity
