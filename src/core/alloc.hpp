// Allocator settings for the server process (and the benchmarks that stand for it).
#pragma once

#include <malloc.h>

namespace atrium {

// The scheduler's pass builds vectors with one entry per pending job (100k+) every time; glibc
// would serve each from a fresh mmap and fault its pages in again on every pass (~20 % of a pass
// at 100k pending here). Keep such blocks in the heap (up to 64 MiB each; trim above 256 MiB).
inline void tune_allocator() {
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace atrium
