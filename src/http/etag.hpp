// The ETag of a versioned object ("v<version>", quoted): the one place its format is written,
// for stores that put it in an object's JSON and routes that check If-Match against it.
#pragma once

#include <cstdint>
#include <string>

namespace atrium::http {

inline std::string etag_of(std::int64_t version) { return "\"v" + std::to_string(version) + "\""; }

}  // namespace atrium::http
