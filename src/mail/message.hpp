// RFC 5322 / MIME message text: header checks (no injection), RFC 2047 encoded words, and a
// multipart/alternative body (text/plain + text/html, UTF-8, base64).
#pragma once

#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace atrium::mail {

// One plain address (local@domain): no display name, no CR/LF, no spaces, one '@'. invalid_argument.
Status check_address(std::string_view address);
// A header value: no CR, LF or NUL (header injection). invalid_argument.
Status check_header_value(std::string_view value);
// `text` as it may stand in a header: unchanged when printable ASCII, else RFC 2047 encoded words
// (=?UTF-8?B?...?=), each at most 75 characters, split between whole UTF-8 characters.
std::string encode_header_text(std::string_view text);

struct Outgoing {
  std::string from, from_name, to;
  std::string subject, text, html;  // UTF-8
  std::string message_id;           // without <>; local@domain
  Millis date = 0;
};

// The whole message (CRLF line ends), headers checked: invalid_argument on CR/LF or a bad address.
Result<std::string> build(const Outgoing& m);
// A Message-ID for `key` at the sender's domain: the same key gives the same id (a resent mail is
// recognisable as the same one).
std::string message_id_for(std::string_view key, std::string_view from_address);

}  // namespace atrium::mail
