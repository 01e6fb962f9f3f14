#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>

#include "obs/health.hpp"
#include "obs/metrics.hpp"

namespace atrium::obs {
namespace {

struct HealthTest : ::testing::Test {
  Metrics metrics;
  ManualClock clock;
  std::string dir = std::filesystem::temp_directory_path().string();
};

TEST_F(HealthTest, IntervalFiguresAreDifferencesFromThePreviousSample) {
  Health h(metrics, clock, dir, 5000, 10);
  for (int i = 0; i < 100; ++i) metrics.observe_request("/a", "GET", i < 10 ? 503 : 200, 0.003);
  metrics.observe_db(0.25);
  clock.advance_ms(5000);
  h.sample();
  auto s = h.latest();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->at, clock.now_ms());
  EXPECT_DOUBLE_EQ(s->values.at("requests_per_s"), 20.0);
  EXPECT_DOUBLE_EQ(s->values.at("error_rate"), 0.1);
  EXPECT_DOUBLE_EQ(s->values.at("db_time_s"), 0.05);
  // All in the bucket (0.0025, 0.005]: interpolated inside it.
  EXPECT_NEAR(s->values.at("latency_p50_s"), 0.00375, 1e-12);
  EXPECT_NEAR(s->values.at("latency_p99_s"), 0.0025 + 0.0025 * 0.99, 1e-12);

  // The next interval: no requests, so no latency, a zero rate and no errors.
  clock.advance_ms(5000);
  h.sample();
  s = h.latest();
  EXPECT_DOUBLE_EQ(s->values.at("requests_per_s"), 0.0);
  EXPECT_DOUBLE_EQ(s->values.at("error_rate"), 0.0);
  EXPECT_FALSE(s->values.contains("latency_p50_s"));
}

TEST_F(HealthTest, PercentilesSpanBuckets) {
  Health h(metrics, clock, dir);
  for (int i = 0; i < 90; ++i) metrics.observe_request("/a", "GET", 200, 0.0002);  // (0.0001, 0.00025]
  for (int i = 0; i < 10; ++i) metrics.observe_request("/b", "POST", 200, 0.7);    // (0.5, 1]
  clock.advance_ms(1000);
  h.sample();
  auto s = *h.latest();
  EXPECT_NEAR(s.values.at("latency_p50_s"), 0.0001 + 0.00015 * 50 / 90, 1e-12);
  EXPECT_NEAR(s.values.at("latency_p95_s"), 0.5 + 0.5 * 0.5, 1e-12);
  // Beyond the highest bound: the highest bound.
  metrics.observe_request("/a", "GET", 200, 30);
  clock.advance_ms(1000);
  h.sample();
  EXPECT_DOUBLE_EQ(h.latest()->values.at("latency_p99_s"), 5.0);
}

TEST_F(HealthTest, ProcessDiskAndConnections) {
  Health h(metrics, clock, dir);
  metrics.connection_opened();
  metrics.connection_opened();
  h.sample();
  auto s = *h.latest();
  EXPECT_DOUBLE_EQ(s.values.at("open_connections"), 2.0);
  EXPECT_GT(s.values.at("rss_bytes"), 0.0);
  EXPECT_GT(s.values.at("disk_free_bytes"), 0.0);
  EXPECT_GT(s.values.at("disk_free_ratio"), 0.0);
  EXPECT_LE(s.values.at("disk_free_ratio"), 1.0);
  // The first sample at the constructor's time: no interval, no rates.
  EXPECT_FALSE(s.values.contains("requests_per_s"));

  Health gone(metrics, clock, dir + "/no/such/dir");
  gone.sample();
  EXPECT_FALSE(gone.latest()->values.contains("disk_free_bytes"));
}

TEST_F(HealthTest, GaugesAndListeners) {
  Health h(metrics, clock, dir);
  double pending = 3;
  h.add_gauge({"jobs_pending", "count", "Jobs waiting"}, [&pending] { return std::optional<double>(pending); });
  h.add_gauge({"nodes_down", "count", "Unknown now"}, [] { return std::optional<double>(); });
  h.add_gauge({"broken", "count", "Throws"}, []() -> std::optional<double> { throw std::runtime_error("no"); });
  std::vector<Millis> seen;
  h.on_sample([&seen](const Sample& s) { seen.push_back(s.at); });
  h.sample();
  auto figures = h.figures();
  ASSERT_GE(figures.size(), 2u);
  EXPECT_EQ(figures.back().name, "broken");
  EXPECT_EQ(h.latest()->values.at("jobs_pending"), 3.0);
  EXPECT_FALSE(h.latest()->values.contains("nodes_down"));
  EXPECT_FALSE(h.latest()->values.contains("broken"));
  EXPECT_EQ(seen, std::vector<Millis>{clock.now_ms()});
  EXPECT_DEATH(h.add_gauge({"jobs_pending", "count", "again"}, [] { return std::optional<double>(); }), "taken");
  EXPECT_DEATH(h.add_gauge({"Bad-Name", "count", "x"}, [] { return std::optional<double>(); }), "malformed");
}

TEST_F(HealthTest, RingKeepsTheLastCapacitySamples) {
  Health h(metrics, clock, dir, 1000, 3);
  EXPECT_FALSE(h.latest());
  EXPECT_TRUE(h.since(0).empty());
  Millis t0 = clock.now_ms();
  for (int i = 1; i <= 5; ++i) {
    clock.advance_ms(1000);
    h.sample();
  }
  auto all = h.since(0);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].at, t0 + 3000);
  EXPECT_EQ(all[2].at, t0 + 5000);
  EXPECT_EQ(h.latest()->at, t0 + 5000);
  auto newer = h.since(t0 + 4000);  // strictly after: a poller passes the last time it has
  ASSERT_EQ(newer.size(), 1u);
  EXPECT_EQ(newer[0].at, t0 + 5000);
}

TEST_F(HealthTest, RendersPrometheusGauges) {
  Health h(metrics, clock, dir);
  EXPECT_EQ(h.render(), "");
  h.add_gauge({"jobs_pending", "count", "Jobs\nwaiting"}, [] { return std::optional<double>(7); });
  metrics.observe_request("/a", "GET", 200, 0.001);
  clock.advance_ms(2000);
  h.sample();
  std::string out = h.render();
  EXPECT_NE(out.find("# TYPE atrium_health_requests_per_s gauge\natrium_health_requests_per_s 0.5\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("# HELP atrium_health_jobs_pending Jobs\\nwaiting (count).\n"), std::string::npos) << out;
  EXPECT_NE(out.find("atrium_health_jobs_pending 7\n"), std::string::npos);
  EXPECT_NE(out.find("atrium_health_disk_free_ratio "), std::string::npos);
}

}  // namespace
}  // namespace atrium::obs
