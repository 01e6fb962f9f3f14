// libFuzzer harness for JSON request bodies: JsonBody::from_text and the typed accessors the
// routes use must turn any byte string into a value or a 400, never a crash or an exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/json_body.hpp"

namespace {

// A Result must be a value or an invalid-argument error (400).
template <typename R>
void expect_400_or_value(const R& r) {
  if (!r && r.error().code != atrium::ErrorCode::kInvalidArgument) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    auto body = atrium::http::JsonBody::from_text(in);
    expect_400_or_value(body);
    if (!body) return 0;
    if (!body->raw().is_object()) __builtin_trap();

    expect_400_or_value(body->only({"name", "slug", "limit", "scopes", "role", "visibility"}));
    expect_400_or_value(body->only({}));
    for (std::string_view key : {"name", "slug", "limit", "scopes", "role", "", "\xff"}) {
      auto s = body->str(key);
      expect_400_or_value(s);
      if (s && s->size() > 256) __builtin_trap();
      auto short_s = body->opt_str(key, 8);
      expect_400_or_value(short_s);
      if (short_s && *short_s && (*short_s)->size() > 8) __builtin_trap();
      auto i = body->opt_integer(key, -5, 1000);
      expect_400_or_value(i);
      if (i && *i && (**i < -5 || **i > 1000)) __builtin_trap();
      expect_400_or_value(body->integer(key, INT64_MIN, INT64_MAX));
      expect_400_or_value(body->opt_bool(key));
      auto list = body->opt_str_list(key, 4, 16);
      expect_400_or_value(list);
      if (list && *list) {
        if ((*list)->size() > 4) __builtin_trap();
        for (const auto& item : **list)
          if (item.size() > 16) __builtin_trap();
      }
      auto e = body->one_of(key, {"owner", "maintainer", "member", "viewer"});
      expect_400_or_value(e);
      if (e && *e != "owner" && *e != "maintainer" && *e != "member" && *e != "viewer") __builtin_trap();
      expect_400_or_value(body->opt_one_of(key, {"private", "org", "instance"}));
    }
  } catch (...) {
    __builtin_trap();  // exceptions must not escape the JSON layer
  }
  return 0;
}
