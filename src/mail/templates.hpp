// Mail templates: src/mail/templates/<locale>/<name>.{subject,txt,html}, embedded into the binary
// at build time (embed_templates.cmake), with {{var}} placeholders (HTML-escaped in the HTML part).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace atrium::mail {

struct Rendered {
  std::string subject, text, html;
};

// The templates and the variables each one needs (besides site_url, which every mail gets).
struct TemplateInfo {
  std::string name;
  std::vector<std::string> vars;
};
const std::vector<TemplateInfo>& templates();
bool has_template(std::string_view name);
bool has_locale(std::string_view locale);
std::vector<std::string> locales();
// Whether `locale` has its own copy of template `name` (else it falls back).
bool has_localised(std::string_view locale, std::string_view name);

// Renders `name` in `locale`, falling back to `fallback_locale`, then to "en". A variable that the
// template names but `vars` lacks, or an unknown template, is invalid_argument.
Result<Rendered> render(std::string_view name, std::string_view locale, std::string_view fallback_locale,
                        const nlohmann::json& vars);

// The raw text of one embedded file ("en/invitation.html"), or nullptr.
const std::string* embedded_file(std::string_view path);

}  // namespace atrium::mail
