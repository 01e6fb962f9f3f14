#include "envs/config.hpp"

#include <cctype>

#include "core/text.hpp"

namespace atrium::envs {
namespace {

// A DNS name under which each environment gets a host of its own: letters, digits, '-', dots
// between labels (the operator's wildcard DNS and certificate cover *.<domain>).
Status check_domain(Config& c) {
  c.domain = to_lower(c.domain);
  const std::string& d = c.domain;
  auto bad = [&] { return invalid("envs.domain: '" + d + "' is not a DNS name like envs.example.org"); };
  if (d.empty() || d.size() > 200 || d.front() == '.' || d.back() == '.' || d.find("..") != std::string::npos)
    return bad();
  for (char ch : d)
    if (!(std::islower(static_cast<unsigned char>(ch)) || std::isdigit(static_cast<unsigned char>(ch)) || ch == '-' ||
          ch == '.'))
      return bad();
  return {};
}

}  // namespace

void declare(config::Registry& r, Config& c) {
  r.section("envs", c)
      .string("domain", "environments are served at <env>.<domain> (wildcard DNS and certificate)", &Config::domain)
      .boolean("path_mode", "serve environments at <public_url>/env/<id>/ on Atrium's own origin (unsafe)",
               &Config::path_mode)
      .integer("cull_warning_s", "seconds before an idle or uptime cull that its owner is warned (event and mail)",
               &Config::cull_warning_s, 0, 86400)
      .integer("files_sync_s",
               "seconds between syncs of environments' project views (/project) and measurements of their homes "
               "(0: at stop and on request only)",
               &Config::files_sync_s, 0, 86400)
      .check(check_domain);
}

}  // namespace atrium::envs
