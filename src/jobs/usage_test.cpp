#include "jobs/usage.hpp"

#include <gtest/gtest.h>

namespace atrium::jobs {
namespace {

constexpr Millis kHour = 3'600'000;

TEST(UsageByDay, SplitsARunOverTheDaysItOverlaps) {
  // 2 CPUs and 1 GPU from 22:00 on day 0 to 02:00 on day 1; 4 h measured CPU time.
  std::vector<RunSpan> runs = {{"p1", 22 * kHour, 26 * kHour, 2, 1, 4 * 3600.0}};
  auto cells = usage_by_day(runs, 0, 3 * kDayMs);
  ASSERT_EQ(cells.size(), 2u);
  EXPECT_EQ(cells[0].day, 0);
  EXPECT_DOUBLE_EQ(cells[0].cpu_hours, 4);
  EXPECT_DOUBLE_EQ(cells[0].gpu_hours, 2);
  EXPECT_DOUBLE_EQ(cells[0].cpu_hours_used, 2);
  EXPECT_EQ(cells[1].day, kDayMs);
  EXPECT_DOUBLE_EQ(cells[1].cpu_hours, 4);
}

TEST(UsageByDay, ClipsToTheWindowAndSumsPerProject) {
  std::vector<RunSpan> runs = {{"b", 0, 2 * kDayMs, 1, 0, std::nullopt},
                               {"a", kDayMs + kHour, kDayMs + 2 * kHour, 3, 0, std::nullopt},
                               {"a", kDayMs + 3 * kHour, kDayMs + 4 * kHour, 1, 0, std::nullopt},
                               {"c", 5 * kDayMs, 6 * kDayMs, 8, 0, std::nullopt},  // outside
                               {"d", kDayMs, kDayMs, 8, 0, std::nullopt}};         // no wall time
  auto cells = usage_by_day(runs, kDayMs, 2 * kDayMs);
  ASSERT_EQ(cells.size(), 2u);
  EXPECT_EQ(cells[0].project_id, "a");
  EXPECT_DOUBLE_EQ(cells[0].cpu_hours, 4);
  EXPECT_EQ(cells[1].project_id, "b");
  EXPECT_DOUBLE_EQ(cells[1].cpu_hours, 24);
  EXPECT_DOUBLE_EQ(cells[1].cpu_hours_used, 0);
}

}  // namespace
}  // namespace atrium::jobs
