#include <gtest/gtest.h>

#include "obs/metrics.hpp"

namespace atrium::obs {
namespace {

TEST(Metrics, RendersPrometheusText) {
  Metrics m;
  m.observe_request("/api/v1/projects/{id}", "GET", 200, 0.0004);
  m.observe_request("/api/v1/projects/{id}", "GET", 200, 0.002);
  m.observe_request("/api/v1/projects/{id}", "GET", 404, 0.001);
  m.observe_db(0.00001);
  m.connection_opened();
  std::string out = m.render();
  EXPECT_NE(out.find("atrium_http_requests_total{route=\"/api/v1/projects/{id}\",method=\"GET\",status=\"200\"} 2"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("atrium_http_request_duration_seconds_bucket{route=\"/api/v1/projects/{id}\",method=\"GET\",le=\"0.0005\"} 1"),
            std::string::npos);
  EXPECT_NE(out.find("atrium_http_request_duration_seconds_count{route=\"/api/v1/projects/{id}\",method=\"GET\"} 3"),
            std::string::npos);
  EXPECT_NE(out.find("atrium_db_query_duration_seconds_count 1"), std::string::npos);
  EXPECT_NE(out.find("atrium_http_open_connections 1"), std::string::npos);
  EXPECT_NE(out.find("process_resident_memory_bytes"), std::string::npos);
  EXPECT_NE(out.find("process_cpu_seconds_total"), std::string::npos);
}

TEST(Metrics, MethodLabelsAreBounded) {
  Metrics m;
  m.observe_request("unmatched", "XMETHOD1", 405, 0.001);
  m.observe_request("unmatched", "XMETHOD2", 405, 0.001);
  std::string out = m.render();
  EXPECT_EQ(out.find("XMETHOD"), std::string::npos);
  EXPECT_NE(out.find("atrium_http_requests_total{route=\"unmatched\",method=\"other\",status=\"405\"} 2"),
            std::string::npos)
      << out;
}

TEST(Metrics, EscapesLabels) { EXPECT_EQ(label_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd"); }

}  // namespace
}  // namespace atrium::obs
