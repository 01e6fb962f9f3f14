#include "slurm/rest.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "core/crypto.hpp"
#include "slurm/rest_parse.hpp"

namespace atrium::slurm {
namespace {

using nlohmann::json;
namespace rd = rest_detail;

json load(const std::string& name) {
  std::ifstream in(std::string(SLURM_TESTDATA) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

// base64url without padding, written out here rather than taken from core/crypto.
std::string b64url(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<std::size_t>(n));
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

TEST(SlurmToken, MatchesAnHmacComputedWithOpenSsl) {
  const std::string key = "0123456789abcdef0123456789abcdef";
  std::string token = Rest::mint_token(key, "root", 1'700'000'000, 600);
  std::string header = b64url(R"({"alg":"HS256","typ":"JWT"})");
  std::string claims = b64url(R"({"exp":1700000600,"iat":1700000000,"sun":"root"})");
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::string signing = header + "." + claims;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(signing.data()),
       signing.size(), mac, &len);
  EXPECT_EQ(token, signing + "." + b64url(std::string(reinterpret_cast<char*>(mac), len)));
  // A fixed answer, so a change of the claims' bytes shows.
  EXPECT_EQ(header, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9");
  // The user is JSON-escaped inside the claims.
  std::string odd = Rest::mint_token(key, "a\"b", 1, 1);
  auto part = crypto::base64url_decode(odd.substr(header.size() + 1, odd.rfind('.') - header.size() - 1));
  ASSERT_TRUE(part);
  EXPECT_EQ(json::parse(*part)["sun"], "a\"b");
}

TEST(SlurmParse, JobsAsSlurmrestdShowsThem) {
  auto jobs = rd::parse_jobs(load("jobs.json"));
  std::map<std::int64_t, JobInfo> by;
  for (auto& j : jobs) by[j.job_id] = j;
  ASSERT_EQ(by.size(), 8u);
  const JobInfo& exit3 = by[2];
  EXPECT_EQ(exit3.state, "FAILED");
  EXPECT_EQ(exit3.reason, "NonZeroExitCode");
  EXPECT_EQ(exit3.exit_code, 3);  // wait status 768
  EXPECT_EQ(exit3.nodes, "vm");
  EXPECT_EQ(exit3.comment, "atrium:j2");
  EXPECT_EQ(exit3.partition, "debug");
  EXPECT_EQ(exit3.user_name, "root");
  EXPECT_EQ(exit3.start_time, 1796634634000);
  EXPECT_EQ(exit3.end_time, 1796634634000);
  EXPECT_EQ(by[3].exit_code, 128 + 9);  // killed by SIGKILL
  EXPECT_EQ(by[4].state, "TIMEOUT");
  EXPECT_EQ(by[4].reason, "TimeLimit");
  EXPECT_EQ(by[4].exit_code, 128 + 15);
  EXPECT_EQ(by[4].time_limit_min, 1);
  EXPECT_EQ(by[7].state, "CANCELLED");  // cancelled while pending on a dependency
  EXPECT_FALSE(by[7].exit_code);         // it never ran (SLURM says 0)
  EXPECT_EQ(by[15].state, "CANCELLED");  // cancelled while running
  EXPECT_EQ(by[15].reason, "");
  const JobInfo& running = by[18];  // array task 0 of 16
  EXPECT_EQ(running.state, "RUNNING");
  EXPECT_EQ(running.array_job_id, 16);
  EXPECT_EQ(running.array_task_id, 0);
  EXPECT_FALSE(running.end_time);  // SLURM's expected end is not an end
  EXPECT_FALSE(running.exit_code);
  EXPECT_TRUE(running.start_time);
  const JobInfo& rest = by[16];  // the array's pending rest
  EXPECT_EQ(rest.array_job_id, 16);
  EXPECT_FALSE(rest.array_task_id);
  EXPECT_EQ(rest.array_task_string, "1-3%1");
  EXPECT_EQ(rest.reason, "JobArrayTaskLimit");
  EXPECT_FALSE(rest.held);
  EXPECT_FALSE(rest.start_time);
  const JobInfo& held = by[17];
  EXPECT_EQ(held.state, "PENDING");
  EXPECT_TRUE(held.held);
  EXPECT_EQ(held.reason, "JobHeldUser");
  EXPECT_FALSE(held.estimated_start);
  EXPECT_EQ(held.time_limit_min, 0);  // null: the partition's (INFINITE)
  EXPECT_EQ(held.restart_count, 0);
  // Requeued after its node failed (captured): PENDING again, no nodes, the new begin time.
  JobInfo requeued = rd::parse_job(nlohmann::json::parse(R"({"job_id":14018,"job_state":"PENDING","state_reason":"None",
      "nodes":"","restart_cnt":1,"requeue":true,"priority":4294901760,"start_time":1796636724,"end_time":6091603960,
      "exit_code":0})"));
  EXPECT_EQ(requeued.restart_count, 1);
  EXPECT_EQ(requeued.estimated_start, 1796636724000);
  EXPECT_FALSE(requeued.end_time);
  EXPECT_FALSE(requeued.exit_code);
  // Its node killed with JobRequeue=0 (captured).
  JobInfo lost = rd::parse_job(nlohmann::json::parse(R"({"job_id":1,"job_state":"NODE_FAIL","state_reason":"NodeDown",
      "state_description":"","exit_code":0,"nodes":"node1","start_time":1796636679,"end_time":1796636691,
      "restart_cnt":0,"requeue":false})"));
  EXPECT_EQ(lost.state, "NODE_FAIL");
  EXPECT_EQ(lost.reason, "NodeDown");
  EXPECT_FALSE(lost.exit_code);
  EXPECT_EQ(lost.end_time, 1796636691000);
}

TEST(SlurmParse, TerminalStates) {
  for (const char* s : {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
                        "BOOT_FAIL", "DEADLINE"})
    EXPECT_TRUE(terminal_state(s)) << s;
  for (const char* s : {"PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "REQUEUED", ""})
    EXPECT_FALSE(terminal_state(s)) << s;
}

TEST(SlurmParse, PartitionsNodesDiag) {
  auto parts = rd::parse_partitions(load("partitions.json"), load("nodes.json"));
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].name, "debug");
  EXPECT_EQ(parts[0].state, "UP");
  EXPECT_EQ(parts[0].nodes, std::vector<std::string>{"vm"});
  EXPECT_EQ(parts[0].max_cpus_per_node, 2);  // -1 in the partition: its node's
  EXPECT_EQ(parts[0].max_mem_mb_per_node, 22899);
  EXPECT_EQ(parts[0].max_time_min, 0);  // -1: INFINITE
  auto nodes = rd::parse_nodes(load("nodes.json"));
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].name, "vm");
  EXPECT_EQ(nodes[0].state, "allocated");
  EXPECT_EQ(nodes[0].cpus, 2);
  Diag d = rd::parse_diag(load("diag.json"));
  EXPECT_EQ(d.server_thread_count, 3);
  EXPECT_EQ(d.rpcs_total, 6);  // 1 + 1 + 1 + 2 + 1
  // A partition's own limit below its nodes' wins; a drained node shows its flag.
  json p = {{"partitions", {{{"name", "gpu"}, {"state", "UP"}, {"maximum_cpus_per_node", 1},
                             {"maximum_memory_per_node", 1000}, {"max_time_limit", 60}}}}};
  json n = {{"nodes", {{{"name", "n1"}, {"state", "idle"}, {"state_flags", {"DRAIN"}}, {"cpus", 4},
                        {"real_memory", 8000}, {"partitions", {"gpu"}}}}}};
  auto gp = rd::parse_partitions(p, n);
  ASSERT_EQ(gp.size(), 1u);
  EXPECT_EQ(gp[0].max_cpus_per_node, 1);
  EXPECT_EQ(gp[0].max_mem_mb_per_node, 1000);
  EXPECT_EQ(gp[0].max_time_min, 60);
  EXPECT_EQ(rd::parse_nodes(n)[0].state, "idle+DRAIN");
  EXPECT_EQ(gp[0].max_gpus_per_node, 0);
  EXPECT_EQ(rd::gres_gpus("gpu:2"), 2);
  EXPECT_EQ(rd::gres_gpus("gpu:a100:4(S:0-1),mps:400"), 4);
  EXPECT_EQ(rd::gres_gpus("mps:400,gpu:1,gpu:t4:2"), 3);
  EXPECT_EQ(rd::gres_gpus(""), 0);
  EXPECT_EQ(rd::gres_gpus("(null)"), 0);
  EXPECT_EQ(rd::gres_gpus("gpu:a100"), 0);
  n["nodes"][0]["gres"] = "gpu:v100:2(S:0)";
  EXPECT_EQ(rd::parse_partitions(p, n)[0].max_gpus_per_node, 2);
}

TEST(SlurmParse, NodeConditions) {
  auto cond = [](const std::string& state) { return condition_of(NodeState{.name = "n", .state = state}); };
  for (const char* up : {"idle", "allocated", "mixed", "idle+POWERED_DOWN", "mixed+COMPLETING", "future", ""})
    EXPECT_EQ(cond(up), NodeCondition::kUp) << up;
  for (const char* drained : {"idle+DRAIN", "mixed+DRAIN", "allocated+DRAIN+COMPLETING", "drained", "draining"})
    EXPECT_EQ(cond(drained), NodeCondition::kDrained) << drained;
  // Down wins over drained: a drained node that stopped answering is down.
  for (const char* down : {"down", "down+NOT_RESPONDING", "idle+NOT_RESPONDING", "idle+DRAIN+NOT_RESPONDING",
                           "error", "idle+FAIL", "down+DRAIN", "DOWN"})
    EXPECT_EQ(cond(down), NodeCondition::kDown) << down;
  // As parse_nodes spells what slurmrestd sends.
  json n = {{"nodes", {{{"name", "n1"}, {"state", "down"}, {"state_flags", {"NOT_RESPONDING"}}}}}};
  EXPECT_EQ(condition_of(rd::parse_nodes(n)[0]), NodeCondition::kDown);
}

TEST(SlurmParse, SubmissionBody) {
  JobSubmission s;
  s.name = "train";
  s.comment = "atrium:job_1";
  s.partition = "gpu";
  s.script = "#!/bin/sh\nexit 0\n";
  s.cwd = "/data/run";
  s.std_out = "/dev/null";
  s.cpus = 4;
  s.mem_mb = 2048;
  s.gpus = 2;
  s.time_limit_min = 11;
  s.array = "0-9%2";
  s.dependency = "afterok:12";
  s.hold = true;
  json b = rd::submission(s);
  EXPECT_EQ(b["script"], s.script);
  const json& j = b["job"];
  EXPECT_EQ(j["name"], "train");
  EXPECT_EQ(j["comment"], "atrium:job_1");
  EXPECT_EQ(j["partition"], "gpu");
  EXPECT_FALSE(j.contains("account"));
  EXPECT_FALSE(j.contains("standard_error"));
  EXPECT_EQ(j["current_working_directory"], "/data/run");
  EXPECT_EQ(j["cpus_per_task"], 4);
  EXPECT_EQ(j["memory_per_node"], 2048);
  EXPECT_EQ(j["gres"], "gpu:2");
  EXPECT_EQ(j["time_limit"], 11);
  EXPECT_EQ(j["array"], "0-9%2");
  EXPECT_EQ(j["dependency"], "afterok:12");
  EXPECT_EQ(j["hold"], true);
  EXPECT_EQ(j["requeue"], false);
  EXPECT_TRUE(j["environment"].is_object());  // v0.0.38 refuses a submission without one
  EXPECT_FALSE(j["environment"].empty());
}

// Answers captured from slurmrestd 22.05.8.
TEST(SlurmErrors, RefusalsAndOutages) {
  auto code = [](long http, const char* body, rd::Op op) { return rd::classify(http, body, op).code; };
  const char* bad_partition = R"({"errors":[{"error_code":2000,"error":"Invalid partition name specified"}]})";
  EXPECT_EQ(code(500, bad_partition, rd::Op::kSubmit), ErrorCode::kInvalidArgument);
  EXPECT_NE(rd::classify(500, bad_partition, rd::Op::kSubmit).detail.find("Invalid partition name"), std::string::npos);
  EXPECT_EQ(code(400, R"({"errors":[{"error_code":9001,"error":"Failure during parsing"}]})", rd::Op::kSubmit),
            ErrorCode::kInvalidArgument);
  const char* done = R"({"errors":[{"description":"job update from [localhost]:56768 failed","error_number":2084,
                        "error":"Job has already finished","source":"_parse_job_list"}]})";
  EXPECT_EQ(code(500, done, rd::Op::kControl), ErrorCode::kFailedPrecondition);
  const char* unknown = R"({"errors":[{"description":"Unable to find JobId=999","error_number":2017,
                           "error":"Invalid job id specified","source":"slurm_load_job"}]})";
  EXPECT_EQ(code(500, unknown, rd::Op::kRead), ErrorCode::kNotFound);
  EXPECT_EQ(code(500, unknown, rd::Op::kControl), ErrorCode::kNotFound);
  // slurmctld down, as each endpoint says it.
  for (const char* down : {
           R"({"errors":[{"description":"Unable to find JobId=5","error_number":-1,"error":"Unspecified error","source":"slurm_load_job"}]})",
           R"({"errors":[{"error":"Unspecified error","errno":-1}]})",
           R"j({"errors":[{"error_code":1800,"error":"Unable to contact slurm controller (connect failure)"}]})j",
           R"({"errors":[{"description":"job update from x failed","error_number":1000,"error":"Unexpected message received"}]})",
           "", "<html>bad gateway</html>"}) {
    EXPECT_EQ(code(500, down, rd::Op::kSubmit), ErrorCode::kUnavailable) << down;
    EXPECT_EQ(code(500, down, rd::Op::kRead), ErrorCode::kUnavailable) << down;
  }
  EXPECT_EQ(code(401, "Authentication failure", rd::Op::kRead), ErrorCode::kUnavailable);
  EXPECT_EQ(code(404, "", rd::Op::kRead), ErrorCode::kUnavailable);
}

// A fake slurmrestd on a unix socket: answers each request with `reply(method + " " + target,
// headers)`, keeping the connection open; counts connections.
class FakeRestd {
 public:
  using Reply = std::function<std::string(const std::string& request_line, const std::string& head)>;
  explicit FakeRestd(Reply reply) : reply_(std::move(reply)) {
    path_ = (std::filesystem::temp_directory_path() / ("atrium-fake-restd-" + std::to_string(::getpid()) + ".sock")).string();
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeRestd() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (auto& t : conns_) t.join();
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  int connections() const { return connections_.load(); }

 private:
  void serve() {
    for (;;) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++connections_;
      conns_.emplace_back([this, c] { connection(c); });
    }
  }
  void connection(int c) {
    std::string buf;
    char tmp[4096];
    for (;;) {
      std::size_t end = buf.find("\r\n\r\n");
      if (end == std::string::npos) {
        ssize_t n = ::read(c, tmp, sizeof tmp);
        if (n <= 0) break;
        buf.append(tmp, static_cast<std::size_t>(n));
        continue;
      }
      std::string head = buf.substr(0, end);
      std::size_t len = 0;
      if (auto p = head.find("Content-Length: "); p != std::string::npos) len = std::stoul(head.substr(p + 16));
      while (buf.size() < end + 4 + len) {
        ssize_t n = ::read(c, tmp, sizeof tmp);
        if (n <= 0) break;
        buf.append(tmp, static_cast<std::size_t>(n));
      }
      std::string resp = reply_(head.substr(0, head.find(" HTTP/")), head);
      if (::write(c, resp.data(), resp.size()) < 0) break;
      buf.erase(0, end + 4 + len);
    }
    ::close(c);
  }
  Reply reply_;
  std::string path_;
  int fd_ = -1;
  std::thread thread_;
  std::vector<std::thread> conns_;
  std::atomic<int> connections_{0};
};

std::string http(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(SlurmRest, OverAUnixSocketWithTokenHeadersAndKeepAlive) {
  std::atomic<int> with_token{0};
  FakeRestd fake([&](const std::string& line, const std::string& head) {
    if (head.find("X-SLURM-USER-NAME: root\r\n") != std::string::npos &&
        head.find("X-SLURM-USER-TOKEN: ey") != std::string::npos)
      ++with_token;
    if (line == "POST /slurm/v0.0.38/job/submit")
      return http(200, R"({"errors":[{"error_code":2042,"error":"Job is in held state"}],"job_id":42,"step_id":"BATCH"})");
    if (line == "GET /slurm/v0.0.38/jobs?update_time=1700000000") return http(304, "");
    if (line == "GET /slurm/v0.0.38/jobs") return http(200, load("jobs.json").dump());
    if (line == "GET /slurm/v0.0.38/job/7") return http(500, R"({"errors":[{"error_number":2017,"error":"Invalid job id specified"}]})");
    if (line == "GET /slurm/v0.0.38/ping") return http(200, R"({"errors":[],"pings":[{"hostname":"vm","ping":"UP"}]})");
    if (line == "POST /slurm/v0.0.38/job/9") return http(500, R"({"errors":[{"error_number":1000,"error":"Unexpected message received"}]})");
    return http(404, "");
  });
  Rest rest(RestConfig{.url = "unix:" + fake.path(), .jwt_key = "k", .user = "root"});
  JobSubmission s;
  s.hold = true;
  auto sub = rest.submit(s);
  ASSERT_TRUE(sub) << sub.error().detail;
  EXPECT_EQ(sub->job_id, 42);
  auto unchanged = rest.jobs(1'700'000'000'500);
  ASSERT_TRUE(unchanged) << unchanged.error().detail;
  EXPECT_TRUE(unchanged->unchanged);
  auto all = rest.jobs();
  ASSERT_TRUE(all);
  EXPECT_FALSE(all->unchanged);
  EXPECT_EQ(all->jobs.size(), 8u);
  auto gone = rest.job(7);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
  EXPECT_TRUE(rest.ping());
  EXPECT_EQ(rest.hold(9).error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(rest.requeue(9).error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(with_token.load(), 6);
  EXPECT_EQ(fake.connections(), 1);  // one caller: one kept-alive connection
}

TEST(SlurmRest, ParallelCallersShareAtMostMaxConnections) {
  FakeRestd fake([](const std::string&, const std::string&) { return http(200, R"({"errors":[],"pings":[{"ping":"UP"}]})"); });
  Rest rest(RestConfig{.url = "unix:" + fake.path(), .jwt_key = "", .user = "root", .max_connections = 3});
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&] {
      for (int k = 0; k < 20; ++k)
        if (rest.ping()) ++ok;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 160);
  EXPECT_LE(fake.connections(), 3);
}

TEST(SlurmRest, NoServerAndOversizedAnswersAreUnavailable) {
  Rest none(RestConfig{.url = "unix:/nonexistent/atrium-restd.sock", .jwt_key = "k", .user = "root", .timeout = 2000});
  auto r = none.jobs();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  FakeRestd fake([](const std::string&, const std::string&) { return http(200, std::string(5000, ' ') + "{}"); });
  Rest small(RestConfig{.url = "unix:" + fake.path(), .jwt_key = "", .user = "root", .max_response_bytes = 1000});
  auto big = small.jobs();
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace atrium::slurm
