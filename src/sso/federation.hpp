// Single sign-on, what OIDC and LDAP have in common: an identity asserted by an external provider
// becomes an Atrium user (found by the provider's subject, created just in time, or linked to an
// existing account by a verified email where the provider's settings allow it), and the provider's
// facts (email domain, groups) become org memberships, group memberships and roles through the
// mapping rules declared per org, re-applied at every sign-in: what the provider no longer asserts
// is taken away again (only what a mapping granted; memberships made by hand stay). Every change is
// audited.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "identity/store.hpp"

namespace atrium::sso {

std::vector<db::Migration> migrations();

// What a provider asserted about the person signing in (claims already verified).
struct ExternalIdentity {
  std::string provider;  // the configured provider's name ("uni" for [oidc.uni] or [ldap.uni])
  std::string subject;   // stable id at the provider (OIDC `sub`, LDAP entryUUID or DN): the identity
  std::string email;
  bool email_verified = false;
  std::string username_hint;  // preferred_username / uid: the new user's name when free
  std::string display_name;
  std::vector<std::string> groups;  // group names as the provider gives them
};

// One mapping rule: when the person matches (a verified email in `email_domain`, or the provider
// asserts the group `claim_group`), they get membership of the org with `role` and/or the org's
// Atrium group `group`. Declared per org through the API (org_id set), or in a provider's config
// section (`org` names the org by slug; read-only). See docs/auth.md.
struct Rule {
  std::string provider;      // "" = any provider (API rules); a config rule: its provider
  std::string email_domain;  // match: the domain of a provider-verified email (case-insensitive)
  std::string claim_group;   // match: a group as the provider names it
  std::string org;           // the org (slug or id)
  std::string role;          // grant: org membership with this role (name or id), "" = none
  std::string group;         // grant: the org's group (slug), "" = none
};

// How a provider may create and link accounts (from its config section).
struct LinkPolicy {
  bool create_users = true;          // first sign-in creates the user (just in time)
  bool link_by_verified_email = false;  // an existing account with this verified email is linked
  std::vector<Rule> rules;           // the provider's read-only rules from its config section
};

// A provider's config rules ([[oidc.NAME.rules]] / [[ldap.NAME.rules]] as JSON: an array of objects
// with email_domain or claim_group, org, and role and/or group). Bad rules are config errors.
Result<std::vector<Rule>> parse_config_rules(const nlohmann::json& rules, const std::string& provider);

// Finds or creates the user for `who` and applies the mapping rules. Returns the user; refuses a
// disabled user (kPermissionDenied) and an unknown one when creation is off.
Result<identity::User> federate(db::Tx& tx, const Actor& actor, const LinkPolicy& policy,
                                const ExternalIdentity& who, Millis now);

}  // namespace atrium::sso
