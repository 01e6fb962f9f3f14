#include "compute/array_spec.hpp"

#include <cstdint>
#include <vector>

#include <fmt/format.h>

namespace atrium::compute {
namespace {

std::unexpected<Error> bad_array(std::string_view text, std::string why) {
  std::string shown(text.substr(0, 80));
  if (text.size() > 80) shown += "...";
  return fail(ErrorCode::kInvalidArgument, "invalid-array-spec", fmt::format("array \"{}\": {}", shown, why));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads digits at s[pos...]; values above `max` are reported as such (never overflow).
struct Number {
  std::uint64_t value = 0;
  bool present = false;
  bool too_big = false;
};
Number read_number(std::string_view s, std::size_t& pos, std::uint64_t max) {
  Number n;
  while (pos < s.size() && is_digit(s[pos])) {
    n.present = true;
    if (!n.too_big) {
      n.value = n.value * 10 + static_cast<std::uint64_t>(s[pos] - '0');
      if (n.value > max) n.too_big = true;
    }
    ++pos;
  }
  return n;
}

}  // namespace

Result<ArraySpec> parse_array_spec(std::string_view text, const ArrayLimits& limits) {
  if (text.empty()) return bad_array(text, "is empty");
  if (text.size() > limits.max_text) return bad_array(text, fmt::format("is longer than {} bytes", limits.max_text));

  ArraySpec spec;
  std::string_view items = text;
  if (std::size_t pct = text.find('%'); pct != std::string_view::npos) {
    items = text.substr(0, pct);
    std::string_view limit = text.substr(pct + 1);
    std::size_t pos = 0;
    Number n = read_number(limit, pos, limits.max_tasks);
    if (!n.present || pos != limit.size()) {
      return bad_array(text, "'%' must be followed by the number of tasks that may run at once");
    }
    if (n.value == 0) return bad_array(text, "'%0': at least one task must be allowed to run");
    // More than the array's size is harmless; cap so the stored value stays meaningful.
    spec.max_concurrent = n.too_big ? limits.max_tasks : static_cast<std::uint32_t>(n.value);
  }
  if (items.empty()) return bad_array(text, "names no indices");

  std::vector<bool> seen(static_cast<std::size_t>(limits.max_index) + 1, false);
  std::size_t count = 0;
  std::size_t item_no = 0;
  std::size_t pos = 0;
  while (true) {
    ++item_no;
    std::size_t item_start = pos;
    auto item_error = [&](std::string why) {
      std::size_t end = items.find(',', item_start);
      std::string_view item = items.substr(item_start, end == std::string_view::npos ? end : end - item_start);
      return bad_array(text, fmt::format("item {} \"{}\": {}", item_no, item.substr(0, 40), why));
    };
    Number first = read_number(items, pos, limits.max_index);
    if (!first.present) return item_error("expected an index (digits)");
    if (first.too_big) return item_error(fmt::format("index exceeds the maximum {}", limits.max_index));
    std::uint64_t last = first.value;
    std::uint64_t step = 1;
    if (pos < items.size() && items[pos] == '-') {
      ++pos;
      Number second = read_number(items, pos, limits.max_index);
      if (!second.present) return item_error("expected the range's end after '-'");
      if (second.too_big) return item_error(fmt::format("index exceeds the maximum {}", limits.max_index));
      if (second.value < first.value) {
        return item_error(fmt::format("range start {} is greater than its end {}", first.value, second.value));
      }
      last = second.value;
      if (pos < items.size() && items[pos] == ':') {
        ++pos;
        Number s = read_number(items, pos, limits.max_index + 1ULL);
        if (!s.present) return item_error("expected a step after ':'");
        if (s.value == 0) return item_error("the step must be at least 1");
        step = s.too_big ? limits.max_index + 1ULL : s.value;
      }
    } else if (pos < items.size() && items[pos] == ':') {
      return item_error("a step (':') needs a range (N-M:S)");
    }
    if (pos < items.size() && items[pos] != ',') {
      return item_error(fmt::format("unexpected character '{}'", items[pos]));
    }
    for (std::uint64_t i = first.value; i <= last; i += step) {
      if (!seen[i]) {
        seen[i] = true;
        if (++count > limits.max_tasks) {
          return bad_array(text, fmt::format("has more than {} tasks", limits.max_tasks));
        }
      }
    }
    if (pos == items.size()) break;
    ++pos;  // ','
    if (pos == items.size()) return bad_array(text, "ends with ','");
  }

  spec.indices.reserve(count);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    if (seen[i]) spec.indices.push_back(static_cast<std::uint32_t>(i));
  }
  return spec;
}

std::string format_array_spec(const ArraySpec& spec) {
  // Greedy runs of a constant step: step 1 as "a-b", a longer step (four or more indices) as
  // "a-b:s", so "0-999:3" comes back as itself rather than as 334 numbers.
  std::string out;
  const auto& v = spec.indices;
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i;
    if (i + 1 < v.size()) {
      std::uint32_t step = v[i + 1] - v[i];
      while (j + 1 < v.size() && v[j + 1] - v[j] == step) ++j;
      if (step != 1 && j - i < 3) j = i;  // a few indices with gaps read better as a list
    }
    if (!out.empty()) out += ',';
    if (j == i) out += fmt::format("{}", v[i]);
    else if (v[i + 1] - v[i] == 1) out += fmt::format("{}-{}", v[i], v[j]);
    else out += fmt::format("{}-{}:{}", v[i], v[j], v[i + 1] - v[i]);
    i = j + 1;
  }
  if (spec.max_concurrent > 0) out += fmt::format("%{}", spec.max_concurrent);
  return out;
}

Result<std::vector<Job>> expand_array(const Job& tmpl, const ArraySpec& spec, std::span<const JobId> task_ids) {
  if (spec.indices.empty()) return invalid("array has no indices");
  if (task_ids.size() != spec.indices.size()) {
    return invalid(fmt::format("array has {} tasks but {} ids were given", spec.indices.size(), task_ids.size()));
  }
  std::vector<Job> jobs;
  jobs.reserve(spec.indices.size());
  for (std::size_t i = 0; i < spec.indices.size(); ++i) {
    Job job = tmpl;
    job.id = task_ids[i];
    job.array = ArrayTask{tmpl.id, spec.indices[i], spec.max_concurrent};
    jobs.push_back(std::move(job));
  }
  return jobs;
}

}  // namespace atrium::compute
