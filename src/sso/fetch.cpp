#include "sso/fetch.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

#include "core/text.hpp"

namespace atrium::sso {
namespace {

constexpr std::size_t kMaxBody = 1 << 20;

std::size_t on_data(char* p, std::size_t size, std::size_t n, void* ud) {
  auto* out = static_cast<std::string*>(ud);
  if (out->size() + size * n > kMaxBody) return 0;  // aborts the transfer
  out->append(p, size * n);
  return size * n;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out;
  for (auto& [k, v] : pairs) {
    if (!out.empty()) out += '&';
    out += percent_encode(k) + "=" + percent_encode(v);
  }
  return out;
}

Result<FetchResponse> fetch(const FetchRequest& req) {
  global_init();
  bool https = req.url.starts_with("https://");
  if (!https && !(req.allow_http && req.url.starts_with("http://")))
    return fail(ErrorCode::kUnavailable, "provider-unavailable",
                "refusing " + req.url + ": the provider must be reached over https");
  CURL* c = curl_easy_init();
  if (!c) return internal("curl_easy_init failed");
  FetchResponse r;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, req.allow_http ? "https,http" : "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req.timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min(req.timeout_ms, 5000L));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!req.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, req.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "atrium-oidc");
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (!req.form_body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.form_body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(req.form_body.size()));
  }
  // RFC 6749 2.3.1: client_secret_basic form-encodes id and secret before base64.
  std::string user = percent_encode(req.basic_user), pass = percent_encode(req.basic_password);
  if (!req.basic_user.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, pass.c_str());
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK)
    return fail(ErrorCode::kUnavailable, "provider-unavailable",
                "the identity provider did not answer (" + req.url + "): " +
                    (errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc)));
  return r;
}

}  // namespace atrium::sso
