#include "envs/origin.hpp"

#include "core/ids.hpp"
#include "core/text.hpp"

namespace atrium::envs {

namespace {

// "scheme://host[:port]" -> ("scheme://", ":port" or "").
std::pair<std::string, std::string> scheme_and_port(const std::string& url) {
  auto sep = url.find("://");
  if (sep == std::string::npos) return {"http://", ""};
  std::string scheme = url.substr(0, sep + 3);
  auto authority = std::string_view(url).substr(sep + 3);
  authority = authority.substr(0, authority.find('/'));
  auto bracket = authority.rfind(']');
  auto colon = authority.rfind(':');
  if (colon == std::string_view::npos || (bracket != std::string_view::npos && colon < bracket)) return {scheme, ""};
  return {scheme, std::string(authority.substr(colon))};
}

}  // namespace

std::string host_label(const std::string& env_id) {
  std::string out = to_lower(env_id);
  for (char& c : out)
    if (c == '_') c = '-';
  return out;
}

std::string env_of_label(std::string_view label) {
  if (!label.starts_with("env-")) return "";
  std::string id = "env_";
  for (char c : label.substr(4)) id += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return is_id(id, "env") ? id : "";
}

std::string Origins::origin(const std::string& env_id) const {
  auto [scheme, port] = scheme_and_port(public_url);
  return scheme + host_label(env_id) + "." + domain + port;
}

std::string Origins::url(const std::string& env_id) const {
  return path_mode ? public_url + "/env/" + env_id + "/" : origin(env_id) + "/";
}

std::string Origins::base_url(const std::string& env_id) const {
  return path_mode ? "/env/" + env_id + "/" : "/";
}

std::string Origins::env_of_host(std::string_view host) const {
  if (path_mode || domain.empty() || host.size() > 300) return "";
  std::string h = to_lower(host);
  if (auto colon = h.rfind(':'); colon != std::string::npos) {
    for (char c : std::string_view(h).substr(colon + 1))
      if (c < '0' || c > '9') return "";
    h.resize(colon);
  }
  if (!h.empty() && h.back() == '.') h.pop_back();  // the absolute form names the same host
  std::string suffix = "." + domain;
  if (h.size() <= suffix.size() || !h.ends_with(suffix)) return "";
  auto label = std::string_view(h).substr(0, h.size() - suffix.size());
  if (label.find('.') != std::string_view::npos) return "";
  return env_of_label(label);
}

std::string resolve_public_url(const std::string& configured, bool tls, unsigned short port) {
  std::string u = configured;
  while (!u.empty() && u.back() == '/') u.pop_back();
  if (!u.empty()) return u;
  return std::string(tls ? "https://" : "http://") + "localhost:" + std::to_string(port);
}

}  // namespace atrium::envs
