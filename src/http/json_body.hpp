// Reading JSON request bodies with errors a person can act on: which field, what was expected.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "http/message.hpp"

namespace atrium::http {

class JsonBody {
 public:
  // Requires Content-Type application/json (415), valid UTF-8 and JSON (400), an object (400).
  static Result<JsonBody> parse(const Request& req);
  static Result<JsonBody> from_text(std::string_view text);
  explicit JsonBody(nlohmann::json j) : j_(std::move(j)) {}

  // Fails on any key not in `allowed` (a typo must not be silently ignored).
  Status only(std::initializer_list<std::string_view> allowed) const;
  bool has(std::string_view key) const { return j_.contains(key); }

  Result<std::string> str(std::string_view key, std::size_t max_len = 256) const;
  Result<std::optional<std::string>> opt_str(std::string_view key, std::size_t max_len = 256) const;
  Result<std::int64_t> integer(std::string_view key, std::int64_t lo, std::int64_t hi) const;
  Result<std::optional<std::int64_t>> opt_integer(std::string_view key, std::int64_t lo, std::int64_t hi) const;
  Result<std::optional<bool>> opt_bool(std::string_view key) const;
  Result<std::string> one_of(std::string_view key, std::initializer_list<std::string_view> values) const;
  Result<std::optional<std::string>> opt_one_of(std::string_view key, std::initializer_list<std::string_view> values) const;
  // A list of strings, each at most max_len, at most max_items.
  Result<std::optional<std::vector<std::string>>> opt_str_list(std::string_view key, std::size_t max_items,
                                                               std::size_t max_len) const;
  const nlohmann::json& raw() const { return j_; }

 private:
  nlohmann::json j_;
};

}  // namespace atrium::http
