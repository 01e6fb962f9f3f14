#include "mail/store.hpp"

#include "mail/mail.hpp"

namespace atrium::mail {

std::vector<db::Migration> migrations() {
  return {{1, "notification preferences, user locale, sent log",
           "CREATE TABLE mail_user_settings (user_id TEXT PRIMARY KEY, locale TEXT NOT NULL,"
           " version INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
           "CREATE TABLE mail_preferences (user_id TEXT NOT NULL, kind TEXT NOT NULL, email INTEGER NOT NULL,"
           " PRIMARY KEY (user_id, kind));"
           "CREATE TABLE mail_sent (message_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, at_ms INTEGER NOT NULL);"
           "CREATE INDEX mail_sent_at ON mail_sent (at_ms);"}};
}

Result<Preferences> preferences(db::Tx& tx, const std::string& user_id) {
  Preferences p;
  for (auto& k : notification_kinds()) p.email[k] = true;
  if (auto r = TRY(tx.query_one("SELECT locale, version FROM mail_user_settings WHERE user_id = ?", {user_id}))) {
    p.locale = r->str(0);
    p.version = r->i64(1);
  }
  for (auto& r : TRY(tx.query("SELECT kind, email FROM mail_preferences WHERE user_id = ?", {user_id})))
    if (p.email.contains(r.str(0))) p.email[r.str(0)] = r.i64(1) != 0;
  return p;
}

Result<Preferences> put_preferences(db::Tx& tx, const std::string& user_id, Preferences p, Millis now) {
  auto n = TRY(tx.exec("UPDATE mail_user_settings SET locale = ?, version = version + 1, updated_ms = ?"
                       " WHERE user_id = ?",
                       {p.locale, now, user_id}));
  if (n == 0)
    TRY(tx.exec("INSERT INTO mail_user_settings (user_id, locale, version, updated_ms) VALUES (?, ?, 1, ?)",
                {user_id, p.locale, now}));
  for (auto& [kind, on] : p.email)
    TRY(tx.exec("INSERT INTO mail_preferences (user_id, kind, email) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id, kind) DO UPDATE SET email = excluded.email",
                {user_id, kind, std::int64_t{on ? 1 : 0}}));
  return preferences(tx, user_id);
}

Result<std::optional<std::string>> mail_locale_if_wanted(db::Tx& tx, const std::string& user_id,
                                                          const std::string& kind) {
  auto p = TRY(preferences(tx, user_id));
  auto it = p.email.find(kind);
  if (it != p.email.end() && !it->second) return std::optional<std::string>();
  return std::optional<std::string>(p.locale);
}

Result<bool> was_sent(db::Tx& tx, const std::string& message_id) {
  return TRY(tx.query_one("SELECT 1 FROM mail_sent WHERE message_id = ?", {message_id})).has_value();
}

Status record_sent(db::Tx& tx, const std::string& message_id, const std::string& task_id, Millis now) {
  TRY(tx.exec("INSERT INTO mail_sent (message_id, task_id, at_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
              {message_id, task_id, now}));
  return {};
}

Status forget_sent_before(db::Tx& tx, Millis before) {
  TRY(tx.exec("DELETE FROM mail_sent WHERE at_ms < ?", {before}));
  return {};
}

}  // namespace atrium::mail
