// Identifiers: a type prefix plus a time-ordered random part (ULID-like), so ids sort in creation
// order and a list's cursor is simply the last id seen.
#pragma once

#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace atrium {

// e.g. new_id("prj", clock) -> "prj_01JD3X8V0Q6Y2M4K9T7R5W1ZCA"
std::string new_id(std::string_view prefix, Millis now);
// True when `id` looks like an id of this prefix (cheap syntactic check for path parameters).
bool is_id(std::string_view id, std::string_view prefix);

}  // namespace atrium
