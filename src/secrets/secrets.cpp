// Names, requests, the seal, and what jobs and environments call at submission and at launch.
#include "secrets/secrets.hpp"

#include <set>

#include "core/crypto.hpp"
#include "http/api.hpp"
#include "secrets/store.hpp"

namespace atrium::secrets {
namespace {

std::unexpected<Error> bad_request(std::string detail) {
  return fail(Error(ErrorCode::kInvalidArgument, "invalid-secrets", std::move(detail)).with("field", "secrets"));
}

// The sandbox and the job launcher set these; a secret must not replace them.
bool reserved(std::string_view n) {
  static const std::set<std::string_view> exact = {
      "PATH",  "HOME",     "USER",     "SHELL",          "PWD",        "LOGNAME",
      "TERM",  "HOSTNAME", "TMPDIR",   "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"};
  return exact.contains(n) || n.starts_with("LD_") || n.starts_with("ATRIUM_") || n.starts_with("SLURM_");
}

std::string ad_of(std::string_view scope, std::string_view owner_id, std::string_view name) {
  std::string ad = "atrium secret v1\n";
  ad.append(scope).append("\n").append(owner_id).append("\n").append(name);
  return ad;
}

}  // namespace

Status check_name(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-secret-name",
                      "a secret's name " + why)
                    .with("field", "name"));
  };
  if (name.empty() || name.size() > 64) return bad("must be 1 to 64 characters");
  if (!(name[0] == '_' || (name[0] >= 'A' && name[0] <= 'Z')))
    return bad("must start with A-Z or _ (an environment variable name)");
  for (char c : name)
    if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      return bad("may hold only A-Z, 0-9 and _ (an environment variable name)");
  if (reserved(name))
    return bad("'" + std::string(name) +
               "' is reserved (PATH, HOME, LD_*, ATRIUM_*, SLURM_* and the sandbox's own variables)");
  return {};
}

Result<std::vector<Request>> parse_requests(const nlohmann::json& j) {
  std::vector<Request> out;
  if (j.is_null()) return out;
  if (!j.is_array() || j.size() > kMaxPerJob)
    return bad_request("secrets must be a list of at most " + std::to_string(kMaxPerJob) +
                       " names: [\"NAME\", \"NAME:file\"]");
  std::set<std::string> seen;
  for (auto& item : j) {
    if (!item.is_string()) return bad_request("secrets must hold strings: \"NAME\" or \"NAME:file\"");
    const auto& text = item.get_ref<const std::string&>();
    Request r;
    auto colon = text.find(':');
    r.name = text.substr(0, colon);
    if (colon != std::string::npos) r.as = text.substr(colon + 1);
    if (!check_name(r.name)) return bad_request("secrets: '" + text.substr(0, 80) + "' is not a secret name (A-Z 0-9 _)");
    if (r.as != "env" && r.as != "file")
      return bad_request("secrets: '" + text.substr(0, 80) + "' must be NAME, NAME:env or NAME:file");
    if (!seen.insert(r.name).second) return bad_request("secrets: " + r.name + " is named twice");
    out.push_back(std::move(r));
  }
  return out;
}

nlohmann::json to_json(const std::vector<Request>& rs) {
  nlohmann::json a = nlohmann::json::array();
  for (auto& r : rs) a.push_back(r.as == "env" ? r.name : r.name + ":" + r.as);
  return a;
}

std::string seal(std::string_view key, std::string_view scope, std::string_view owner_id, std::string_view name,
                 std::string_view value) {
  return crypto::base64(crypto::aead_seal(key, value, ad_of(scope, owner_id, name)));
}

std::optional<std::string> open(std::string_view key, std::string_view scope, std::string_view owner_id,
                                std::string_view name, std::string_view sealed) {
  auto raw = crypto::base64_decode(sealed);
  if (!raw) return std::nullopt;
  return crypto::aead_open(key, *raw, ad_of(scope, owner_id, name));
}

Result<std::vector<Request>> check_requests(http::Context& ctx, const std::string& project_id,
                                            const http::Target& project, std::vector<Request> wanted) {
  const std::string& me = ctx.who().user_id;
  const http::Target own{.owner_id = me};
  for (auto& r : wanted) {
    r.scope.clear();
    if (TRY(store::find(ctx.t(), "user", me, r.name)) && ctx.allowed({"secrets", "read"}, own)) r.scope = "user";
    else if (TRY(store::find(ctx.t(), "project", project_id, r.name)) && ctx.allowed({"secrets", "read"}, project))
      r.scope = "project";
    else
      return fail(Error(ErrorCode::kUnprocessable, "secret-not-found",
                        "secrets: neither you nor the project has a secret named " + r.name)
                      .with("field", "secrets")
                      .with("secret", r.name));
  }
  return wanted;
}

Result<std::vector<Value>> resolve(db::Tx& tx, std::string_view key, const std::string& user_id,
                                   const std::string& project_id, const std::vector<Request>& wanted) {
  std::vector<Value> out;
  for (auto& r : wanted) {
    std::optional<store::Row> row;
    if (r.scope != "project") row = TRY(store::find(tx, "user", user_id, r.name));
    if (!row && r.scope != "user") row = TRY(store::find(tx, "project", project_id, r.name));
    if (!row)
      return fail(Error(ErrorCode::kFailedPrecondition, "secret-missing",
                        "the secret " + r.name + (r.scope.empty() ? "" : " (" + r.scope + ")") +
                            " the job asks for no longer exists; it did not run without it")
                      .with("secret", r.name));
    auto value = open(key, row->scope, row->owner_id, row->name, row->sealed);
    if (!value)
      return internal("the secret " + r.name + " (" + row->scope +
                      ") does not open with this instance's key (was the data master key replaced?)");
    out.push_back({r, row->scope, std::move(*value)});
  }
  return out;
}

Status forget_user(db::Tx& tx, const std::string& user_id) { return store::remove_owner(tx, "user", user_id); }

}  // namespace atrium::secrets
