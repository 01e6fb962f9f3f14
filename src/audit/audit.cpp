#include "audit/audit.hpp"

#include "core/crypto.hpp"
#include "core/ids.hpp"

namespace atrium::audit {
namespace {

constexpr const char* kGenesis = "0000000000000000000000000000000000000000000000000000000000000000";

// The hashed content: every field, in a fixed order, as a JSON array (unambiguous encoding).
std::string link_hash(const std::string& prev, std::int64_t seq, const std::string& id, Millis time,
                      const std::string& actor_id, const std::string& actor_name, const std::string& token_id,
                      const std::string& org_id, const std::string& action, const std::string& kind,
                      const std::string& target, const std::string& rid, const std::string& ip,
                      const std::string& summary) {
  nlohmann::json a = {prev, seq, id, time, actor_id, actor_name, token_id, org_id, action, kind, target, rid, ip, summary};
  return crypto::sha256_hex(a.dump());
}

constexpr const char* kColumns =
    "seq, id, time_ms, actor_id, actor_name, token_id, org_id, action, target_kind, target_id, request_id, "
    "client_ip, summary, prev_hash, hash";

}  // namespace

std::vector<db::Migration> migrations() {
  return {{1, "audit events",
           "CREATE TABLE audit_events ("
           " seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, time_ms INTEGER NOT NULL,"
           " actor_id TEXT NOT NULL, actor_name TEXT NOT NULL, token_id TEXT NOT NULL, org_id TEXT NOT NULL,"
           " action TEXT NOT NULL, target_kind TEXT NOT NULL, target_id TEXT NOT NULL, request_id TEXT NOT NULL,"
           " client_ip TEXT NOT NULL, summary TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
           "CREATE INDEX audit_events_org ON audit_events (org_id, seq);"
           "CREATE INDEX audit_events_actor ON audit_events (actor_id, seq);"
           "CREATE INDEX audit_events_target ON audit_events (target_id, seq);"}};
}

Status record(db::Tx& tx, const Actor& actor, const Event& e, Millis now) {
  auto last = TRY(tx.query_one("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"));
  std::int64_t seq = last ? last->i64(0) + 1 : 1;
  std::string prev = last ? last->str(1) : kGenesis;
  std::string id = new_id("evt", now);
  std::string summary = e.summary.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string hash = link_hash(prev, seq, id, now, actor.user_id, actor.username, actor.token_id, e.org_id, e.action,
                               e.target_kind, e.target_id, actor.request_id, actor.client_ip, summary);
  TRY(tx.exec("INSERT INTO audit_events (seq, id, time_ms, actor_id, actor_name, token_id, org_id, action, "
              "target_kind, target_id, request_id, client_ip, summary, prev_hash, hash) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              {seq, id, now, actor.user_id, actor.username, actor.token_id, e.org_id, e.action, e.target_kind,
               e.target_id, actor.request_id, actor.client_ip, summary, prev, hash}));
  return {};
}

Result<std::vector<nlohmann::json>> list(db::Tx& tx, const Filter& f) {
  std::string sql = std::string("SELECT ") + kColumns + " FROM audit_events WHERE seq > ?";
  db::Params p{f.after_seq};
  if (!f.actor_id.empty()) { sql += " AND actor_id = ?"; p.emplace_back(f.actor_id); }
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
    sql += " AND org_id IN (";
    for (std::size_t i = 0; i < f.org_ids.size(); ++i) {
      sql += i ? ", ?" : "?";
      p.emplace_back(f.org_ids[i]);
    }
    sql += ")";
  }
  sql += " ORDER BY seq LIMIT ?";
  p.emplace_back(static_cast<std::int64_t>(f.limit));
  auto rows = TRY(tx.query(sql, p));
  std::vector<nlohmann::json> out;
  out.reserve(rows.size());
  for (auto& r : rows) {
    auto summary = nlohmann::json::parse(r.str(12), nullptr, false);
    auto nz = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
    out.push_back({{"seq", r.i64(0)},
                   {"id", r.str(1)},
                   {"time", format_rfc3339(r.i64(2))},
                   {"actor_id", nz(r.str(3))},
                   {"actor", nz(r.str(4))},
                   {"token_id", nz(r.str(5))},
                   {"org_id", nz(r.str(6))},
                   {"action", r.str(7)},
                   {"target_kind", r.str(8)},
                   {"target_id", r.str(9)},
                   {"request_id", r.str(10)},
                   {"client_ip", r.str(11)},
                   {"summary", summary.is_discarded() ? nlohmann::json(r.str(12)) : summary},
                   {"prev_hash", r.str(13)},
                   {"hash", r.str(14)}});
  }
  return out;
}

Result<VerifyResult> verify(db::Tx& tx) {
  VerifyResult v;
  std::string prev = kGenesis;
  std::int64_t expect_seq = 1;
  std::int64_t after = 0;
  for (;;) {
    auto rows = TRY(tx.query(std::string("SELECT ") + kColumns + " FROM audit_events WHERE seq > ? ORDER BY seq LIMIT 1000",
                             {after}));
    if (rows.empty()) break;
    for (auto& r : rows) {
      std::int64_t seq = r.i64(0);
      auto broken = [&](std::string why) {
        v.ok = false;
        v.first_broken_seq = seq;
        v.reason = std::move(why);
      };
      if (seq != expect_seq) broken("event " + std::to_string(expect_seq) + " is missing");
      else if (r.str(13) != prev) broken("prev_hash does not match the previous event's hash");
      else {
        std::string h = link_hash(prev, seq, r.str(1), r.i64(2), r.str(3), r.str(4), r.str(5), r.str(6), r.str(7),
                                  r.str(8), r.str(9), r.str(10), r.str(11), r.str(12));
        if (h != r.str(14)) broken("the event's content does not match its hash");
      }
      if (!v.ok) return v;
      prev = r.str(14);
      ++expect_seq;
      ++v.checked;
      after = seq;
    }
  }
  return v;
}

}  // namespace atrium::audit
