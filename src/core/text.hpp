// Text validation shared by every module that takes names from users.
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace atrium {

bool is_valid_utf8(std::string_view s);
// Slugs name orgs, groups, projects, users: 1-64 of [a-z0-9-_.], starting with a letter or digit.
bool is_valid_slug(std::string_view s);
std::string to_lower(std::string_view s);
// A display string: valid UTF-8, no control characters except none, at most max_len bytes.
Status check_display_text(std::string_view field, std::string_view s, std::size_t max_len, bool allow_empty);
// RFC 3986 percent-encoding: unreserved characters (A-Z a-z 0-9 - . _ ~) stay, every other byte is %XX.
std::string percent_encode(std::string_view s);

// Where a sign-in may send the browser on (`next`): a path on this origin ("/...", never "//host",
// "/\\host", a URL, a space or a control character), as web/src/auth/next.ts decides in the UI.
bool safe_next(std::string_view next);

}  // namespace atrium
