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
  EXPECT_EQ(cells[0].key, "a");
  EXPECT_DOUBLE_EQ(cells[0].cpu_hours, 4);
  EXPECT_EQ(cells[1].key, "b");
  EXPECT_DOUBLE_EQ(cells[1].cpu_hours, 24);
  EXPECT_DOUBLE_EQ(cells[1].cpu_hours_used, 0);
}

constexpr Millis kDec1 = 1'796'083'200'000;  // 2026-12-01T00:00:00Z, a Tuesday

TEST(Buckets, WeeksStartOnMondayAndMonthsOnTheFirst) {
  EXPECT_EQ(bucket_start(kDec1 + 5 * kHour, Bucket::kDay), kDec1);
  EXPECT_EQ(bucket_start(kDec1 + kDayMs + kHour, Bucket::kWeek), kDec1 - kDayMs);  // Mon 30 Nov
  EXPECT_EQ(bucket_start(kDec1 - kDayMs, Bucket::kWeek), kDec1 - kDayMs);
  EXPECT_EQ(bucket_start(kDec1 + 20 * kDayMs, Bucket::kMonth), kDec1);
  EXPECT_EQ(bucket_next(kDec1, Bucket::kMonth), kDec1 + 31 * kDayMs);           // 2027-01-01
  EXPECT_EQ(bucket_next(kDec1 - 30 * kDayMs, Bucket::kMonth), kDec1);           // November: 30 days
  EXPECT_EQ(bucket_start(kDec1 - kHour, Bucket::kMonth), kDec1 - 30 * kDayMs);  // 1 Nov
  EXPECT_EQ(bucket_start(0, Bucket::kWeek), -3 * kDayMs);                       // Mon 29 Dec 1969
}

TEST(UsageByBucket, SplitsARunAtTheMonthBoundary) {
  // 1 CPU from 30 Nov 12:00 to 1 Dec 12:00: 12 h in November, 12 h in December; one week (Mon 30 Nov).
  std::vector<RunSpan> runs = {{"g", kDec1 - 12 * kHour, kDec1 + 12 * kHour, 1, 0, std::nullopt}};
  auto months = usage_by_bucket(runs, kDec1 - 30 * kDayMs, kDec1 + 31 * kDayMs, Bucket::kMonth);
  ASSERT_EQ(months.size(), 2u);
  EXPECT_EQ(months[0].day, kDec1 - 30 * kDayMs);
  EXPECT_DOUBLE_EQ(months[0].cpu_hours, 12);
  EXPECT_EQ(months[1].day, kDec1);
  EXPECT_DOUBLE_EQ(months[1].cpu_hours, 12);
  auto weeks = usage_by_bucket(runs, kDec1 - 30 * kDayMs, kDec1 + 31 * kDayMs, Bucket::kWeek);
  ASSERT_EQ(weeks.size(), 1u);
  EXPECT_EQ(weeks[0].day, kDec1 - kDayMs);
  EXPECT_DOUBLE_EQ(weeks[0].cpu_hours, 24);
}

TEST(UsageByBucket, DaySumsJoinTheSpansOfTheirBucket) {
  Runs runs;
  runs.days = {{"g", kDec1, 3, 1, 2}, {"g", kDec1 + kDayMs, 5, 0, 0}, {"h", kDec1, 1, 0, 0}};
  runs.spans = {{"g", kDec1 - 2 * kHour, kDec1 + 2 * kHour, 1, 0, std::nullopt}};
  auto weeks = usage_by_bucket(runs, kDec1 - 7 * kDayMs, kDec1 + 7 * kDayMs, Bucket::kWeek);
  ASSERT_EQ(weeks.size(), 2u);  // (30 Nov, g), (30 Nov, h)
  EXPECT_EQ(weeks[0].key, "g");
  EXPECT_DOUBLE_EQ(weeks[0].cpu_hours, 3 + 5 + 4);
  EXPECT_DOUBLE_EQ(weeks[0].gpu_hours, 1);
  EXPECT_DOUBLE_EQ(weeks[0].cpu_hours_used, 2);
  EXPECT_EQ(weeks[1].key, "h");
  auto days = usage_by_bucket(runs, kDec1 - 7 * kDayMs, kDec1 + 7 * kDayMs, Bucket::kDay);
  ASSERT_EQ(days.size(), 4u);  // (30 Nov, g) from the span; (1 Dec, g), (1 Dec, h); (2 Dec, g)
  EXPECT_DOUBLE_EQ(days[1].cpu_hours, 3 + 2);
}

}  // namespace
}  // namespace atrium::jobs
