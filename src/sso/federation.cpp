#include "sso/federation.hpp"

#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "core/crypto.hpp"
#include "core/text.hpp"
#include "identity/account.hpp"
#include "identity/orgs.hpp"
#include "sso/rules.hpp"
#include "sso/store.hpp"

namespace atrium::sso {

std::vector<db::Migration> migrations() { return store::migrations(); }

namespace {

using nlohmann::json;

// A username from the provider's hint (or the email's local part): lower case, [a-z0-9-_.], made
// unique with a numeric suffix.
Result<std::string> unique_username(db::Tx& tx, const ExternalIdentity& who) {
  std::string hint = who.username_hint.empty() ? who.email.substr(0, who.email.find('@')) : who.username_hint;
  std::string base;
  for (char ch : to_lower(hint)) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
    if (ok) base += ch;
    else if (!base.empty() && base.back() != '-') base += '-';
  }
  while (!base.empty() && !is_valid_slug(base.substr(0, 1))) base.erase(0, 1);
  if (base.size() > 56) base.resize(56);
  if (base.empty()) base = "user";
  for (int i = 1; i <= 50; ++i) {
    std::string name = i == 1 ? base : base + "-" + std::to_string(i);
    if (!identity::reserved_username(name) && !TRY(identity::find_user(tx, name))) return name;
  }
  return base + "-" + crypto::hex(crypto::random_bytes(3));
}

Status refuse_disabled(const identity::User& u) {
  if (u.disabled)
    return fail(ErrorCode::kPermissionDenied, "account-disabled", "this account is disabled; ask an administrator");
  return {};
}

Status record(db::Tx& tx, const Actor& actor, const std::string& org_id, const std::string& action,
              const std::string& user_id, json summary, Millis now) {
  return audit::record(tx, actor, {org_id, action, "user", user_id, std::move(summary)}, now);
}

Result<identity::User> find_or_create(db::Tx& tx, const Actor& actor, const LinkPolicy& policy,
                                      const ExternalIdentity& who, Millis now) {
  if (auto uid = TRY(store::identity_user(tx, who.provider, who.subject))) {
    auto u = TRY(identity::get_user(tx, *uid));
    TRY_STATUS(refuse_disabled(u));
    TRY_STATUS(store::touch_identity(tx, who.provider, who.subject, who.email, now));
    return u;
  }
  json link = {{"provider", who.provider}, {"subject", who.subject}};
  // Linking by email only when the provider vouches for it, and only to the one account that has it
  // and has proven it: anyone may type a victim's address into their own profile.
  if (policy.link_by_verified_email && who.email_verified && !who.email.empty()) {
    auto users = TRY(identity::find_users_by_email(tx, who.email, 2));
    // Not to an account that already has another identity at this provider: an address the
    // provider gave to someone new must not hand them the previous holder's account.
    if (users.size() == 1 && users[0].email_verified && !TRY(store::has_identity_at(tx, who.provider, users[0].id))) {
      TRY_STATUS(refuse_disabled(users[0]));
      TRY_STATUS(store::link_identity(tx, who.provider, who.subject, users[0].id, who.email, now));
      link["how"] = "verified-email";
      TRY_STATUS(record(tx, actor, "", "sso.identity.link", users[0].id, link, now));
      return users[0];
    }
  }
  if (!policy.create_users)
    return fail(ErrorCode::kPermissionDenied, "sso-no-account",
                "no Atrium account is linked to this sign-in, and this provider does not create accounts: "
                "ask an administrator");
  std::string name = TRY(unique_username(tx, who));
  // No password: the account signs in through its provider (a reset by mail may add one later).
  // Only a verified email is kept: an unverified one could later link another provider's sign-in
  // (or a reset mail) to this account.
  auto u = TRY(identity::create_user(tx, actor, name, "", who.email_verified ? who.email : "", who.display_name, now));
  if (who.email_verified && !who.email.empty()) {
    TRY_STATUS(identity::set_email_verified(tx, actor, u.id, true, now));
    u.email_verified = true;
  }
  TRY_STATUS(store::link_identity(tx, who.provider, who.subject, u.id, who.email, now));
  link["how"] = "created";
  TRY_STATUS(record(tx, actor, "", "sso.identity.link", u.id, link, now));
  return u;
}

// What the rules say the person should have: org -> role id (the first matching rule naming a role
// in that org decides), and (org, group id) pairs.
struct Desired {
  std::map<std::string, std::string> members;
  std::set<std::pair<std::string, std::string>> groups;
};

Result<std::vector<Rule>> all_rules(db::Tx& tx, const LinkPolicy& policy) {
  std::vector<Rule> rules = policy.rules;
  for (auto& o : TRY(store::all_org_rules(tx))) {
    auto parsed = rules_from_json(json::parse(o.rules_json, nullptr, false), o.org_id);
    if (!parsed) continue;  // validated when stored; never expected
    rules.insert(rules.end(), parsed->begin(), parsed->end());
  }
  return rules;
}

Result<Desired> desired_for(db::Tx& tx, const LinkPolicy& policy, const ExternalIdentity& who) {
  Desired d;
  for (auto& r : TRY(all_rules(tx, policy))) {
    if (!rule_matches(r, who)) continue;
    auto org = identity::get_org(tx, r.org);
    if (!org) {
      spdlog::warn("sso: a rule of provider {} names the org '{}', which does not exist", who.provider, r.org);
      continue;
    }
    if (!r.role.empty()) {
      auto role = identity::resolve_role(tx, org->id, r.role);
      if (role) d.members.emplace(org->id, *role);
      else spdlog::warn("sso: a rule names the role '{}' that org {} does not have", r.role, org->slug);
    }
    if (!r.group.empty()) {
      auto g = TRY(identity::find_group(tx, org->id, r.group));
      if (g) d.groups.emplace(org->id, g->id);
      else spdlog::warn("sso: a rule names the group '{}' that org {} does not have", r.group, org->slug);
    }
  }
  return d;
}

bool has(const std::vector<store::Grant>& gs, const std::string& org, const std::string& kind,
         const std::string& target = "") {
  for (auto& g : gs)
    if (g.org_id == org && g.kind == kind && (target.empty() || g.target == target)) return true;
  return false;
}

// Memberships: granted when asserted and absent; a mapping-made membership follows the rules'
// role and ends when no rule asserts it; a membership made by hand is left alone.
Status apply_members(db::Tx& tx, const Actor& actor, const std::string& user_id, const std::string& provider,
                     const Desired& d, std::vector<store::Grant>& have, json& changes, Millis now) {
  for (auto& [org, role] : d.members) {
    auto m = TRY(identity::get_member(tx, org, user_id));
    if (!m) {
      TRY_STATUS(identity::add_org_member(tx, actor, org, user_id, role, now));
    } else if (!has(have, org, "member")) {
      continue;  // made by hand
    } else if (m->role_id != role) {
      TRY_STATUS(identity::set_member_role(tx, actor, org, *m, role, now));
    } else {
      continue;
    }
    for (auto& g : have)
      if (g.org_id == org && g.kind == "member") TRY_STATUS(store::drop_grant(tx, user_id, provider, g));
    TRY_STATUS(store::add_grant(tx, user_id, provider, {org, "member", role}, now));
    changes.push_back({{"org_id", org}, {"member", role}});
  }
  for (auto& g : have) {
    if (g.kind != "member" || d.members.contains(g.org_id)) continue;
    if (auto m = TRY(identity::get_member(tx, g.org_id, user_id))) {
      if (auto st = identity::remove_member(tx, actor, g.org_id, *m, now); !st) {
        spdlog::warn("sso: {} keeps org {}: {}", user_id, g.org_id, st.error().detail);  // the last admin
        continue;
      }
    }
    TRY_STATUS(store::drop_grant(tx, user_id, provider, g));
    for (auto& gg : have)  // removing the membership removed its groups too
      if (gg.org_id == g.org_id && gg.kind == "group") TRY_STATUS(store::drop_grant(tx, user_id, provider, gg));
    changes.push_back({{"org_id", g.org_id}, {"member", nullptr}});
  }
  have = TRY(store::grants(tx, user_id, provider));
  return {};
}

Status apply_groups(db::Tx& tx, const Actor& actor, const std::string& user_id, const std::string& provider,
                    const Desired& d, const std::vector<store::Grant>& have, json& changes, Millis now) {
  for (auto& [org, gid] : d.groups) {
    if (!TRY(identity::org_role_of(tx, org, user_id))) continue;  // groups only within the org
    bool granted = has(have, org, "group", gid);
    bool in = TRY(identity::group_member_version(tx, gid, user_id)).has_value();
    if (in && !granted) continue;  // made by hand
    if (!in) {
      auto g = TRY(identity::get_group(tx, gid));
      TRY_STATUS(identity::add_group_member(tx, actor, *g, user_id, now));
      changes.push_back({{"org_id", org}, {"group_add", gid}});
    }
    TRY_STATUS(store::add_grant(tx, user_id, provider, {org, "group", gid}, now));
  }
  for (auto& g : have) {
    if (g.kind != "group" || d.groups.contains({g.org_id, g.target})) continue;
    auto grp = TRY(identity::get_group(tx, g.target));
    if (grp && TRY(identity::group_member_version(tx, g.target, user_id))) {
      TRY_STATUS(identity::remove_group_member(tx, actor, *grp, user_id, now));
      changes.push_back({{"org_id", g.org_id}, {"group_remove", g.target}});
    }
    TRY_STATUS(store::drop_grant(tx, user_id, provider, g));
  }
  return {};
}

}  // namespace

Result<identity::User> federate(db::Tx& tx, const Actor& caller, const LinkPolicy& policy,
                                const ExternalIdentity& who, Millis now) {
  if (who.provider.empty() || who.subject.empty()) return invalid("an external identity needs a provider and a subject");
  // Every change below is audited as made by the provider's sign-in.
  Actor actor = caller;
  actor.username = "sso:" + who.provider;
  auto u = TRY(find_or_create(tx, actor, policy, who, now));
  auto d = TRY(desired_for(tx, policy, who));
  auto have = TRY(store::grants(tx, u.id, who.provider));
  json changes = json::array();
  TRY_STATUS(apply_members(tx, actor, u.id, who.provider, d, have, changes, now));
  TRY_STATUS(apply_groups(tx, actor, u.id, who.provider, d, have, changes, now));
  if (!changes.empty())
    TRY_STATUS(record(tx, actor, "", "sso.mapping.apply", u.id, {{"provider", who.provider}, {"changes", changes}}, now));
  return u;
}

}  // namespace atrium::sso
