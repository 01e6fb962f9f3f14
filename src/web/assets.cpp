#include "web/assets.hpp"

#include <fstream>
#include <sstream>

#include "core/crypto.hpp"

namespace atrium::web {
namespace fs = std::filesystem;
namespace {

std::string content_type_of(const fs::path& p) {
  static const std::map<std::string, std::string, std::less<>> kTypes = {
      {".html", "text/html; charset=utf-8"},   {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},               {".json", "application/json"},
      {".png", "image/png"},                   {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},                {".woff", "font/woff"},
      {".ttf", "font/ttf"},                    {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"},           {".map", "application/json"}};
  auto it = kTypes.find(p.extension().string());
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

Result<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return internal("web UI: cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

Result<Assets> Assets::load(const fs::path& dir) {
  Assets a;
  std::error_code ec;
  if (!fs::is_regular_file(dir / "index.html", ec))
    return fail(ErrorCode::kNotFound, "no-web-ui", "no index.html in " + dir.string());
  std::map<std::string, std::string> compressed;  // "/x.js.gz" -> bytes, matched after the walk
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file() || it->is_symlink()) continue;
    auto rel = "/" + fs::relative(it->path(), dir).generic_string();
    auto bytes = TRY(read_file(it->path()));
    auto ext = it->path().extension();
    if (ext == ".gz" || ext == ".br") {
      compressed[rel] = std::move(bytes);
      continue;
    }
    Asset asset{content_type_of(it->path()), "\"" + crypto::sha256_hex(bytes).substr(0, 20) + "\"", std::move(bytes)};
    a.files_.emplace(rel, std::move(asset));
  }
  if (ec) return internal("web UI: reading " + dir.string() + ": " + ec.message());
  for (auto& [name, bytes] : compressed) {
    auto it = a.files_.find(std::string_view(name).substr(0, name.size() - 3));
    if (it == a.files_.end()) continue;
    (name.ends_with(".gz") ? it->second.gz : it->second.br) = std::move(bytes);
  }
  return a;
}

const Asset* Assets::find(const std::string& path) const {
  auto it = files_.find(path);
  return it == files_.end() ? nullptr : &it->second;
}

std::size_t Assets::bytes() const {
  std::size_t n = 0;
  for (auto& [_, a] : files_) n += a.raw.size() + a.gz.size() + a.br.size();
  return n;
}

fs::path default_assets_dir(const fs::path& exe) {
  auto bin = exe.parent_path();
  std::error_code ec;
  if (fs::is_regular_file(bin / ".." / "web" / "index.html", ec)) return (bin / ".." / "web").lexically_normal();
  return (bin / ".." / "share" / "atrium" / "web").lexically_normal();
}

}  // namespace atrium::web
