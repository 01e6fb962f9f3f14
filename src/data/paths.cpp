#include "data/paths.hpp"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "core/text.hpp"

namespace atrium::data {
namespace {

std::unexpected<Error> bad(std::string_view path, std::string why) {
  std::string shown(path.substr(0, 200));
  for (auto& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return fail(Error(ErrorCode::kInvalidArgument, "invalid-path", "invalid path \"" + shown + "\": " + why)
                  .with("field", "path"));
}

}  // namespace

Result<std::string> normalize_path(std::string_view path) {
  if (path.empty()) return bad(path, "it is empty");
  if (path.size() > 4 * kMaxPathBytes) return bad(path, "longer than " + std::to_string(kMaxPathBytes) + " bytes");
  if (!is_valid_utf8(path)) return bad(path, "not valid UTF-8");
  for (unsigned char c : path) {
    if (c == 0) return bad(path, "it contains a NUL byte");
    if (c < 0x20 || c == 0x7f) return bad(path, "it contains a control character");
    if (c == '\\') return bad(path, "it contains a backslash (the separator is '/')");
  }
  // NFC; C1 controls and unassigned code points are refused (they render as nothing or differ
  // between systems).
  utf8proc_uint8_t* out = nullptr;
  auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(path.data()), static_cast<utf8proc_ssize_t>(path.size()),
                        &out, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_REJECTNA));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> hold(out, &std::free);
  if (n < 0) return bad(path, std::string("not acceptable Unicode (") + utf8proc_errmsg(n) + ")");
  std::string p(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < p.size();) {
    utf8proc_int32_t cp = 0;
    auto len = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(p.data() + i),
                                static_cast<utf8proc_ssize_t>(p.size() - i), &cp);
    if (len <= 0) return bad(path, "not valid UTF-8");
    auto cat = utf8proc_category(cp);
    if (cat == UTF8PROC_CATEGORY_CC) return bad(path, "it contains a control character");
    if (cp == 0x2028 || cp == 0x2029) return bad(path, "it contains a line separator");
    i += static_cast<std::size_t>(len);
  }
  if (p.size() > kMaxPathBytes) return bad(path, "longer than " + std::to_string(kMaxPathBytes) + " bytes");
  if (p.front() == '/') return bad(path, "it is absolute (starts with '/')");
  std::size_t depth = 0;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = p.find('/', start);
    std::string_view comp = std::string_view(p).substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (comp.empty()) return bad(path, end == std::string::npos ? "it ends with '/'" : "it contains '//'");
    if (comp == "." || comp == "..") return bad(path, "it contains a '" + std::string(comp) + "' component");
    if (comp.size() > kMaxComponentBytes)
      return bad(path, "a component is longer than " + std::to_string(kMaxComponentBytes) + " bytes");
    if (comp.back() == ' ' || comp.back() == '.') return bad(path, "a component ends with a space or a dot");
    if (++depth > kMaxPathDepth) return bad(path, "deeper than " + std::to_string(kMaxPathDepth) + " levels");
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return p;
}

}  // namespace atrium::data
