#include "mail/mail.hpp"

#include <fstream>
#include <memory>
#include <sstream>

#include <spdlog/spdlog.h>

#include "mail/message.hpp"
#include "mail/store.hpp"
#include "mail/templates.hpp"

namespace atrium::mail {
namespace {

using nlohmann::json;

// Set once at startup (configure), before requests or tasks run; read-only afterwards.
struct State {
  db::Database* db = nullptr;
  const Clock* clock = nullptr;
  Settings settings;
};
State& state() {
  static State s;
  return s;
}

json with_site_url(const json& vars) {
  json v = vars.is_object() ? vars : json::object();
  if (!v.contains("site_url") && state().settings.public_url) v["site_url"] = state().settings.public_url();
  return v;
}

// A task's failure as the queue reads it: permanent errors keep their code, the rest retry.
Status send_one(const tasks::Task& t) {
  const State& s = state();
  const json& p = t.payload;
  if (!p.contains("to") || !p["to"].is_string() || !p.contains("template") || !p["template"].is_string())
    return fail(ErrorCode::kInvalidArgument, "invalid-mail", "a mail task without to or template");
  std::string to = p["to"], name = p["template"], locale = p.value("locale", "");
  std::string mid = message_id_for(t.key.empty() ? t.id : t.key, s.settings.from);
  // Sent already by an earlier run whose end the queue did not record (a crash after the reply).
  if (TRY(s.db->read([&](db::Tx& tx) { return was_sent(tx, mid); }))) return {};
  auto r = TRY(render(name, locale, s.settings.default_locale, p.value("vars", json::object())));
  auto msg = TRY(build({.from = s.settings.from,
                        .from_name = s.settings.from_name,
                        .to = to,
                        .subject = r.subject,
                        .text = r.text,
                        .html = r.html,
                        .message_id = mid,
                        .date = s.clock->now_ms()}));
  TRY_STATUS(smtp_send(s.settings.smtp, s.settings.from, to, msg));
  spdlog::info("mail: sent {} ({}) for task {}", name, mid, t.id);
  return s.db->write_tx([&](db::Tx& tx) { return record_sent(tx, mid, t.id, s.clock->now_ms()); });
}

}  // namespace

bool enabled() { return !state().settings.smtp.url.empty(); }

Result<Settings> settings_from(const Config& c) {
  Settings s;
  s.smtp = {.url = c.smtp_url,
            .starttls = c.starttls,
            .username = c.username,
            .ca_file = c.ca_file,
            .timeout_s = c.timeout_s};
  s.from = c.from;
  s.from_name = c.from_name;
  s.default_locale = c.default_locale;
  if (!c.password_file.empty()) {
    std::ifstream in(c.password_file);
    if (!in) return invalid("mail.password_file: cannot read " + c.password_file);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string pw = ss.str();
    while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
    if (pw.empty()) return invalid("mail.password_file: " + c.password_file + " is empty");
    s.smtp.password = std::move(pw);
  }
  return s;
}

void configure(db::Database& db, const Clock& clock, Settings s) {
  state() = State{&db, &clock, std::move(s)};
}

Result<std::string> enqueue(db::Tx& tx, const Message& m, Millis now) {
  if (!enabled()) return std::string();
  TRY_STATUS(check_address(m.to));
  if (!m.locale.empty() && m.locale.size() > 16)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-mail", "a locale has at most 16 characters")
                    .with("field", "locale"));
  json vars = with_site_url(m.vars);
  // Rendered now too: a bad template name or a missing variable is the caller's error, not a dead task.
  TRY(render(m.template_name, m.locale, state().settings.default_locale, vars));
  tasks::NewTask t{.kind = kSendKind,
                   .key = m.key.empty() ? "" : "mail:" + m.key,
                   .payload = {{"to", m.to}, {"template", m.template_name}, {"locale", m.locale}, {"vars", vars}}};
  return tasks::enqueue(tx, t, now);
}

tasks::Handler send_handler() {
  return [](const tasks::Task& t) -> Status { return send_one(t); };
}

}  // namespace atrium::mail

namespace atrium::mail {

// For notify.cpp: the hooks the app set.
Result<std::string> email_of_user(db::Tx& tx, const std::string& user_id) {
  if (!state().settings.email_of) return std::string();
  return state().settings.email_of(tx, user_id);
}

std::string current_public_url() {
  return state().settings.public_url ? state().settings.public_url() : std::string();
}

}  // namespace atrium::mail
