// Job arrays: a parser for SLURM's --array syntax ("0-99%10", "1,3,5-7", "0-15:4") with limits
// and clear errors, and the expansion of an array submission into one Job per task.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "compute/job.hpp"
#include "core/error.hpp"

namespace atrium::compute {

struct ArrayLimits {
  std::uint32_t max_index = 1000;  // like SLURM's MaxArraySize=1001: indices 0..1000
  std::uint32_t max_tasks = 1001;  // tasks in one array
  std::size_t max_text = 1024;     // bytes of the spec itself
};

struct ArraySpec {
  std::vector<std::uint32_t> indices;  // sorted, unique, non-empty
  std::uint32_t max_concurrent = 0;    // %N; 0 = no limit
  bool operator==(const ArraySpec&) const = default;
};

// Grammar: spec := items ['%' N]; items := item (',' item)*; item := N | N '-' M [':' S].
// Duplicates merge (SLURM keeps a bitmap). invalid_argument ("invalid-array-spec") names the item.
Result<ArraySpec> parse_array_spec(std::string_view text, const ArrayLimits& limits = {});
// Canonical text: runs of a constant step as ranges, e.g. {0,1,2,3,5,7} %2 -> "0-3,5,7%2" and
// {0,3,6,9} -> "0-9:3". It may be longer than max_text for unions of stepped ranges.
std::string format_array_spec(const ArraySpec& spec);

// One Job per task, copied from `tmpl` with array = {tmpl.id, index, max_concurrent} and the ids
// the caller allocated (`task_ids.size()` must equal the number of indices).
Result<std::vector<Job>> expand_array(const Job& tmpl, const ArraySpec& spec, std::span<const JobId> task_ids);

}  // namespace atrium::compute
