#include "web/site.hpp"

#include "core/text.hpp"

namespace atrium::web {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Paths that are never the UI's: the API and the server's own endpoints keep their problem
// answers, and a git client asking for a missing repository gets a 404, not a page.
bool reserved(std::string_view path) {
  if (path.starts_with("/api/") || path == "/api" || path.starts_with("/env/") || path.starts_with("/_atrium/"))
    return true;
  for (std::size_t i = 0; (i = path.find(".git", i)) != std::string_view::npos; i += 4)
    if (i + 4 == path.size() || path[i + 4] == '/') return true;
  return false;
}

// Does Accept-Encoding offer `coding` (and not with q=0)?
bool accepts(const http::Request& req, std::string_view coding) {
  auto h = req.header("accept-encoding");
  if (!h) return false;
  std::string v = to_lower(std::string(*h));
  for (std::string_view rest = v; !rest.empty();) {
    auto comma = rest.find(',');
    auto item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    auto semi = item.find(';');
    if (trim(item.substr(0, semi)) != coding) continue;
    if (semi == std::string_view::npos) return true;
    auto params = item.substr(semi + 1);
    auto q = params.find("q=");
    if (q == std::string_view::npos) return true;
    auto val = trim(params.substr(q + 2));
    return !(val.starts_with("0") && val.find_first_not_of("0.") == std::string_view::npos);
  }
  return false;
}

void ui_headers(http::Response& r) {
  r.header("Content-Security-Policy", kContentSecurityPolicy);
  r.header("X-Frame-Options", "DENY");
  r.header("X-Content-Type-Options", "nosniff");
  r.header("Referrer-Policy", "same-origin");
  r.header("Cross-Origin-Opener-Policy", "same-origin");
}

http::Response file(const Asset& a, const http::Request& req, bool immutable) {
  http::Response r;
  r.content_type = a.content_type;
  std::string etag = a.etag;
  const std::string* body = &a.raw;
  if (!a.br.empty() && accepts(req, "br")) {
    body = &a.br;
    etag.insert(etag.size() - 1, "-br");
    r.header("Content-Encoding", "br");
  } else if (!a.gz.empty() && accepts(req, "gzip")) {
    body = &a.gz;
    etag.insert(etag.size() - 1, "-gz");
    r.header("Content-Encoding", "gzip");
  }
  ui_headers(r);
  r.header("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
  r.header("ETag", etag);
  if (!a.gz.empty() || !a.br.empty()) r.header("Vary", "Accept-Encoding");
  if (auto inm = req.header("if-none-match"); inm && inm->find(etag) != std::string_view::npos) {
    r.status = 304;
    return r;
  }
  r.body = *body;
  return r;
}

}  // namespace

std::optional<http::Response> serve(const Assets* assets, const http::Request& req) {
  if (req.method != "GET" && req.method != "HEAD") return std::nullopt;
  if (reserved(req.path)) return std::nullopt;
  if (!assets) {
    auto r = http::Response::text(
        503, "The web UI is not built here. Build it with `make build` (it needs Node.js 20), or set [web] "
             "assets_dir to a built copy.\n");
    r.header("Cache-Control", "no-store");
    return r;
  }
  if (req.path.starts_with("/assets/")) {
    if (const Asset* a = assets->find(req.path)) return file(*a, req, true);
    auto r = http::Response::text(404, "no such file\n");
    ui_headers(r);
    return r;
  }
  // A file at the top (favicon.svg, robots.txt), else the app's page for this route.
  // (terminal.html is served on environments' origins only: serve_env_page.)
  if (req.path != "/" && req.path != "/index.html" && req.path != "/terminal.html")
    if (const Asset* a = assets->find(req.path)) return file(*a, req, false);
  return file(*assets->find("/index.html"), req, false);
}

std::optional<http::Response> serve_env_page(const Assets* assets, const http::Request& req) {
  if (!assets || (req.method != "GET" && req.method != "HEAD")) return std::nullopt;
  constexpr std::string_view kAssets = "/_atrium/assets/";
  if (req.path.starts_with(kAssets)) {
    if (const Asset* a = assets->find("/assets/" + req.path.substr(kAssets.size()))) return file(*a, req, true);
    return std::nullopt;
  }
  if (req.path == "/_atrium/terminal")
    if (const Asset* a = assets->find("/terminal.html")) return file(*a, req, false);
  return std::nullopt;
}

}  // namespace atrium::web
