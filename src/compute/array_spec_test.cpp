#include "compute/array_spec.hpp"

#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace atrium::compute {
namespace {

std::vector<std::uint32_t> range(std::uint32_t from, std::uint32_t to, std::uint32_t step = 1) {
  std::vector<std::uint32_t> v;
  for (std::uint32_t i = from; i <= to; i += step) v.push_back(i);
  return v;
}

TEST(ArraySpec, ValidInputs) {
  struct Case {
    std::string text;
    std::vector<std::uint32_t> indices;
    std::uint32_t max_concurrent;
    std::string canonical;
  };
  const Case cases[] = {
      {"0-99%10", range(0, 99), 10, "0-99%10"},
      {"1,3,5-7", {1, 3, 5, 6, 7}, 0, "1,3,5-7"},
      {"0-15:4", {0, 4, 8, 12}, 0, "0-12:4"},
      {"0-999:3", range(0, 999, 3), 0, "0-999:3"},
      {"0,2,4", {0, 2, 4}, 0, "0,2,4"},
      {"7", {7}, 0, "7"},
      {"0", {0}, 0, "0"},
      {"3,1,2,2", {1, 2, 3}, 0, "1-3"},
      {"1-10:3%2", {1, 4, 7, 10}, 2, "1-10:3%2"},
      {"0-1000", range(0, 1000), 0, "0-1000"},
      {"1000", {1000}, 0, "1000"},
      {"5-5", {5}, 0, "5"},
      {"0-3:10", {0}, 0, "0"},
      {"007", {7}, 0, "7"},
      {"0-9,5-14%100", range(0, 14), 100, "0-14%100"},
      {"1%99999999999999999999", {1}, 1001, "1%1001"},
  };
  for (const Case& c : cases) {
    auto got = parse_array_spec(c.text);
    ASSERT_TRUE(got.has_value()) << c.text << ": " << got.error().detail;
    EXPECT_EQ(got->indices, c.indices) << c.text;
    EXPECT_EQ(got->max_concurrent, c.max_concurrent) << c.text;
    EXPECT_EQ(format_array_spec(*got), c.canonical) << c.text;
    auto again = parse_array_spec(format_array_spec(*got));
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(*again, *got) << "canonical form parses back to the same spec";
  }
}

TEST(ArraySpec, InvalidInputs) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "is empty"},
      {"%5", "names no indices"},
      {"1-", "range's end"},
      {"-1", "expected an index"},
      {"5-2", "start 5 is greater than its end 2"},
      {"0-15:0", "step must be at least 1"},
      {"1:2", "needs a range"},
      {"1-3:", "expected a step"},
      {"a", "expected an index"},
      {"1,,2", "item 2"},
      {"1,", "ends with ','"},
      {",1", "item 1"},
      {"1%0", "at least one task"},
      {"1%", "'%' must be followed"},
      {"1%x", "'%' must be followed"},
      {"1%2%3", "'%' must be followed"},
      {"1001", "exceeds the maximum 1000"},
      {"0-1001", "exceeds the maximum 1000"},
      {"99999999999999999999999", "exceeds the maximum"},
      {" 1", "expected an index"},
      {"1 ", "unexpected character ' '"},
      {"1.5", "unexpected character '.'"},
      {"+1", "expected an index"},
      {"1-2-3", "unexpected character '-'"},
      {"0-3%2,5", "'%' must be followed"},
  };
  for (const auto& [text, why] : cases) {
    auto got = parse_array_spec(text);
    ASSERT_FALSE(got.has_value()) << "accepted: " << text;
    EXPECT_EQ(got.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(got.error().type, "invalid-array-spec");
    EXPECT_NE(got.error().detail.find(why), std::string::npos) << text << " -> " << got.error().detail;
  }
}

TEST(ArraySpec, Limits) {
  ArrayLimits small{.max_index = 100, .max_tasks = 10, .max_text = 16};
  EXPECT_TRUE(parse_array_spec("0-9", small).has_value());
  auto too_many = parse_array_spec("0-10", small);
  ASSERT_FALSE(too_many.has_value());
  EXPECT_NE(too_many.error().detail.find("more than 10 tasks"), std::string::npos);
  EXPECT_TRUE(parse_array_spec("0-100:20", small).has_value());
  EXPECT_FALSE(parse_array_spec("101", small).has_value());
  auto long_text = parse_array_spec("1,2,3,4,5,6,7,8,9", small);
  ASSERT_FALSE(long_text.has_value());
  EXPECT_NE(long_text.error().detail.find("longer than 16 bytes"), std::string::npos);
  // Many overlapping ranges stay cheap: duplicates merge, the count stays at 1001.
  std::string overlapping;
  for (int i = 0; i < 100; ++i) overlapping += (i ? "," : "") + std::string("0-1000");
  auto big = parse_array_spec(overlapping, ArrayLimits{.max_text = 1 << 20});
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(big->indices.size(), 1001u);
}

TEST(ArraySpec, ExpandGivesOneJobPerTask) {
  Job tmpl;
  tmpl.id = "arr_1";
  tmpl.name = "sweep";
  tmpl.request.cpus = 2;
  ArraySpec spec = parse_array_spec("0-15:4%2").value();
  std::vector<JobId> ids = {"t0", "t1", "t2", "t3"};
  auto jobs = expand_array(tmpl, spec, ids);
  ASSERT_TRUE(jobs.has_value());
  ASSERT_EQ(jobs->size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    const Job& j = (*jobs)[i];
    EXPECT_EQ(j.id, ids[i]);
    EXPECT_EQ(j.name, "sweep");
    EXPECT_EQ(j.request.cpus, 2);
    ASSERT_TRUE(j.array.has_value());
    EXPECT_EQ(j.array->array_id, "arr_1");
    EXPECT_EQ(j.array->index, i * 4);
    EXPECT_EQ(j.array->max_concurrent, 2u);
  }
  std::vector<JobId> too_few = {"t0"};
  auto bad = expand_array(tmpl, spec, too_few);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().detail.find("4 tasks but 1 ids"), std::string::npos);
}

}  // namespace
}  // namespace atrium::compute
