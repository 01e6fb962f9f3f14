// Private to sso/: mapping rules as JSON (the per-org API) and which rules a person matches.
#pragma once

#include <nlohmann/json.hpp>

#include "sso/federation.hpp"

namespace atrium::sso {

// Parses the body's "rules" array of an org (each rule's org is `org_id`); `field` names the bad
// element ("rules[2].role") in the error. At most 200 rules.
Result<std::vector<Rule>> rules_from_json(const nlohmann::json& rules, const std::string& org_id);
nlohmann::json rules_to_json(const std::vector<Rule>& rules);
// Whether `r` applies to `who` (the provider fits, and the verified email domain or a group matches).
bool rule_matches(const Rule& r, const ExternalIdentity& who);

}  // namespace atrium::sso
