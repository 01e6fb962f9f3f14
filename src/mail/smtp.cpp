#include "mail/smtp.hpp"

#include <curl/curl.h>

#include <cstring>
#include <memory>

namespace atrium::mail {
namespace {

struct Upload {
  const std::string& data;
  std::size_t offset = 0;
};

std::size_t read_cb(char* buf, std::size_t size, std::size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  std::size_t len = std::min(size * n, u->data.size() - u->offset);
  std::memcpy(buf, u->data.data() + u->offset, len);
  u->offset += len;
  return len;
}

// The server's last 4xx or 5xx reply, as it arrives: what an error reports (not the "221 Bye" after it).
int debug_cb(CURL*, curl_infotype type, char* data, std::size_t size, void* user) {
  if (type != CURLINFO_HEADER_IN || size == 0 || (data[0] != '4' && data[0] != '5')) return 0;
  std::string line(data, size);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.size() > 300) line.resize(300);
  *static_cast<std::string*>(user) = line;
  return 0;
}

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

Status smtp_send(const SmtpSettings& s, const std::string& from, const std::string& to, const std::string& message) {
  static const bool inited = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!inited) return internal("libcurl failed to initialise");
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (!curl) return internal("libcurl: no handle");
  CURL* c = curl.get();
  std::unique_ptr<curl_slist, SlistFree> rcpt(curl_slist_append(nullptr, ("<" + to + ">").c_str()));
  Upload up{message};
  std::string last_reply;
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::string mail_from = "<" + from + ">";
  curl_easy_setopt(c, CURLOPT_URL, s.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
  curl_easy_setopt(c, CURLOPT_READDATA, &up);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(s.timeout_s));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(std::min(s.timeout_s, 15)));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, debug_cb);
  curl_easy_setopt(c, CURLOPT_DEBUGDATA, &last_reply);
  curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);  // feeds debug_cb; nothing is printed
  long ssl = s.starttls == "required" ? CURLUSESSL_ALL : s.starttls == "opportunistic" ? CURLUSESSL_TRY : CURLUSESSL_NONE;
  if (s.url.starts_with("smtps://")) ssl = CURLUSESSL_ALL;
  curl_easy_setopt(c, CURLOPT_USE_SSL, ssl);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!s.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, s.ca_file.c_str());
  if (!s.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, s.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, s.password.c_str());
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) return {};
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  std::string what = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  if (code >= 500 && code < 600)
    return fail(ErrorCode::kFailedPrecondition, "smtp-refused", "SMTP " + last_reply + " (" + what + ")");
  std::string detail = code >= 400 ? "SMTP " + last_reply + " (" + what + ")" : "SMTP: " + what;
  return fail(ErrorCode::kUnavailable, "smtp-unavailable", detail);
}

}  // namespace atrium::mail
