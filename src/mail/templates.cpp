#include "mail/templates.hpp"

#include <map>
#include <set>

namespace atrium::mail {

// Generated at build time from templates/ (embed_templates.cmake).
struct EmbeddedFile {
  const char* path;
  const char* data;
  std::size_t size;
};
extern const EmbeddedFile kEmbeddedTemplates[];
extern const std::size_t kEmbeddedTemplateCount;

namespace {

using nlohmann::json;

const std::map<std::string, std::string, std::less<>>& files() {
  static const auto* m = [] {
    auto* out = new std::map<std::string, std::string, std::less<>>;
    for (std::size_t i = 0; i < kEmbeddedTemplateCount; ++i)
      (*out)[kEmbeddedTemplates[i].path] = std::string(kEmbeddedTemplates[i].data, kEmbeddedTemplates[i].size);
    return out;
  }();
  return *m;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  return out;
}

std::string text_of(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

Result<std::string> substitute(std::string_view src, const json& vars, bool html, std::string_view where) {
  std::string out;
  std::size_t i = 0;
  while (true) {
    auto open = src.find("{{", i);
    if (open == std::string_view::npos) break;
    auto close = src.find("}}", open + 2);
    if (close == std::string_view::npos) return internal(std::string(where) + ": unclosed {{");
    out += src.substr(i, open - i);
    std::string name(src.substr(open + 2, close - open - 2));
    while (!name.empty() && name.front() == ' ') name.erase(0, 1);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    if (!vars.contains(name) || vars[name].is_null())
      return fail(Error(ErrorCode::kInvalidArgument, "missing-template-variable",
                        std::string(where) + " needs the variable '" + name + "'")
                      .with("field", "vars"));
    out += html ? html_escape(text_of(vars[name])) : text_of(vars[name]);
    i = close + 2;
  }
  out += src.substr(i);
  return out;
}

}  // namespace

const std::vector<TemplateInfo>& templates() {
  static const std::vector<TemplateInfo> all = {
      {"invitation", {"org_name", "inviter", "link", "expiry"}},
      {"password_reset", {"link", "expiry", "requester_ip"}},
      {"verify_email", {"link"}},
      {"admin_password_reset", {"link"}},
      {"job_ended", {"job_name", "job_id", "state", "cause", "link"}},
      {"job_failed", {"job_name", "job_id", "state", "cause", "link"}},
      {"env_cull_warning", {"env_name", "env_id", "reason", "stop_at", "link"}},
      {"quota_near_limit", {"resource", "used", "limit", "percent", "subject", "link"}},
      {"alert", {"rule_name", "kind", "figure", "op", "threshold", "value", "severity", "at", "link"}},
  };
  return all;
}

bool has_template(std::string_view name) {
  for (auto& t : templates())
    if (t.name == name) return true;
  return false;
}

std::vector<std::string> locales() {
  std::set<std::string> out;
  for (auto& [path, _] : files()) out.insert(path.substr(0, path.find('/')));
  return {out.begin(), out.end()};
}

bool has_locale(std::string_view locale) {
  for (auto& l : locales())
    if (l == locale) return true;
  return false;
}

bool has_localised(std::string_view locale, std::string_view name) {
  return embedded_file(std::string(locale) + "/" + std::string(name) + ".subject") != nullptr;
}

const std::string* embedded_file(std::string_view path) {
  auto it = files().find(path);
  return it == files().end() ? nullptr : &it->second;
}

Result<Rendered> render(std::string_view name, std::string_view locale, std::string_view fallback_locale,
                        const json& vars) {
  if (!has_template(name))
    return fail(Error(ErrorCode::kInvalidArgument, "unknown-template", "no mail template '" + std::string(name) + "'")
                    .with("field", "template"));
  if (!vars.is_object()) return invalid("template variables must be an object");
  std::string loc(locale);
  if (!has_localised(loc, name)) loc = fallback_locale;
  if (!has_localised(loc, name)) loc = "en";
  std::string base = loc + "/" + std::string(name);
  Rendered r;
  for (auto [ext, out, html] : {std::tuple{".subject", &r.subject, false}, std::tuple{".txt", &r.text, false},
                                std::tuple{".html", &r.html, true}}) {
    const std::string* src = embedded_file(base + ext);
    if (!src) return internal("mail template " + base + ext + " is missing");
    *out = TRY(substitute(*src, vars, html, base + ext));
  }
  // The subject is one header line: its file's final newline goes, and nothing may add another.
  while (!r.subject.empty() && (r.subject.back() == '\n' || r.subject.back() == '\r')) r.subject.pop_back();
  if (r.subject.find_first_of("\r\n") != std::string::npos)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-mail", "a subject may not contain a line break")
                    .with("field", "vars"));
  return r;
}

}  // namespace atrium::mail
