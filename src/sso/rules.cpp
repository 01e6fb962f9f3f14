#include "sso/rules.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace atrium::sso {
namespace {

Status check_rule(const Rule& r, const std::string& where) {
  auto bad = [&](const std::string& field, const std::string& why) {
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-rule", field + ": " + why).with("field", field));
  };
  if (r.email_domain.empty() == r.claim_group.empty())
    return bad(where, "give exactly one of email_domain and claim_group");
  if (r.role.empty() && r.group.empty()) return bad(where, "give a role, a group, or both");
  const std::pair<const char*, const std::string*> fields[] = {
      {"email_domain", &r.email_domain}, {"claim_group", &r.claim_group}, {"role", &r.role},
      {"group", &r.group},               {"provider", &r.provider},       {"org", &r.org}};
  for (auto [k, v] : fields)
    if (auto st = check_display_text(k, *v, 200, true); !st) return bad(where + "." + k, st.error().detail);
  if (!r.email_domain.empty() && (r.email_domain.find('@') != std::string::npos || r.email_domain.front() == '.'))
    return bad(where + ".email_domain", "a domain such as uni.example, without '@'");
  return {};
}

}  // namespace

namespace {

// One rule object; `org` set: every rule is that org's (the API), else each names its org.
Result<Rule> rule_from_json(const nlohmann::json& j, const std::string& where, const std::string& org) {
  auto bad = [](const std::string& field, const std::string& why) {
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-rule", field + ": " + why).with("field", field));
  };
  if (!j.is_object()) return bad(where, "each rule is an object");
  Rule r{.org = org};
  for (auto& [k, v] : j.items()) {
    std::string* slot = k == "email_domain" ? &r.email_domain
                        : k == "claim_group" ? &r.claim_group
                        : k == "role"        ? &r.role
                        : k == "group"       ? &r.group
                        : k == "provider"    ? &r.provider
                        : k == "org" && org.empty() ? &r.org
                                                    : nullptr;
    if (!slot) return bad(where + "." + k, "unknown field '" + k + "'");
    if (!v.is_string()) return bad(where + "." + k, k + " must be a string");
    *slot = v.get<std::string>();
  }
  if (r.org.empty()) return bad(where + ".org", "org is required");
  r.email_domain = to_lower(r.email_domain);
  TRY_STATUS(check_rule(r, where));
  return r;
}

Result<std::vector<Rule>> rules_of(const nlohmann::json& rules, const std::string& org) {
  if (!rules.is_array())
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-rule", "rules must be an array").with("field", "rules"));
  if (rules.size() > 200)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-rule", "at most 200 rules").with("field", "rules"));
  std::vector<Rule> out;
  for (std::size_t i = 0; i < rules.size(); ++i)
    out.push_back(TRY(rule_from_json(rules[i], "rules[" + std::to_string(i) + "]", org)));
  return out;
}

}  // namespace

Result<std::vector<Rule>> parse_config_rules(const nlohmann::json& rules, const std::string& provider) {
  auto out = TRY(rules_of(rules, ""));
  for (auto& r : out) r.provider = provider;
  return out;
}

Result<std::vector<Rule>> rules_from_json(const nlohmann::json& rules, const std::string& org_id) {
  return rules_of(rules, org_id);
}

nlohmann::json rules_to_json(const std::vector<Rule>& rules) {
  auto out = nlohmann::json::array();
  for (auto& r : rules) {
    nlohmann::json j = nlohmann::json::object();
    if (!r.provider.empty()) j["provider"] = r.provider;
    if (!r.email_domain.empty()) j["email_domain"] = r.email_domain;
    if (!r.claim_group.empty()) j["claim_group"] = r.claim_group;
    if (!r.role.empty()) j["role"] = r.role;
    if (!r.group.empty()) j["group"] = r.group;
    out.push_back(std::move(j));
  }
  return out;
}

bool rule_matches(const Rule& r, const ExternalIdentity& who) {
  if (!r.provider.empty() && r.provider != who.provider) return false;
  if (!r.claim_group.empty())
    return std::find(who.groups.begin(), who.groups.end(), r.claim_group) != who.groups.end();
  // Only an email the provider verified says which institution someone belongs to.
  if (!who.email_verified) return false;
  auto at = who.email.rfind('@');
  return at != std::string::npos && to_lower(who.email.substr(at + 1)) == r.email_domain;
}

}  // namespace atrium::sso
