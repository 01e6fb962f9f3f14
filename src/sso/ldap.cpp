#include "sso/ldap.hpp"

#include "audit/audit.hpp"
#include "http/forwarded.hpp"
#include "sso/federation.hpp"
#include "sso/ldap_directory.hpp"
#include "sso/store.hpp"

namespace atrium::sso {

using http::Context;
using http::Response;
using nlohmann::json;

namespace {

Result<LinkPolicy> link_policy(const LdapConfig& c, const std::string& provider) {
  LinkPolicy p{.create_users = c.create_users, .link_by_verified_email = c.link_by_verified_email};
  json rules = c.rules.empty() ? json::array() : json::parse(c.rules, nullptr, false);
  if (rules.is_discarded())
    return fail(ErrorCode::kInvalidArgument, "invalid-config",
                "ldap." + provider + ".rules: must be an array of tables ([[ldap." + provider + ".rules]])");
  p.rules = TRY(parse_config_rules(rules, provider));
  return p;
}

}  // namespace

void declare_ldap(config::Registry& r, std::map<std::string, LdapConfig>& items) {
  using S = config::Section<LdapConfig>;
  std::map<std::string, LdapConfig>* all = &items;
  r.family<LdapConfig>("ldap", items, [all](S& s) {
    s.string("display_name", "name on the login page (default: the section's name)", &LdapConfig::display_name)
        .string("url", "ldaps://host[:port], or ldap://host[:port] with start_tls", &LdapConfig::url)
        .boolean("start_tls", "upgrade ldap:// with StartTLS", &LdapConfig::start_tls)
        .boolean("allow_insecure", "allow ldap:// without TLS to a loopback host (tests)", &LdapConfig::allow_insecure)
        .path("ca_file", "PEM CA bundle the directory's certificate must chain to (default: system CAs)",
              &LdapConfig::ca_file)
        .string("bind_dn", "read-only service account for searches (empty: anonymous)", &LdapConfig::bind_dn)
        .path("bind_password_file", "file holding the service account's password", &LdapConfig::bind_password_file)
        .string("user_base", "subtree where people are searched", &LdapConfig::user_base)
        .string("user_filter", "filter finding one person; {username} is replaced (escaped)", &LdapConfig::user_filter)
        .string("username_attribute", "attribute holding the login name (AD: sAMAccountName)",
                &LdapConfig::username_attribute)
        .string("email_attribute", "attribute holding the email address", &LdapConfig::email_attribute)
        .string("name_attribute", "attribute holding the display name", &LdapConfig::name_attribute)
        .string("subject_attribute", "stable id of a person (AD: objectGUID; empty: the DN)",
                &LdapConfig::subject_attribute)
        .string("group_base", "subtree where groups are searched (with group_filter)", &LdapConfig::group_base)
        .string("group_filter", "filter finding a person's groups; {dn} and {username} are replaced (escaped)",
                &LdapConfig::group_filter)
        .string("group_name_attribute", "attribute naming a found group", &LdapConfig::group_name_attribute)
        .string("groups_attribute", "attribute of the person listing group DNs (AD: memberOf)",
                &LdapConfig::groups_attribute)
        .boolean("email_verified", "the directory's email addresses are verified by the institution",
                 &LdapConfig::email_verified)
        .boolean("create_users", "the first sign-in creates the Atrium user", &LdapConfig::create_users)
        .boolean("link_by_verified_email", "link an existing user with the same verified email",
                 &LdapConfig::link_by_verified_email)
        .json("rules", "mapping rules ([[ldap.NAME.rules]]: email_domain or claim_group, org, role, group)",
              &LdapConfig::rules)
        .integer("connect_timeout_ms", "connect timeout", &LdapConfig::connect_timeout_ms, 100, 60000)
        .integer("timeout_ms", "timeout of each directory operation", &LdapConfig::timeout_ms, 100, 60000)
        .integer("pool_size", "service-account connections kept open", &LdapConfig::pool_size, 1, 64)
        .check([all](LdapConfig& c) -> Status {
          for (auto& [name, v] : *all)
            if (&v == &c) {
              TRY_STATUS(ldap::check_config(name, c));
              TRY(link_policy(c, name));  // rules are checked at startup
            }
          return {};
        });
  });
}

struct LdapProviders::Impl {
  std::map<std::string, std::unique_ptr<ldap::Directory>> dirs;
};

LdapProviders::LdapProviders(const std::map<std::string, LdapConfig>& configs) : impl_(std::make_unique<Impl>()) {
  for (auto& [name, c] : configs) impl_->dirs.emplace(name, std::make_unique<ldap::Directory>(name, c));
}

LdapProviders::~LdapProviders() = default;

std::vector<ProviderInfo> LdapProviders::infos() const {
  std::vector<ProviderInfo> out;
  for (auto& [name, d] : impl_->dirs) out.push_back({name, d->config().display_name, "ldap", ""});
  return out;
}

namespace {

struct Deps {
  LdapProviders::Impl& providers;
  const identity::AuthSettings& settings;
  identity::LoginLimiter& limiter;
};

Result<std::string> username_field(const http::JsonBody& body) {
  auto u = TRY(body.str("username", 256));
  bool clean = !u.empty() && std::none_of(u.begin(), u.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
  if (!clean)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "username must be 1-256 printable characters")
                    .with("field", "username"));
  return u;
}

Result<Response> start_session(Context& ctx, const Deps& d, Actor actor, const identity::User& user,
                               const std::string& provider) {
  actor.user_id = user.id;
  actor.username = user.username;
  std::string ua(ctx.req.header("user-agent").value_or(""));
  Millis now = ctx.now();
  auto ns = TRY(ctx.db().write([&](db::Tx& tx) -> Result<identity::NewSession> {
    TRY_STATUS(identity::record_login_success(tx, user, http::address_key(actor.client_ip)));
    return identity::create_session(tx, actor, user, ua, d.settings, now);
  }));
  Response r = Response::json(200, {{"user", user.json()},
                                    {"provider", provider},
                                    {"session_id", ns.id},
                                    {"csrf_token", ns.csrf},
                                    {"expires_at", format_rfc3339(ns.expires)}});
  identity::set_session_cookies(r, ns, d.settings, ctx.req.tls);
  return r;
}

// One answer for an unknown person, a wrong password, an account locked for this client and a
// disabled account, each after one bind attempt: no answer (or its timing) confirms a username.
Result<Response> login(const Deps& d, Context& ctx) {
  auto it = d.providers.dirs.find(ctx.param("name"));
  if (it == d.providers.dirs.end()) return not_found("LDAP provider");
  ldap::Directory& dir = *it->second;
  const std::string& provider = dir.name();
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"username", "password"}));
  auto username = TRY(username_field(body));
  auto password = TRY(body.str("password", 1024));
  Millis now = ctx.now();
  if (auto wait = d.limiter.check_ip(http::address_key(ctx.req.remote_ip), now))
    return fail(Error(ErrorCode::kResourceExhausted, "rate-limited",
                      "too many sign-in attempts from your address; wait " + std::to_string(wait) + " s")
                    .with("retry_after_s", wait));
  Actor actor = ctx.actor();
  auto bad = [] { return fail(ErrorCode::kUnauthenticated, "invalid-credentials", "wrong username or password"); };
  auto refuse = [&](const char* reason, const std::string& user_id) -> Result<Response> {
    TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) {
      return audit::record(tx, actor,
                           {"", "auth.login_failed", "user", user_id,
                            {{"username", username}, {"provider", provider}, {"reason", reason}}},
                           now);
    }));
    return bad();
  };
  // A bind that fails like a wrong password, for the paths that must not answer sooner.
  auto decoy = [&] { return dir.check_password("cn=atrium-no-such-entry," + dir.config().user_base, password); };
  auto person = TRY(dir.find(username));
  if (!person) {
    TRY(decoy());
    return refuse("unknown-user", "");
  }
  auto linked = TRY(ctx.db().read([&](db::Tx& tx) -> Result<std::optional<identity::User>> {
    auto id = TRY(store::identity_user(tx, provider, person->subject));
    if (!id) return std::nullopt;
    return identity::find_user(tx, *id);
  }));
  std::string client = http::address_key(actor.client_ip);
  if (linked && TRY(ctx.db().read([&](db::Tx& tx) { return identity::login_locked(tx, *linked, client, now); }))) {
    TRY(decoy());  // locked for this client only: other clients (the real person) still sign in
    return refuse("locked", linked->id);
  }
  if (!TRY(dir.check_password(person->dn, password))) {
    if (!linked) return refuse("wrong-password", "");
    TRY_STATUS(ctx.db().write_tx(
        [&](db::Tx& tx) { return identity::record_login_failure(tx, actor, *linked, d.settings, now); }));
    return bad();
  }
  if (linked && linked->disabled) return refuse("disabled", linked->id);
  ExternalIdentity who{.provider = provider,
                       .subject = person->subject,
                       .email = person->email,
                       .email_verified = dir.config().email_verified && !person->email.empty(),
                       .username_hint = person->username.empty() ? username : person->username,
                       .display_name = person->display_name,
                       .groups = TRY(dir.groups(*person))};
  auto policy = TRY(link_policy(dir.config(), provider));
  auto user = TRY(ctx.db().write([&](db::Tx& tx) { return federate(tx, actor, policy, who, now); }));
  return start_session(ctx, d, actor, user, provider);
}

}  // namespace

void add_ldap_routes(http::Api& api, LdapProviders& providers, const identity::AuthSettings& settings,
                     identity::LoginLimiter& limiter) {
  auto deps = std::make_shared<Deps>(Deps{*providers.impl_, settings, limiter});
  api.add({"POST", "/api/v1/auth/ldap/{name}/login", http::Access::open(),
           {"Sign in with a directory (LDAP) username and password; sets the session and CSRF cookies",
            "auth",
            {{"type", "object"},
             {"required", {"username", "password"}},
             {"properties", {{"username", {{"type", "string"}}}, {"password", {{"type", "string"}}}}}},
            http::object_schema()},
           [deps](Context& ctx) { return login(*deps, ctx); },
           http::TxMode::kNone});
}

}  // namespace atrium::sso
