#include "identity/config.hpp"

#include "identity/account.hpp"
#include "identity/auth.hpp"

namespace atrium::identity {

void declare(config::Registry& r, Config& c) {
  r.section("auth", c)
      .integer("session_ttl_hours", "absolute session lifetime", &Config::session_ttl_hours, 1, 24 * 90)
      .integer("session_idle_minutes", "session idle timeout", &Config::session_idle_minutes, 1, 60 * 24 * 30)
      .integer("login_max_failures", "failed logins before lockout", &Config::login_max_failures, 1, 1000)
      .integer("login_lockout_base_s", "first lockout; doubles after", &Config::login_lockout_base_s, 1, 3600)
      .integer("login_ip_per_minute", "login attempts per client IP per minute", &Config::login_ip_per_minute, 1,
               100000)
      .integer("invite_ttl_hours_max", "longest invitation lifetime", &Config::invite_ttl_hours_max, 1, 24 * 365)
      .boolean("require_mfa_for_admins", "instance and org admins must enrol two-factor authentication",
               &Config::require_mfa_for_admins)
      .integer("password_reset_ttl_s", "lifetime of a password-reset link", &Config::password_reset_ttl_s, 1,
               24 * 3600)
      .integer("email_verify_ttl_hours", "lifetime of an email-verification link", &Config::email_verify_ttl_hours, 1,
               24 * 30)
      .integer("password_reset_ip_per_minute", "password-reset and verification requests per client IP per minute",
               &Config::password_reset_ip_per_minute, 1, 100000);
}

AuthSettings AuthSettings::from(const Config& c, std::string public_url, std::string secret) {
  AuthSettings s;
  s.session_ttl_ms = static_cast<Millis>(c.session_ttl_hours) * 3600 * 1000;
  s.session_idle_ms = static_cast<Millis>(c.session_idle_minutes) * 60 * 1000;
  s.login_max_failures = c.login_max_failures;
  s.lockout_base_ms = static_cast<Millis>(c.login_lockout_base_s) * 1000;
  s.login_ip_per_minute = c.login_ip_per_minute;
  s.invite_ttl_max_ms = static_cast<Millis>(c.invite_ttl_hours_max) * 3600 * 1000;
  s.public_url = std::move(public_url);  // "" until resolved at startup (app.cpp: http(s)://localhost:<bound port>)
  s.secret = std::move(secret);
  return s;
}

AccountSettings account_settings(const Config& c) {
  AccountSettings s;
  s.reset_ttl_ms = static_cast<Millis>(c.password_reset_ttl_s) * 1000;
  s.verify_ttl_ms = static_cast<Millis>(c.email_verify_ttl_hours) * 3600 * 1000;
  s.reset_ip_per_minute = c.password_reset_ip_per_minute;
  return s;
}

}  // namespace atrium::identity
