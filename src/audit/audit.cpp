#include "audit/audit.hpp"

#include <limits>

#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "db/columns.hpp"
#include "db/in_list.hpp"

namespace atrium::audit {
namespace {

constexpr const char* kGenesis = "0000000000000000000000000000000000000000000000000000000000000000";

// One row of audit_events.
struct Stored {
  std::int64_t seq = 0;
  std::string id;
  Millis time = 0;
  std::string actor_id, actor_name, token_id, org_id, action, target_kind, target_id, request_id, client_ip, summary,
      prev_hash, hash;
};

const db::Columns<Stored> kColumns{
    db::col<&Stored::seq>("seq"),
    db::col<&Stored::id>("id"),
    db::col<&Stored::time>("time_ms"),
    db::col<&Stored::actor_id>("actor_id"),
    db::col<&Stored::actor_name>("actor_name"),
    db::col<&Stored::token_id>("token_id"),
    db::col<&Stored::org_id>("org_id"),
    db::col<&Stored::action>("action"),
    db::col<&Stored::target_kind>("target_kind"),
    db::col<&Stored::target_id>("target_id"),
    db::col<&Stored::request_id>("request_id"),
    db::col<&Stored::client_ip>("client_ip"),
    db::col<&Stored::summary>("summary"),
    db::col<&Stored::prev_hash>("prev_hash"),
    db::col<&Stored::hash>("hash"),
};

// The hashed content: every field but the hash, in a fixed order, as a JSON array (unambiguous encoding).
std::string link_hash(const Stored& e) {
  nlohmann::json a = {e.prev_hash, e.seq,       e.id,          e.time,        e.actor_id, e.actor_name, e.token_id,
                      e.org_id,    e.action,    e.target_kind, e.target_id,   e.request_id, e.client_ip, e.summary};
  return crypto::sha256_hex(a.dump());
}

std::string project_of(const Event& e) {
  if (e.target_kind == "project") return e.target_id;
  if (!e.summary.is_object()) return "";
  auto it = e.summary.find("project_id");
  return it != e.summary.end() && it->is_string() ? it->get<std::string>() : "";
}

nlohmann::json summary_json(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? nlohmann::json(text) : j;
}

nlohmann::json or_null(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

}  // namespace

std::vector<db::Migration> migrations() {
  return {{1, "audit events", R"SQL(
CREATE TABLE audit_events (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, time_ms INTEGER NOT NULL,
  actor_id TEXT NOT NULL, actor_name TEXT NOT NULL, token_id TEXT NOT NULL, org_id TEXT NOT NULL,
  action TEXT NOT NULL, target_kind TEXT NOT NULL, target_id TEXT NOT NULL, request_id TEXT NOT NULL,
  client_ip TEXT NOT NULL, summary TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX audit_events_org ON audit_events (org_id, seq);
CREATE INDEX audit_events_actor ON audit_events (actor_id, seq);
CREATE INDEX audit_events_target ON audit_events (target_id, seq);
)SQL"},
          // The project an event is about (its target, or its summary's project_id), for the feeds of
          // the project's members. Not part of the hashed content: it is derived from it.
          {2, "audit project_id", R"SQL(
ALTER TABLE audit_events ADD COLUMN project_id TEXT NOT NULL DEFAULT '';
UPDATE audit_events SET project_id = CASE
  WHEN target_kind = 'project' THEN target_id
  WHEN json_valid(summary) AND json_type(summary, '$.project_id') = 'text' THEN json_extract(summary, '$.project_id')
  ELSE '' END;
CREATE INDEX audit_events_project ON audit_events (project_id, seq);
)SQL"}};
}

Status record(db::Tx& tx, const Actor& actor, const Event& e, Millis now) {
  auto last = TRY(tx.query_one("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"));
  Stored s{.seq = last ? last->i64(0) + 1 : 1,
           .id = new_id("evt", now),
           .time = now,
           .actor_id = actor.user_id,
           .actor_name = actor.username,
           .token_id = actor.token_id,
           .org_id = e.org_id,
           .action = e.action,
           .target_kind = e.target_kind,
           .target_id = e.target_id,
           .request_id = actor.request_id,
           .client_ip = actor.client_ip,
           .summary = e.summary.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
           .prev_hash = last ? last->str(1) : kGenesis};
  s.hash = link_hash(s);
  TRY(tx.exec("INSERT INTO audit_events (" + kColumns.list() +
                  ", project_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              {s.seq, s.id, s.time, s.actor_id, s.actor_name, s.token_id, s.org_id, s.action, s.target_kind,
               s.target_id, s.request_id, s.client_ip, s.summary, s.prev_hash, s.hash, project_of(e)}));
  return {};
}

Result<std::vector<nlohmann::json>> list(db::Tx& tx, const Filter& f) {
  std::string sql = "SELECT " + kColumns.list() + " FROM audit_events WHERE seq " + (f.newest_first ? "<" : ">") + " ?";
  db::Params p{f.newest_first && f.after_seq == 0 ? std::numeric_limits<std::int64_t>::max() : f.after_seq};
  if (!f.actor.empty()) {
    sql += " AND (actor_id = ? OR actor_name = ?)";
    p.emplace_back(f.actor);
    p.emplace_back(f.actor);
  }
  if (!f.target_id.empty()) { sql += " AND target_id = ?"; p.emplace_back(f.target_id); }
  if (!f.action.empty()) {
    if (f.action.back() == '*') {
      sql += " AND substr(action, 1, ?) = ?";
      p.emplace_back(static_cast<std::int64_t>(f.action.size() - 1));
      p.emplace_back(f.action.substr(0, f.action.size() - 1));
    } else {
      sql += " AND action = ?";
      p.emplace_back(f.action);
    }
  }
  if (f.since) { sql += " AND time_ms >= ?"; p.emplace_back(*f.since); }
  if (f.until) { sql += " AND time_ms < ?"; p.emplace_back(*f.until); }
  if (f.restrict_orgs) {
    if (f.org_ids.empty()) return std::vector<nlohmann::json>{};
    sql += " AND org_id IN ";
    db::append_in(sql, p, f.org_ids);
  }
  sql += f.newest_first ? " ORDER BY seq DESC LIMIT ?" : " ORDER BY seq LIMIT ?";
  p.emplace_back(static_cast<std::int64_t>(f.limit));
  auto rows = TRY(tx.query(sql, p));
  std::vector<nlohmann::json> out;
  out.reserve(rows.size());
  for (auto& e : TRY(kColumns.read_all(rows))) {
    out.push_back({{"seq", e.seq},
                   {"id", e.id},
                   {"time", format_rfc3339(e.time)},
                   {"actor_id", or_null(e.actor_id)},
                   {"actor", or_null(e.actor_name)},
                   {"token_id", or_null(e.token_id)},
                   {"org_id", or_null(e.org_id)},
                   {"action", e.action},
                   {"target_kind", e.target_kind},
                   {"target_id", e.target_id},
                   {"request_id", e.request_id},
                   {"client_ip", e.client_ip},
                   {"summary", summary_json(e.summary)},
                   {"prev_hash", e.prev_hash},
                   {"hash", e.hash}});
  }
  return out;
}

Result<std::vector<nlohmann::json>> activity(db::Tx& tx, const ActivityQuery& q) {
  std::string sql =
      "SELECT seq, id, time_ms, actor_id, actor_name, org_id, project_id, action, target_kind, target_id, summary "
      "FROM audit_events WHERE seq < ? AND substr(action, 1, 5) <> 'auth.' AND (";
  db::Params p{q.before_seq > 0 ? q.before_seq : std::numeric_limits<std::int64_t>::max()};
  // Own actions: only in the caller's current orgs, or instance-level (tokens, profile).
  sql += "(actor_id = ? AND (org_id = ''";
  p.emplace_back(q.user_id);
  if (!q.org_ids.empty()) {
    sql += " OR org_id IN ";
    db::append_in(sql, p, q.org_ids);
  }
  sql += "))";
  if (!q.project_ids.empty()) {
    sql += " OR project_id IN ";
    db::append_in(sql, p, q.project_ids);
  }
  sql += ") ORDER BY seq DESC LIMIT ?";
  p.emplace_back(static_cast<std::int64_t>(q.limit));
  auto rows = TRY(tx.query(sql, p));
  std::vector<nlohmann::json> out;
  out.reserve(rows.size());
  for (auto& r : rows)
    out.push_back({{"seq", r.i64(0)},
                   {"id", r.str(1)},
                   {"time", format_rfc3339(r.i64(2))},
                   {"actor_id", or_null(r.str(3))},
                   {"actor", or_null(r.str(4))},
                   {"org_id", or_null(r.str(5))},
                   {"project_id", or_null(r.str(6))},
                   {"action", r.str(7)},
                   {"target_kind", r.str(8)},
                   {"target_id", r.str(9)},
                   {"summary", summary_json(r.str(10))}});
  return out;
}

Result<VerifyResult> verify(db::Tx& tx) {
  VerifyResult v;
  std::string prev = kGenesis;
  std::int64_t expect_seq = 1;
  std::int64_t after = 0;
  for (;;) {
    auto rows = TRY(tx.query("SELECT " + kColumns.list() + " FROM audit_events WHERE seq > ? ORDER BY seq LIMIT 1000",
                             {after}));
    if (rows.empty()) break;
    for (auto& e : TRY(kColumns.read_all(rows))) {
      std::int64_t seq = e.seq;
      auto broken = [&](std::string why) {
        v.ok = false;
        v.first_broken_seq = seq;
        v.reason = std::move(why);
      };
      if (seq != expect_seq) broken("event " + std::to_string(expect_seq) + " is missing");
      else if (e.prev_hash != prev) broken("prev_hash does not match the previous event's hash");
      else if (link_hash(e) != e.hash) broken("the event's content does not match its hash");
      if (!v.ok) return v;
      prev = e.hash;
      ++expect_seq;
      ++v.checked;
      after = seq;
    }
  }
  return v;
}

Result<VerifyResult> verify_org(db::Tx& tx, const std::string& org_id) {
  VerifyResult v;
  std::int64_t after = 0;
  // Each event of the org with the hash of the one before it (NULL: it is missing).
  const std::string sql = "SELECT " + kColumns.list("e") +
                          ", p.hash FROM audit_events e LEFT JOIN audit_events p ON p.seq = e.seq - 1 "
                          "WHERE e.org_id = ? AND e.seq > ? ORDER BY e.seq LIMIT 1000";
  for (;;) {
    auto rows = TRY(tx.query(sql, {org_id, after}));
    if (rows.empty()) break;
    for (const auto& r : rows) {
      auto e = TRY(kColumns.read(r));
      std::string prev = e.seq == 1 ? kGenesis : r.str(kColumns.width());
      const char* why = nullptr;
      if (e.seq > 1 && r.is_null(kColumns.width())) why = "the event before it is missing";
      else if (e.prev_hash != prev) why = "prev_hash does not match the previous event's hash";
      else if (link_hash(e) != e.hash) why = "the event's content does not match its hash";
      if (why) {
        v.ok = false;
        v.first_broken_seq = e.seq;
        v.reason = why;
        return v;
      }
      ++v.checked;
      after = e.seq;
    }
  }
  return v;
}

}  // namespace atrium::audit
