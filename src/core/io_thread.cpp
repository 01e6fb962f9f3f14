#include "core/io_thread.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

namespace atrium {
namespace {

thread_local bool t_io = false;

bool strict() {
  static const bool on = [] {
    const char* v = std::getenv("ATRIUM_STRICT_THREADS");
    return v && std::strcmp(v, "1") == 0;
  }();
  return on;
}

}  // namespace

void mark_io_thread() { t_io = true; }
bool on_io_thread() { return t_io; }

void expect_blocking_allowed(const char* what) {
  if (!t_io) [[likely]]
    return;
  if (strict()) {
    std::fprintf(stderr, "atrium: BUG: blocking call on an I/O thread: %s\n", what);
    std::abort();
  }
  static std::mutex mu;
  static std::set<std::string> seen;
  std::lock_guard lk(mu);
  if (seen.insert(what).second) std::fprintf(stderr, "atrium: BUG: blocking call on an I/O thread: %s\n", what);
}

}  // namespace atrium
