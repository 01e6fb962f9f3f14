#include "mail/message.hpp"

#include <ctime>

#include "core/crypto.hpp"

namespace atrium::mail {
namespace {

std::unexpected<Error> bad(std::string detail, const char* field) {
  return fail(Error(ErrorCode::kInvalidArgument, "invalid-mail", std::move(detail)).with("field", field));
}

bool printable_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

// Base64 in lines of 76 characters, CRLF-terminated.
std::string base64_lines(std::string_view raw) {
  std::string b = crypto::base64(raw), out;
  for (std::size_t i = 0; i < b.size(); i += 76) out += b.substr(i, 76) + "\r\n";
  return out;
}

// "Mon, 07 Dec 2026 02:47:23 +0000"
std::string rfc5322_date(Millis at) {
  std::time_t t = static_cast<std::time_t>(at / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
                months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

// A display name as a quoted string, or encoded words when it is not plain ASCII.
std::string display_name(std::string_view name) {
  if (!printable_ascii(name)) return encode_header_text(name);
  std::string q = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

}  // namespace

Status check_header_value(std::string_view value) {
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
    return bad("a header value may not contain a line break", "header");
  return {};
}

Status check_address(std::string_view a) {
  if (a.empty() || a.size() > 254) return bad("an email address has 1 to 254 characters", "to");
  for (unsigned char c : a)
    if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == ';' || c == ':' ||
        c == '"' || c == '\\' || c == '[' || c == ']')
      return bad("'" + std::string(printable_ascii(a) ? a : "?") + "' is not a plain email address (local@domain)",
                 "to");
  auto at = a.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size() || a.find('@', at + 1) != std::string_view::npos)
    return bad("an email address has exactly one @ between a local part and a domain", "to");
  auto domain = a.substr(at + 1);
  if (domain.front() == '.' || domain.back() == '.' || domain.find("..") != std::string_view::npos ||
      a.substr(0, at).front() == '.' || a.substr(0, at).back() == '.')
    return bad("'" + std::string(a) + "' is not a valid email address", "to");
  return {};
}

std::string encode_header_text(std::string_view text) {
  if (printable_ascii(text)) return std::string(text);
  // 36 bytes of UTF-8 give 48 base64 characters: with "=?UTF-8?B?", "?=" and a header name the
  // line stays under 78.
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t n = std::min<std::size_t>(36, text.size() - i);
    while (i + n < text.size() && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) --n;  // whole characters
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + crypto::base64(text.substr(i, n)) + "?=";
    i += n;
  }
  return out;
}

std::string message_id_for(std::string_view key, std::string_view from_address) {
  auto at = from_address.rfind('@');
  std::string domain = at == std::string_view::npos ? "atrium.invalid" : std::string(from_address.substr(at + 1));
  return crypto::sha256_hex(std::string("atrium mail ") + std::string(key)).substr(0, 32) + "@" + domain;
}

Result<std::string> build(const Outgoing& m) {
  TRY_STATUS(check_address(m.to));
  if (auto st = check_address(m.from); !st) return bad("the sender's address is not valid", "from");
  for (auto* v : {&m.from_name, &m.subject, &m.message_id}) TRY_STATUS(check_header_value(*v));
  std::string boundary = "atrium-" + crypto::sha256_hex(m.message_id + m.text + m.html).substr(0, 24);
  std::string h;
  h += "From: " + (m.from_name.empty() ? m.from : display_name(m.from_name) + " <" + m.from + ">") + "\r\n";
  h += "To: <" + m.to + ">\r\n";
  h += "Subject: " + encode_header_text(m.subject) + "\r\n";
  h += "Date: " + rfc5322_date(m.date) + "\r\n";
  h += "Message-ID: <" + m.message_id + ">\r\n";
  h += "MIME-Version: 1.0\r\n";
  h += "Auto-Submitted: auto-generated\r\n";
  h += "Content-Type: multipart/alternative;\r\n boundary=\"" + boundary + "\"\r\n\r\n";
  auto part = [&](const char* type, const std::string& body) {
    return "--" + boundary + "\r\nContent-Type: " + type +
           "; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64_lines(body);
  };
  return h + part("text/plain", m.text) + part("text/html", m.html) + "--" + boundary + "--\r\n";
}

}  // namespace atrium::mail
