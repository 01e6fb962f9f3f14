// The OpenAPI 3.1 document, generated from the route table so that it cannot drift.
#include "http/api.hpp"

namespace atrium::http {

nlohmann::json Api::openapi() const {
  using nlohmann::json;
  json paths = json::object();
  for (const auto& r : routes_) {
    if (!r.pattern.starts_with("/api/") && !r.pattern.starts_with("/healthz") && !r.pattern.starts_with("/readyz") &&
        !r.pattern.starts_with("/metrics"))
      continue;
    std::string method = r.method;
    for (auto& c : method) c = static_cast<char>(std::tolower(c));
    json op;
    std::string op_id = method;
    for (auto& seg : r.segments) {
      if (seg == "api" || seg == "v1") continue;
      op_id += "_";
      for (char c : seg)
        if (std::isalnum(static_cast<unsigned char>(c))) op_id += c;
    }
    op["operationId"] = op_id;
    op["summary"] = r.doc.summary;
    if (!r.doc.tag.empty()) op["tags"] = json::array({r.doc.tag});
    json params = json::array();
    for (auto& seg : r.segments)
      if (seg.size() > 2 && seg.front() == '{')
        params.push_back({{"name", seg.substr(1, seg.size() - (seg.ends_with("*}") ? 3 : 2))}, {"in", "path"}, {"required", true},
                          {"schema", {{"type", "string"}}}});
    for (auto& q : r.doc.query)
      params.push_back({{"name", q}, {"in", "query"}, {"required", false}, {"schema", {{"type", "string"}}}});
    if (method == "patch" || method == "put" || method == "delete")
      params.push_back({{"name", "If-Match"}, {"in", "header"}, {"required", false}, {"schema", {{"type", "string"}}},
                        {"description", "The ETag last read; required by routes that change a versioned object"}});
    if (r.doc.idempotent_post)
      params.push_back({{"name", "Idempotency-Key"}, {"in", "header"}, {"required", false},
                        {"schema", {{"type", "string"}, {"maxLength", 255}}}});
    if (!params.empty()) op["parameters"] = params;
    if (!r.doc.request.is_null())
      op["requestBody"] = {{"required", true}, {"content", {{"application/json", {{"schema", r.doc.request}}}}}};
    json ok = {{"description", "success"}};
    if (!r.doc.response.is_null()) ok["content"] = {{"application/json", {{"schema", r.doc.response}}}};
    op["responses"] = {{std::to_string(r.doc.success), ok},
                       {"default", {{"description", "an RFC 9457 problem"},
                                    {"content", {{"application/problem+json",
                                                  {{"schema", {{"$ref", "#/components/schemas/Problem"}}}}}}}}}};
    switch (r.access.kind) {
      case AccessKind::kPublic:
        op["security"] = json::array();
        op["x-atrium-access"] = "public";
        break;
      case AccessKind::kAuthenticated:
        op["x-atrium-access"] = "signed-in";
        break;
      case AccessKind::kPermission:
        op["x-atrium-access"] = "permission";
        op["x-atrium-permission"] = r.access.perm.str();
        break;
    }
    std::string key = r.pattern;  // {path*} (the rest of the path) is {path} in OpenAPI
    if (auto star = key.find("*}"); star != std::string::npos) key.erase(star, 1);
    paths[key][method] = op;
  }
  json doc;
  doc["openapi"] = "3.1.0";
  doc["info"] = {{"title", "Atrium API"}, {"version", "1"},
                 {"description", "Research computing platform: identity, tenancy, projects, audit."}};
  doc["paths"] = paths;
  doc["components"]["securitySchemes"] = {
      {"bearer", {{"type", "http"}, {"scheme", "bearer"}}},
      {"session", {{"type", "apiKey"}, {"in", "cookie"}, {"name", "atrium_session"}}}};
  doc["security"] = json::array({{{"bearer", json::array()}}, {{"session", json::array()}}});
  doc["components"]["schemas"]["Problem"] = {
      {"type", "object"},
      {"required", {"type", "status", "detail"}},
      {"properties",
       {{"type", {{"type", "string"}}}, {"title", {{"type", "string"}}}, {"status", {{"type", "integer"}}},
        {"detail", {{"type", "string"}}}, {"instance", {{"type", "string"}}}, {"request_id", {{"type", "string"}}}}}};
  return doc;
}

}  // namespace atrium::http
