// Project file paths: one spelling per file.
//
// A path is relative, '/'-separated, valid UTF-8, normalised to Unicode NFC (so "é" typed as one
// code point or as e + combining accent names the same file), with no empty, "." or ".."
// component, no NUL, control character or backslash, no component ending in a space or a dot
// (Windows would drop those, and two spellings would name one file there), at most 255 bytes per
// component, 1024 bytes and 32 levels in all. normalize_path() either returns the one canonical
// spelling or says which rule the input broke.
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace atrium::data {

inline constexpr std::size_t kMaxPathBytes = 1024;
inline constexpr std::size_t kMaxComponentBytes = 255;
inline constexpr std::size_t kMaxPathDepth = 32;

// The canonical form of `path`, or an invalid-path error (400) naming the rule.
Result<std::string> normalize_path(std::string_view path);

}  // namespace atrium::data
