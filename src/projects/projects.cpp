#include "projects/projects.hpp"

#include "audit/audit.hpp"
#include "core/ids.hpp"
#include "db/columns.hpp"
#include "db/in_list.hpp"
#include "http/etag.hpp"

namespace atrium::projects {

namespace {

Notifier& notifier() {
  static Notifier n;
  return n;
}

// changes() fires once `tx` commits.
void changed_on_commit(db::Tx& tx) {
  tx.on_end([](bool committed) {
    if (committed) notifier().notify();
  });
}

}  // namespace

const Notifier& changes() { return notifier(); }

std::vector<db::Migration> migrations() {
  return {{1, "projects",
           R"SQL(
CREATE TABLE projects (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, slug TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,
  tags TEXT NOT NULL, visibility TEXT NOT NULL, group_id TEXT NOT NULL DEFAULT '', archived INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 1,
  UNIQUE (org_id, slug));
CREATE INDEX projects_org ON projects (org_id, id);
CREATE TABLE project_members (
  project_id TEXT NOT NULL REFERENCES projects(id), user_id TEXT NOT NULL, role TEXT NOT NULL,
  created_ms INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (project_id, user_id));
CREATE INDEX project_members_user ON project_members (user_id);
CREATE VIRTUAL TABLE projects_fts USING fts5(project_id UNINDEXED, name, description, tags, tokenize = 'unicode61');
)SQL"}};
}

namespace {

// Selected from `projects p` (list("p")); queries that join project_members add m.role after them.
const db::Columns<Project> kProject{
    db::col<&Project::id>("id"),
    db::col<&Project::org_id>("org_id"),
    db::col<&Project::slug>("slug"),
    db::col<&Project::name>("name"),
    db::col<&Project::description>("description"),
    db::col<&Project::tags>("tags"),
    db::col<&Project::visibility>("visibility"),
    db::col<&Project::group_id>("group_id"),
    db::col<&Project::archived>("archived"),
    db::col<&Project::created_by>("created_by"),
    db::col<&Project::created>("created_ms"),
    db::col<&Project::updated>("updated_ms"),
    db::col<&Project::version>("version"),
};

// A project and the caller's role in it (m.role, after the project's columns).
Result<Project> with_role(const db::Row& r) {
  Project p = TRY(kProject.read(r));
  p.my_role = r.str(kProject.width());
  return p;
}

std::string join_tags(const std::vector<std::string>& tags) {
  std::string s;
  for (auto& t : tags) s += (s.empty() ? "" : " ") + t;
  return s;
}

Status index(db::Tx& tx, const Project& p) {
  TRY(tx.exec("DELETE FROM projects_fts WHERE project_id = ?", {p.id}));
  TRY(tx.exec("INSERT INTO projects_fts (project_id, name, description, tags) VALUES (?, ?, ?, ?)",
              {p.id, p.name + " " + p.slug, p.description, join_tags(p.tags)}));
  return {};
}

Status stale() {
  return fail(ErrorCode::kPreconditionFailed, "etag-mismatch", "the project changed meanwhile; fetch it again and retry");
}

}  // namespace

nlohmann::json Project::json() const {
  return {{"id", id},
          {"org_id", org_id},
          {"slug", slug},
          {"name", name},
          {"description", description},
          {"tags", tags},
          {"visibility", visibility},
          {"group_id", group_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(group_id)},
          {"archived", archived},
          {"created_by", created_by},
          {"created_at", format_rfc3339(created)},
          {"updated_at", format_rfc3339(updated)},
          {"my_role", my_role.empty() ? nlohmann::json(nullptr) : nlohmann::json(my_role)},
          {"etag", etag()}};
}

std::string fts_query(std::string_view text) {
  std::string out, word;
  auto flush = [&] {
    if (word.empty()) return;
    out += (out.empty() ? "" : " ") + std::string("\"") + word + "\"*";
    word.clear();
  };
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x80 || std::isalnum(u)) word += c;
    else flush();
  }
  flush();
  return out;
}

Result<Project> create(db::Tx& tx, const Actor& actor, const std::string& org_id, const std::string& slug,
                       const std::string& name, const std::string& description, const std::vector<std::string>& tags,
                       const std::string& visibility, const std::string& group_id, Millis now) {
  Project p;
  p.id = new_id("prj", now);
  p.org_id = org_id;
  p.slug = slug;
  p.name = name;
  p.description = description;
  p.tags = tags;
  p.visibility = visibility;
  p.group_id = group_id;
  p.created_by = actor.user_id;
  p.created = p.updated = now;
  p.my_role = "owner";
  nlohmann::json tj = tags;
  auto ins = tx.exec("INSERT INTO projects (id, org_id, slug, name, description, tags, visibility, group_id, created_by, "
                     "created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     {p.id, org_id, slug, name, description, tj.dump(), visibility, group_id, actor.user_id, now, now});
  if (!ins) {
    if (ins.error().code == ErrorCode::kAlreadyExists)
      return fail(ErrorCode::kAlreadyExists, "slug-taken", "a project with slug '" + slug + "' exists in this organisation");
    return std::unexpected(ins.error());
  }
  TRY(tx.exec("INSERT INTO project_members (project_id, user_id, role, created_ms) VALUES (?, ?, 'owner', ?)",
              {p.id, actor.user_id, now}));
  TRY_STATUS(index(tx, p));
  TRY_STATUS(audit::record(tx, actor,
                           {org_id, "project.create", "project", p.id,
                            {{"slug", slug}, {"name", name}, {"visibility", visibility}}},
                           now));
  return p;
}

Result<std::optional<Project>> get(db::Tx& tx, const std::string& id) {
  auto row = TRY(tx.query_one("SELECT " + kProject.list("p") + " FROM projects p WHERE p.id = ?", {id}));
  if (!row) return std::optional<Project>{};
  return std::optional<Project>{TRY(kProject.read(*row))};
}

Result<std::optional<Project>> get_for(db::Tx& tx, const std::string& id, const std::string& user_id) {
  auto row = TRY(tx.query_one("SELECT " + kProject.list("p") +
                                  ", m.role FROM projects p LEFT JOIN project_members m ON m.project_id = p.id AND "
                                  "m.user_id = ? WHERE p.id = ?",
                              {user_id, id}));
  if (!row) return std::optional<Project>{};
  return std::optional<Project>{TRY(with_role(*row))};
}

Result<std::optional<Project>> find_for(db::Tx& tx, const std::string& org_id, const std::string& slug,
                                        const std::string& user_id) {
  auto row = TRY(tx.query_one("SELECT id FROM projects WHERE org_id = ? AND slug = ?", {org_id, slug}));
  if (!row) return std::optional<Project>{};
  return get_for(tx, row->str(0), user_id);
}

http::Target target_of(const Project& p) {
  return http::Target{.org_id = p.org_id,
                      .owner_id = p.created_by,
                      .group_id = p.group_id,
                      .project_role = p.my_role,
                      .visibility = p.visibility};
}

Result<Project> update(db::Tx& tx, const Actor& actor, const Project& p, const Changes& c, Millis now) {
  Project n = p;
  nlohmann::json changes = nlohmann::json::object();
  if (c.name && *c.name != p.name) { n.name = *c.name; changes["name"] = *c.name; }
  if (c.description && *c.description != p.description) { n.description = *c.description; changes["description"] = *c.description; }
  if (c.visibility && *c.visibility != p.visibility) { n.visibility = *c.visibility; changes["visibility"] = *c.visibility; }
  if (c.group_id && *c.group_id != p.group_id) { n.group_id = *c.group_id; changes["group_id"] = *c.group_id; }
  if (c.tags && *c.tags != p.tags) { n.tags = *c.tags; changes["tags"] = *c.tags; }
  if (c.archived && *c.archived != p.archived) { n.archived = *c.archived; changes["archived"] = *c.archived; }
  if (changes.empty()) return p;
  nlohmann::json tj = n.tags;
  auto k = TRY(tx.exec("UPDATE projects SET name = ?, description = ?, tags = ?, visibility = ?, group_id = ?, archived = ?, "
                       "updated_ms = ?, version = version + 1 WHERE id = ? AND version = ?",
                       {n.name, n.description, tj.dump(), n.visibility, n.group_id, std::int64_t{n.archived ? 1 : 0}, now,
                        p.id, p.version}));
  if (k == 0) return std::unexpected(stale().error());
  changed_on_commit(tx);
  n.version++;
  n.updated = now;
  TRY_STATUS(index(tx, n));
  std::string action = changes.size() == 1 && changes.contains("archived")
                           ? (n.archived ? "project.archive" : "project.unarchive")
                           : "project.update";
  TRY_STATUS(audit::record(tx, actor, {p.org_id, action, "project", p.id, changes}, now));
  return n;
}

Status remove(db::Tx& tx, const Actor& actor, const Project& p, Millis now) {
  TRY(tx.exec("DELETE FROM project_members WHERE project_id = ?", {p.id}));
  TRY(tx.exec("DELETE FROM projects_fts WHERE project_id = ?", {p.id}));
  auto n = TRY(tx.exec("DELETE FROM projects WHERE id = ? AND version = ?", {p.id, p.version}));
  if (n == 0) return stale();
  changed_on_commit(tx);
  return audit::record(tx, actor, {p.org_id, "project.delete", "project", p.id, {{"slug", p.slug}}}, now);
}

Result<std::int64_t> count_in_org(db::Tx& tx, const std::string& org_id) {
  auto row = TRY(tx.query_one("SELECT COUNT(*) FROM projects WHERE org_id = ?", {org_id}));
  return row ? row->i64(0) : 0;
}

Result<std::int64_t> count_in_group(db::Tx& tx, const std::string& group_id) {
  auto row = TRY(tx.query_one("SELECT COUNT(*) FROM projects WHERE group_id = ?", {group_id}));
  return row ? row->i64(0) : 0;
}

Result<std::vector<Project>> list(db::Tx& tx, const Visibility& v, const ListQuery& q) {
  std::string sql = "SELECT " + kProject.list("p") + ", m.role FROM projects p " +
                    "LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = ? WHERE p.id > ?";
  db::Params params{v.user_id, q.after};
  if (!q.org_id.empty()) { sql += " AND p.org_id = ?"; params.emplace_back(q.org_id); }
  if (q.mine) sql += " AND m.role IS NOT NULL";
  if (q.archived == "true") sql += " AND p.archived = 1";
  else if (q.archived == "false") sql += " AND p.archived = 0";
  if (!q.q.empty()) {
    std::string fq = fts_query(q.q);
    if (fq.empty()) return std::vector<Project>{};
    sql += " AND p.id IN (SELECT project_id FROM projects_fts WHERE projects_fts MATCH ?)";
    params.emplace_back(fq);
  }
  if (!v.all) {
    sql += " AND (p.visibility = 'instance'";
    if (!v.member_orgs.empty()) {
      // Project membership and org visibility count only inside the caller's orgs.
      sql += " OR ((m.role IS NOT NULL OR p.visibility = 'org') AND p.org_id IN ";
      db::append_in(sql, params, v.member_orgs);
      sql += ")";
    }
    if (!v.read_orgs.empty()) { sql += " OR p.org_id IN "; db::append_in(sql, params, v.read_orgs); }
    if (!v.read_groups.empty()) { sql += " OR p.group_id IN "; db::append_in(sql, params, v.read_groups); }
    sql += ")";
  }
  sql += " ORDER BY p.id LIMIT ?";
  params.emplace_back(std::int64_t{q.limit});
  auto rows = TRY(tx.query(sql, params));
  std::vector<Project> out;
  for (auto& r : rows) out.push_back(TRY(with_role(r)));
  return out;
}

Result<std::vector<Project>> member_projects(db::Tx& tx, const std::string& user_id,
                                             const std::vector<std::string>& org_ids) {
  std::vector<Project> out;
  if (org_ids.empty()) return out;
  std::string sql = "SELECT " + kProject.list("p") +
                    ", m.role FROM project_members m JOIN projects p ON p.id = m.project_id WHERE m.user_id = ? "
                    "AND p.org_id IN ";
  db::Params params{user_id};
  db::append_in(sql, params, org_ids);
  sql += " ORDER BY p.id";
  for (auto& r : TRY(tx.query(sql, params))) out.push_back(TRY(with_role(r)));
  return out;
}

Result<nlohmann::json> list_members(db::Tx& tx, const std::string& project_id, const std::string& after, int limit) {
  auto rows = TRY(tx.query("SELECT user_id, role, version, created_ms FROM project_members WHERE project_id = ? AND user_id > ? "
                           "ORDER BY user_id LIMIT ?",
                           {project_id, after, std::int64_t{limit}}));
  nlohmann::json items = nlohmann::json::array();
  for (auto& r : rows)
    items.push_back({{"user_id", r.str(0)}, {"role", r.str(1)}, {"added_at", format_rfc3339(r.i64(3))},
                     {"etag", http::etag_of(r.i64(2))}});
  return items;
}

Result<std::optional<std::pair<std::string, std::int64_t>>> member(db::Tx& tx, const std::string& project_id,
                                                                   const std::string& user_id) {
  auto row = TRY(tx.query_one("SELECT role, version FROM project_members WHERE project_id = ? AND user_id = ?",
                              {project_id, user_id}));
  if (!row) return std::optional<std::pair<std::string, std::int64_t>>{};
  return std::optional<std::pair<std::string, std::int64_t>>{std::pair{row->str(0), row->i64(1)}};
}

static Status keep_an_owner(db::Tx& tx, const Project& p, const std::string& user_id) {
  auto cur = TRY(member(tx, p.id, user_id));
  if (!cur || cur->first != "owner") return {};
  auto row = TRY(tx.query_one("SELECT COUNT(*) FROM project_members WHERE project_id = ? AND role = 'owner'", {p.id}));
  if (row && row->i64(0) <= 1)
    return fail(ErrorCode::kFailedPrecondition, "last-owner", "a project needs an owner; make someone else owner first");
  return {};
}

Status add_member(db::Tx& tx, const Actor& actor, const Project& p, const std::string& user_id, const std::string& role,
                  Millis now) {
  auto ins = tx.exec("INSERT INTO project_members (project_id, user_id, role, created_ms) VALUES (?, ?, ?, ?)",
                     {p.id, user_id, role, now});
  if (!ins) {
    if (ins.error().code == ErrorCode::kAlreadyExists)
      return fail(ErrorCode::kAlreadyExists, "already-member", "the user is already a member of this project");
    return std::unexpected(ins.error());
  }
  changed_on_commit(tx);
  return audit::record(tx, actor, {p.org_id, "project.member.add", "user", user_id, {{"project_id", p.id}, {"role", role}}},
                       now);
}

Status set_member_role(db::Tx& tx, const Actor& actor, const Project& p, const std::string& user_id,
                       const std::string& role, std::int64_t version, Millis now) {
  if (role != "owner") TRY_STATUS(keep_an_owner(tx, p, user_id));
  auto n = TRY(tx.exec("UPDATE project_members SET role = ?, version = version + 1 WHERE project_id = ? AND user_id = ? AND version = ?",
                       {role, p.id, user_id, version}));
  if (n == 0) return stale();
  changed_on_commit(tx);
  return audit::record(tx, actor,
                       {p.org_id, "project.member.update", "user", user_id, {{"project_id", p.id}, {"role", role}}}, now);
}

Status remove_member(db::Tx& tx, const Actor& actor, const Project& p, const std::string& user_id, std::int64_t version,
                     Millis now) {
  TRY_STATUS(keep_an_owner(tx, p, user_id));
  auto n = TRY(tx.exec("DELETE FROM project_members WHERE project_id = ? AND user_id = ? AND version = ?",
                       {p.id, user_id, version}));
  if (n == 0) return stale();
  changed_on_commit(tx);
  return audit::record(tx, actor, {p.org_id, "project.member.remove", "user", user_id, {{"project_id", p.id}}}, now);
}

}  // namespace atrium::projects
