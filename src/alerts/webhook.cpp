// The webhook POST: one blocking libcurl request (run on the worker pool by the task queue), the
// body signed, redirects not followed, a timeout; 2xx is delivered, a 5xx, 408, 429 or a network
// failure is worth a retry, any other answer is final.
#include <curl/curl.h>

#include <algorithm>
#include <mutex>

#include "alerts/alerts.hpp"

namespace atrium::alerts {
namespace {

constexpr std::size_t kMaxReply = 64 * 1024;

std::size_t on_data(char* p, std::size_t size, std::size_t n, void* ud) {
  auto* out = static_cast<std::string*>(ud);
  std::size_t len = size * n;
  if (out->size() < kMaxReply) out->append(p, std::min(len, kMaxReply - out->size()));
  return len;
}

}  // namespace

Status Service::post_webhook(const std::string& url, const std::string& secret, const std::string& body) const {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, void (*)(CURL*)> c(curl_easy_init(), curl_easy_cleanup);
  if (!c) return internal("curl_easy_init failed");
  std::string reply;
  char errbuf[CURL_ERROR_SIZE] = {0};
  long timeout = static_cast<long>(std::max<Millis>(s_.webhook_timeout_ms, 100));
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS, std::min(timeout, 5000L));
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &reply);
  curl_easy_setopt(c.get(), CURLOPT_USERAGENT, "atrium-alerts");
  std::string sig = "X-Atrium-Signature: " + signature(secret, body);
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, sig.c_str());
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  CURLcode rc = curl_easy_perform(c.get());
  long status = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK)
    return fail(ErrorCode::kUnavailable, "webhook-unreachable",
                std::string("the webhook did not answer: ") + (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
  if (status >= 200 && status < 300) return {};
  std::string detail = "the webhook answered HTTP " + std::to_string(status);
  if (status >= 500 || status == 408 || status == 429)
    return fail(ErrorCode::kUnavailable, "webhook-failed", detail);
  return fail(ErrorCode::kFailedPrecondition, "webhook-refused", detail);
}

}  // namespace atrium::alerts
