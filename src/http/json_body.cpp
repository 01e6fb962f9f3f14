#include "http/json_body.hpp"

#include "core/text.hpp"

namespace atrium::http {
namespace {

std::string type_name(const nlohmann::json& v) {
  if (v.is_string()) return "a string";
  if (v.is_number_integer() || v.is_number_unsigned()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_boolean()) return "a boolean";
  if (v.is_null()) return "null";
  if (v.is_array()) return "an array";
  return "an object";
}

std::unexpected<Error> wrong_type(std::string_view key, std::string_view want, const nlohmann::json& got) {
  return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                    "field '" + std::string(key) + "' must be " + std::string(want) + ", got " + type_name(got))
                  .with("field", std::string(key)));
}

std::unexpected<Error> missing(std::string_view key) {
  return fail(Error(ErrorCode::kInvalidArgument, "missing-field", "field '" + std::string(key) + "' is required")
                  .with("field", std::string(key)));
}

}  // namespace

Result<JsonBody> JsonBody::parse(const Request& req) {
  auto ct = req.header("content-type");
  if (!ct || to_lower(ct->substr(0, ct->find(';'))).find("application/json") == std::string::npos)
    return fail(ErrorCode::kUnsupportedMediaType, "unsupported-media-type",
                "the request body must be JSON with Content-Type: application/json");
  return from_text(req.body);
}

Result<JsonBody> JsonBody::from_text(std::string_view text) {
  if (!is_valid_utf8(text)) return fail(ErrorCode::kInvalidArgument, "invalid-json", "the request body is not valid UTF-8");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    // Parse again with exceptions to get the position for the message.
    try {
      [[maybe_unused]] auto unused = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      return fail(Error(ErrorCode::kInvalidArgument, "invalid-json",
                        "the request body is not valid JSON (error at byte " + std::to_string(e.byte) + ")"));
    } catch (...) {
    }
    return fail(ErrorCode::kInvalidArgument, "invalid-json", "the request body is not valid JSON");
  }
  if (!j.is_object()) return fail(ErrorCode::kInvalidArgument, "invalid-json", "the request body must be a JSON object");
  return JsonBody(std::move(j));
}

Status JsonBody::only(std::initializer_list<std::string_view> allowed) const {
  for (auto& [k, _] : j_.items()) {
    bool ok = false;
    for (auto a : allowed) ok = ok || a == k;
    if (!ok) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return fail(Error(ErrorCode::kInvalidArgument, "unknown-field",
                        "unknown field '" + k + "' (allowed: " + list + ")")
                      .with("field", k));
    }
  }
  return {};
}

Result<std::optional<std::string>> JsonBody::opt_str(std::string_view key, std::size_t max_len) const {
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) return wrong_type(key, "a string", *it);
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > max_len)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                      "field '" + std::string(key) + "' is longer than " + std::to_string(max_len) + " bytes")
                    .with("field", std::string(key)));
  return std::optional<std::string>{s};
}

Result<std::string> JsonBody::str(std::string_view key, std::size_t max_len) const {
  auto v = TRY(opt_str(key, max_len));
  if (!v) return missing(key);
  return *v;
}

Result<std::optional<std::int64_t>> JsonBody::opt_integer(std::string_view key, std::int64_t lo, std::int64_t hi) const {
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return std::optional<std::int64_t>{};
  if (!it->is_number_integer() && !it->is_number_unsigned()) return wrong_type(key, "an integer", *it);
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "field '" + std::string(key) + "' is too large"));
  std::int64_t v = it->get<std::int64_t>();
  if (v < lo || v > hi)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                      "field '" + std::string(key) + "' must be between " + std::to_string(lo) + " and " +
                          std::to_string(hi))
                    .with("field", std::string(key)));
  return std::optional<std::int64_t>{v};
}

Result<std::int64_t> JsonBody::integer(std::string_view key, std::int64_t lo, std::int64_t hi) const {
  auto v = TRY(opt_integer(key, lo, hi));
  if (!v) return missing(key);
  return *v;
}

Result<std::optional<bool>> JsonBody::opt_bool(std::string_view key) const {
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return std::optional<bool>{};
  if (!it->is_boolean()) return wrong_type(key, "a boolean", *it);
  return std::optional<bool>{it->get<bool>()};
}

Result<std::optional<std::string>> JsonBody::opt_one_of(std::string_view key,
                                                        std::initializer_list<std::string_view> values) const {
  auto v = TRY(opt_str(key, 64));
  if (!v) return v;
  for (auto a : values)
    if (a == *v) return v;
  std::string list;
  for (auto a : values) list += (list.empty() ? "" : ", ") + std::string(a);
  return fail(Error(ErrorCode::kInvalidArgument, "invalid-enum",
                    "field '" + std::string(key) + "': '" + *v + "' is not one of " + list)
                  .with("field", std::string(key)));
}

Result<std::string> JsonBody::one_of(std::string_view key, std::initializer_list<std::string_view> values) const {
  auto v = TRY(opt_one_of(key, values));
  if (!v) return missing(key);
  return *v;
}

Result<std::optional<std::vector<std::string>>> JsonBody::opt_str_list(std::string_view key, std::size_t max_items,
                                                                       std::size_t max_len) const {
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return std::optional<std::vector<std::string>>{};
  if (!it->is_array()) return wrong_type(key, "an array of strings", *it);
  if (it->size() > max_items)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                      "field '" + std::string(key) + "' has more than " + std::to_string(max_items) + " items"));
  std::vector<std::string> out;
  for (auto& e : *it) {
    if (!e.is_string()) return wrong_type(key, "an array of strings", *it);
    const auto& s = e.get_ref<const std::string&>();
    if (s.size() > max_len)
      return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                        "an item of '" + std::string(key) + "' is longer than " + std::to_string(max_len) + " bytes"));
    out.push_back(s);
  }
  return std::optional<std::vector<std::string>>{std::move(out)};
}

}  // namespace atrium::http
