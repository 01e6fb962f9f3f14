// Reading what a person types: a visible prompt, a password with echo off (restored even on
// Ctrl-C), or a secret piped on stdin for scripts (--password-stdin).
#pragma once

#include <istream>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace atrium::cli {

bool stdin_is_terminal();
// Prompts on stderr, reads one line from stdin.
[[nodiscard]] Result<std::string> prompt_line(std::string_view prompt);
// Like prompt_line with terminal echo turned off.
[[nodiscard]] Result<std::string> prompt_secret(std::string_view prompt);
// A new password: asked twice on the terminal, must match.
[[nodiscard]] Result<std::string> prompt_new_secret(std::string_view prompt);
// The first line of `in` without its line ending; empty input is an error.
[[nodiscard]] Result<std::string> read_secret_line(std::istream& in);

}  // namespace atrium::cli
