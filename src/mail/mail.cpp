#include "mail/mail.hpp"

#include <fstream>
#include <memory>
#include <sstream>

#include <spdlog/spdlog.h>

#include "core/crypto.hpp"

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

// The variables as sent: {{site_url}} and a "link" that is a path made absolute with the public URL
// as it is now (at send time, so a mail queued before the server was bound gets its final address).
// Only the sending side (tasks start after the server is bound) reads the public URL: no race with
// the write that sets it once bound.
json with_site_url(const json& vars, const std::string& site) {
  json v = vars.is_object() ? vars : json::object();
  if (!v.contains("site_url")) v["site_url"] = site;
  if (v.contains("link") && v["link"].is_string() && v["link"].get<std::string>().starts_with("/"))
    v["link"] = site + v["link"].get<std::string>();
  return v;
}

constexpr std::string_view kAad = "atrium mail.send payload v1";
// XChaCha20-Poly1305 under Settings::key: {"sealed": base64(nonce | ciphertext)}.
json seal(const json& plain) {
  const std::string& key = state().settings.key;
  if (key.size() != crypto::kAeadKeyBytes) return plain;
  return json{{"sealed", crypto::base64(crypto::aead_seal(key, plain.dump(), kAad))}};
}

// A payload as enqueued: sealed, or plain (queued by an older binary, or without a key).
Result<json> unseal(const json& payload) {
  if (!payload.is_object() || !payload.contains("sealed")) return payload;
  const std::string& key = state().settings.key;
  auto raw = payload["sealed"].is_string() ? crypto::base64_decode(payload["sealed"].get<std::string>()) : std::nullopt;
  if (!raw || key.size() != crypto::kAeadKeyBytes)
    return fail(ErrorCode::kInvalidArgument, "invalid-mail", "a sealed mail task that cannot be opened");
  auto text = crypto::aead_open(key, *raw, kAad);
  if (!text)
    return fail(ErrorCode::kInvalidArgument, "invalid-mail",
                "a sealed mail task does not open with this instance's key (was the data master key replaced?)");
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return fail(ErrorCode::kInvalidArgument, "invalid-mail", "a sealed mail task is damaged");
  return j;
}

// A task's failure as the queue reads it: permanent errors keep their code, the rest retry.
Status send_one(const tasks::Task& t) {
  const State& s = state();
  std::string mid = message_id_for(t.key.empty() ? t.id : t.key, s.settings.from);
  // Sent already by an earlier run whose end the queue did not record (a crash after the reply); its
  // payload may be cleared already.
  if (TRY(s.db->read([&](db::Tx& tx) { return was_sent(tx, mid); }))) return {};
  const json p = TRY(unseal(t.payload));
  if (!p.is_object() || !p.contains("to") || !p["to"].is_string() || !p.contains("template") || !p["template"].is_string())
    return fail(ErrorCode::kInvalidArgument, "invalid-mail", "a mail task without to or template");
  std::string to = p["to"], name = p["template"], locale = p.value("locale", "");
  std::string site = s.settings.public_url ? s.settings.public_url() : std::string();
  auto r = TRY(render(name, locale, s.settings.default_locale, with_site_url(p.value("vars", json::object()), site)));
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
  // Sent: the payload (links that are bearer secrets) is no longer kept, sealed or not.
  return s.db->write_tx([&](db::Tx& tx) -> Status {
    TRY_STATUS(record_sent(tx, mid, t.id, s.clock->now_ms()));
    return tasks::clear_payload(tx, t.id);
  });
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
  // Any non-empty key (the app's is derived from the data master key) becomes the AEAD key.
  if (!s.key.empty()) s.key = crypto::hmac_sha256(s.key, "atrium mail: task payloads v1");
  state() = State{&db, &clock, std::move(s)};
}

Result<std::string> enqueue(db::Tx& tx, const Message& m, Millis now) {
  if (!enabled()) return std::string();
  TRY_STATUS(check_address(m.to));
  if (!m.locale.empty() && m.locale.size() > 16)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-mail", "a locale has at most 16 characters")
                    .with("field", "locale"));
  // Rendered now too: a bad template name or a missing variable is the caller's error, not a dead task.
  // The public URL is added when sent (it may not be known yet), so it is not stored.
  TRY(render(m.template_name, m.locale, state().settings.default_locale, with_site_url(m.vars, "")));
  json plain = {{"to", m.to}, {"template", m.template_name}, {"locale", m.locale}, {"vars", m.vars}};
  tasks::NewTask t{.kind = kSendKind, .key = m.key.empty() ? "" : "mail:" + m.key, .payload = seal(plain)};
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

}  // namespace atrium::mail
