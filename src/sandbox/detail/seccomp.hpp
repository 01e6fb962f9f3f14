// The job's seccomp filter: an allow-list modelled on Docker's default profile (moby
// profiles/seccomp/default.json), built with libseccomp and exported as BPF once per process.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace atrium::sandbox::detail {

// The BPF program (native arch only; x32 and i386 syscalls get ENOSYS). Cached: the same every run.
Result<std::vector<sock_filter>> build_seccomp_filter();

// (mask, value) pairs whose matches, `(x & mask) == value`, are exactly the 32-bit values other
// than those in `except`, each value matching one pair only. libseccomp cannot say "any value but
// these" in one rule, and an unconditional rule would swallow the conditional ones of the same
// syscall; these prefix rules can, on the low 32 bits only (as the kernel reads an int argument).
std::vector<std::pair<std::uint32_t, std::uint32_t>> values_except(std::vector<std::uint32_t> except);

}  // namespace atrium::sandbox::detail
