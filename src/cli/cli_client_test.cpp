#include <sys/stat.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "cli/api.hpp"
#include "cli/credentials.hpp"
#include "cli/http_client.hpp"
#include "cli/prompt.hpp"
#include "cli/requests.hpp"
#include "cli/table.hpp"
#include "cli/units.hpp"
#include "cli/test_support.hpp"

namespace atrium::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using testing::FakeServer;
using testing::response;
using testing::kOrgA;
using testing::kOrgB;
using testing::kUser;

// ---------------------------------------------------------------- the API client

TEST(ApiClientTest, SendsJsonWithBearerToken) {
  FakeServer s;
  s.routes["POST /api/v1/orgs"].push_back(response(201, R"({"id":"org_x"})"));
  ApiClient api(s.transport(), "atr_secret");
  auto r = api.send(*org_create("acme", "Acme"));
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body["id"], "org_x");
  ASSERT_EQ(s.seen.size(), 1u);
  EXPECT_EQ(FakeServer::header(s.seen[0], "Authorization"), "Bearer atr_secret");
  EXPECT_EQ(FakeServer::header(s.seen[0], "Content-Type"), "application/json");
  EXPECT_EQ(json::parse(*s.seen[0].body), (json{{"slug", "acme"}, {"name", "Acme"}}));

  ApiClient anon(s.transport(), "");
  (void)anon.get("/api/v1/healthz");
  EXPECT_EQ(FakeServer::header(s.seen.back(), "Authorization"), "");
}

TEST(ApiClientTest, ErrorsAndNonJson) {
  FakeServer s;
  s.routes["GET /api/v1/me"].push_back(
      response(401, R"({"type":"urn:atrium:problem:unauthenticated","detail":"token revoked","status":401})"));
  s.routes["GET /api/v1/orgs"].push_back(response(200, "not json"));
  ApiClient api(s.transport(), "t");
  auto me = api.get("/api/v1/me");
  ASSERT_FALSE(me);
  EXPECT_EQ(me.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(me.error().detail, "token revoked");
  auto orgs = api.get("/api/v1/orgs");
  ASSERT_FALSE(orgs);
  EXPECT_EQ(orgs.error().type, "bad-response");
}

TEST(ApiClientTest, UpdatesSendTheEtagAsIfMatch) {
  FakeServer s;
  s.routes[std::string("GET /api/v1/orgs/") + kOrgA].push_back(
      response(200, R"({"id":"x","etag":"\"v3\""})", {{"etag", "\"v3\""}}));
  s.routes[std::string("PATCH /api/v1/orgs/") + kOrgA].push_back(response(200, R"({"id":"x","name":"New"})"));
  ApiClient api(s.transport(), "t");
  auto call = *org_update(kOrgA, "New");
  auto r = api.send_if_match(call, call.path);
  ASSERT_TRUE(r) << r.error().detail;
  ASSERT_EQ(s.seen.size(), 2u);
  EXPECT_EQ(s.seen[0].method, "GET");
  EXPECT_EQ(s.seen[1].method, "PATCH");
  EXPECT_EQ(FakeServer::header(s.seen[1], "If-Match"), "\"v3\"");

  // Without the header, the body's etag is used (quoted).
  s.routes["GET /api/v1/tokens/tok_1"].push_back(response(200, R"({"id":"tok_1","etag":"v7"})"));
  s.routes["DELETE /api/v1/tokens/tok_1"].push_back(response(204, ""));
  ApiCall del;
  del.method = "DELETE";
  del.path = "/api/v1/tokens/tok_1";
  auto d = api.send_if_match(del, del.path);
  ASSERT_TRUE(d) << d.error().detail;
  EXPECT_TRUE(d->body.is_null());
  EXPECT_EQ(FakeServer::header(s.seen.back(), "If-Match"), "\"v7\"");
}

TEST(ApiClientTest, ResolvesOrgSlugsAcrossPages) {
  FakeServer s;
  s.routes["GET /api/v1/orgs?limit=200"].push_back(
      response(200, json{{"items", {{{"id", kOrgA}, {"slug", "alpha"}}}}, {"next", "c1"}}.dump()));
  s.routes["GET /api/v1/orgs?limit=200&after=c1"].push_back(
      response(200, json{{"items", {{{"id", kOrgB}, {"slug", "beta"}}}}, {"next", nullptr}}.dump()));
  ApiClient api(s.transport(), "t");
  EXPECT_EQ(*api.resolve_org("beta"), kOrgB);
  EXPECT_EQ(*api.resolve_org("ALPHA"), kOrgA);
  std::size_t before = s.seen.size();
  EXPECT_EQ(*api.resolve_org(kOrgB), kOrgB);  // ids need no lookup
  EXPECT_EQ(s.seen.size(), before);
  auto missing = api.resolve_org("gamma");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST(ApiClientTest, ResolvesOrgSlashProject) {
  constexpr const char* kPrj = "prj_01JD3X8V0Q6Y2M4K9T7R5W1ZCC";
  FakeServer s;
  s.routes["GET /api/v1/orgs/acme/projects/climate"].push_back(response(200, json{{"id", kPrj}}.dump()));
  s.routes[std::string("GET /api/v1/orgs/") + kOrgA + "/projects/climate"].push_back(
      response(200, json{{"id", kPrj}}.dump()));
  ApiClient api(s.transport(), "t");
  EXPECT_EQ(*api.resolve_project("acme/climate"), kPrj);
  EXPECT_EQ(*api.resolve_project("ACME/Climate.git"), kPrj);          // as pasted from a clone URL
  EXPECT_EQ(*api.resolve_project(std::string(kOrgA) + "/climate"), kPrj);  // an org id keeps its case
  std::size_t before = s.seen.size();
  EXPECT_EQ(*api.resolve_project(kPrj), kPrj);  // ids need no lookup
  EXPECT_EQ(s.seen.size(), before);
  auto missing = api.resolve_project("acme/nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  for (const char* bad : {"", "climate", "acme/", "/climate", "acme/a/b"}) {
    auto r = api.resolve_project(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(s.seen.size(), before + 1);  // only "acme/nope" asked the server
}

TEST(ApiClientTest, PaginationStopsOnARepeatedCursor) {
  FakeServer s;
  s.routes["GET /api/v1/users?limit=200"].push_back(response(200, R"({"items":[],"next":"same"})"));
  s.routes["GET /api/v1/users?limit=200&after=same"].push_back(response(200, R"({"items":[],"next":"same"})"));
  ApiClient api(s.transport(), "t");
  ApiCall c;
  c.path = "/api/v1/users";
  c.query = {{"limit", "200"}};
  auto r = api.all_pages(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, "bad-response");
}

TEST(ApiClientTest, FindsMembersByIdOrUsername) {
  FakeServer s;
  s.routes["GET /api/v1/orgs/o/members?limit=200"].push_back(response(
      200, json::array({{{"user_id", kUser}, {"username", "alice"}, {"role", "org-admin"}, {"etag", "\"v2\""}},
                        {{"user_id", "usr_other"}, {"username", "bob"}, {"role", "member"}}})
               .dump()));
  ApiClient api(s.transport(), "t");
  auto a = api.find_member("/api/v1/orgs/o/members", "Alice");
  ASSERT_TRUE(a) << a.error().detail;
  EXPECT_EQ(a->user_id, kUser);
  EXPECT_EQ(a->etag, "\"v2\"");
  auto b = api.find_member("/api/v1/orgs/o/members", "usr_other");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->etag, "*");  // no etag in the row
  EXPECT_FALSE(api.find_member("/api/v1/orgs/o/members", "carol"));
}

TEST(ApiClientTest, FindsMembersByUsernameWhenRowsCarryOnlyIds) {
  FakeServer s;
  s.routes["GET /api/v1/projects/p/members?limit=200"].push_back(
      response(200, json{{"items", {{{"user_id", kUser}, {"role", "owner"}, {"etag", "\"v1\""}}}}, {"next", nullptr}}.dump()));
  s.routes["GET /api/v1/users?limit=200"].push_back(
      response(200, json{{"items", {{{"id", kUser}, {"username", "alice"}}}}, {"next", nullptr}}.dump()));
  ApiClient api(s.transport(), "t");
  auto m = api.find_member("/api/v1/projects/p/members", "alice");
  ASSERT_TRUE(m) << m.error().detail;
  EXPECT_EQ(m->user_id, kUser);
  EXPECT_EQ(m->etag, "\"v1\"");
  auto missing = api.find_member("/api/v1/projects/p/members", "zed");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

// ---------------------------------------------------------------- jobs

constexpr const char* kProject = "prj_01JD3X8V0Q6Y2M4K9T7R5W1ZCA";

TEST(Jobs, SubmitMapsSbatchOptionsToTheBody) {
  const Millis now = 1'764'098'169'000;  // 2025-11-25T19:16:09Z
  JobSubmitArgs a;
  a.command = {"python3", "-c", "print(1)"};
  a.name = "train";
  a.cpus = 2;
  a.mem = "4G";
  a.gpus = 1;
  a.time = "1-00:00:00";
  a.array = "0-99%10";
  a.dependency = "afterok:job_1";
  a.qos = "normal";
  a.nice = 5;
  a.env = {"A=1", "B_2=x=y", "EMPTY="};
  a.begin = "now+1h";
  a.hold = true;
  auto c = job_submit(kProject, a, now);
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->method, "POST");
  EXPECT_EQ(c->path, std::string("/api/v1/projects/") + kProject + "/jobs");
  EXPECT_EQ(*c->body, (json{{"name", "train"},
                            {"command", {"python3", "-c", "print(1)"}},
                            {"cpus", 2},
                            {"mem_mb", 4096},
                            {"gpus", 1},
                            {"time_limit_s", 86400},
                            {"array", "0-99%10"},
                            {"dependency", "afterok:job_1"},
                            {"qos", "normal"},
                            {"nice", 5},
                            {"env", {{"A", "1"}, {"B_2", "x=y"}, {"EMPTY", ""}}},
                            {"begin_time", "2025-11-25T20:16:09.000Z"},
                            {"hold", true}}));

  JobSubmitArgs s;
  s.script = "#!/bin/sh\necho hi\n";
  s.begin = "2026-01-02T03:04:05Z";
  auto sc = job_submit(kProject, s, now);
  ASSERT_TRUE(sc) << sc.error().detail;
  EXPECT_EQ(*sc->body, (json{{"script", "#!/bin/sh\necho hi\n"}, {"begin_time", "2026-01-02T03:04:05.000Z"}}));

  JobSubmitArgs remote;
  remote.command = {"true"};
  remote.partition = "gpu";
  remote.account = "lab_acct";
  auto rc = job_submit(kProject, remote, now);
  ASSERT_TRUE(rc) << rc.error().detail;
  EXPECT_EQ(rc->body->at("partition"), "gpu");
  EXPECT_EQ(rc->body->at("account"), "lab_acct");
  remote.partition = "";
  EXPECT_FALSE(job_submit(kProject, remote, now));
  EnvLaunchArgs env;
  env.app = "jupyter";
  env.partition = "gpu";
  EXPECT_EQ(env_launch(kProject, env)->body->at("partition"), "gpu");
  EXPECT_FALSE(env_launch(kProject, env)->body->contains("account"));
}

TEST(Jobs, SubmitRefusesBadArgumentsBeforeAnyRequest) {
  const Millis now = 0;
  auto with = [](auto change) {
    JobSubmitArgs a;
    a.command = {"true"};
    change(a);
    return a;
  };
  std::vector<JobSubmitArgs> bad{
      JobSubmitArgs{},                                    // neither script nor command
      with([](JobSubmitArgs& a) { a.script = "echo"; }),  // both
      with([](JobSubmitArgs& a) { a.command = {""}; }),
      with([](JobSubmitArgs& a) { a.cpus = 0; }),
      with([](JobSubmitArgs& a) { a.gpus = -1; }),
      with([](JobSubmitArgs& a) { a.mem = "0"; }),
      with([](JobSubmitArgs& a) { a.mem = "lots"; }),
      with([](JobSubmitArgs& a) { a.time = "0"; }),
      with([](JobSubmitArgs& a) { a.time = "1:99"; }),
      with([](JobSubmitArgs& a) { a.env = {"NOEQUALS"}; }),
      with([](JobSubmitArgs& a) { a.env = {"1ABC=x"}; }),
      with([](JobSubmitArgs& a) { a.env = {"A-B=x"}; }),
      with([](JobSubmitArgs& a) { a.env = {"=x"}; }),
      with([](JobSubmitArgs& a) { a.begin = "tomorrow"; }),
      with([](JobSubmitArgs& a) { a.array = ""; }),
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    auto c = job_submit(kProject, bad[i], now);
    ASSERT_FALSE(c) << "case " << i;
    EXPECT_EQ(c.error().type, kUsageErrorType) << "case " << i;
  }
  JobSubmitArgs empty_script;
  empty_script.script = "";
  EXPECT_FALSE(job_submit(kProject, empty_script, now));
  EXPECT_FALSE(job_submit("", with([](JobSubmitArgs&) {}), now));
}

TEST(Jobs, SubmitTakesAnImageDatasetsAndSecrets) {
  JobSubmitArgs a;
  a.command = {"cat", "/etc/os-release"};
  a.image = "busybox@sha256:0123";
  a.datasets = {"genomes", "ref@3"};
  a.secrets = {"HF_TOKEN", "KEY:file"};
  auto c = job_submit(kProject, a, 0);
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(*c->body, (json{{"command", {"cat", "/etc/os-release"}},
                            {"image", "busybox@sha256:0123"},
                            {"datasets", {"genomes", "ref@3"}},
                            {"secrets", {"HF_TOKEN", "KEY:file"}}}));
  a = JobSubmitArgs{};
  a.command = {"true"};
  a.image = "none";  // the host's root, passed as it is
  EXPECT_EQ(job_submit(kProject, a, 0)->body->at("image"), "none");
  for (auto change : {+[](JobSubmitArgs& b) { b.image = ""; }, +[](JobSubmitArgs& b) { b.datasets = {"x", ""}; }}) {
    JobSubmitArgs b;
    b.command = {"true"};
    change(b);
    auto bad = job_submit(kProject, b, 0);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().type, kUsageErrorType);
  }
}

TEST(Envs, LaunchMapsOptionsToTheBody) {
  EnvLaunchArgs a;
  a.app = "jupyter";
  auto bare = env_launch(kProject, a);
  ASSERT_TRUE(bare) << bare.error().detail;
  EXPECT_EQ(bare->method, "POST");
  EXPECT_EQ(bare->path, std::string("/api/v1/projects/") + kProject + "/envs");
  EXPECT_EQ(*bare->body, (json{{"app", "jupyter"}}));

  a.cpus = 2;
  a.mem = "4G";
  a.time = "8h";
  a.ref = "main";
  a.image = "sci";
  a.datasets = {"genomes", "ref@3"};
  a.gpus = 1;
  a.files = true;
  a.secrets = {"HF_TOKEN"};
  auto c = env_launch(kProject, a);
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(*c->body, (json{{"app", "jupyter"},
                            {"cpus", 2},
                            {"mem_mb", 4096},
                            {"time_limit_s", 28800},
                            {"ref", "main"},
                            {"image", "sci"},
                            {"datasets", {"genomes", "ref@3"}},
                            {"gpus", 1},
                            {"files", true},
                            {"secrets", {"HF_TOKEN"}}}));
  a.files = false;
  a.files_prefix = "analysis/run1";
  EXPECT_EQ(env_launch(kProject, a)->body->at("files"), (json{{"prefix", "analysis/run1"}}));

  auto with = [](auto change) {
    EnvLaunchArgs b;
    b.app = "jupyter";
    change(b);
    return b;
  };
  std::vector<EnvLaunchArgs> bad{EnvLaunchArgs{},
                                 with([](EnvLaunchArgs& b) { b.gpus = -1; }),
                                 with([](EnvLaunchArgs& b) { b.cpus = 0; }),
                                 with([](EnvLaunchArgs& b) { b.mem = "lots"; }),
                                 with([](EnvLaunchArgs& b) { b.image = ""; }),
                                 with([](EnvLaunchArgs& b) { b.datasets = {""}; }),
                                 with([](EnvLaunchArgs& b) { b.files_prefix = std::string("a\0b", 3); })};
  for (std::size_t i = 0; i < bad.size(); ++i) {
    auto r = env_launch(kProject, bad[i]);
    ASSERT_FALSE(r) << "case " << i;
    EXPECT_EQ(r.error().type, kUsageErrorType) << "case " << i;
  }
  EXPECT_FALSE(env_launch("", with([](EnvLaunchArgs&) {})));
}

TEST(Envs, ShowWritesImageDatasetsFilesAndSecretsAsText) {
  json e = json::parse(R"({"id":"env_1","app":"jupyter","state":"READY","gpus":1,
      "image":{"name":"sci","digest":"sha256:ab12"},"secrets":["HF_TOKEN","KEY:file"],
      "datasets":[{"name":"genomes","dataset_id":"ds_1","version":3,"path":"/data/genomes"}],
      "files":{"prefix":"analysis","path":"/project","last_sync":{"at":"2026-01-02T03:04:05.000Z"}}})");
  std::string out = render_env(e);
  EXPECT_NE(out.find("image:    sci@sha256:ab12\n"), std::string::npos) << out;
  EXPECT_NE(out.find("secrets:  HF_TOKEN KEY:file\n"), std::string::npos) << out;
  EXPECT_NE(out.find("datasets: genomes@3 (at /data/NAME)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("gpus:     1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("files:    /project (the files under analysis), last synced 2026-01-02T03:04:05Z\n"),
            std::string::npos)
      << out;
  json bare = json::parse(R"({"id":"env_2","image":null,"secrets":[],"datasets":[],"files":null,"gpus":0})");
  std::string b = render_env(bare);
  EXPECT_NE(b.find("image:    host root\n"), std::string::npos) << b;
  EXPECT_NE(b.find("files:    not mounted\n"), std::string::npos) << b;
  EXPECT_NE(b.find("datasets: none\n"), std::string::npos) << b;
  EXPECT_EQ(b.find("secrets"), std::string::npos) << b;
  EXPECT_EQ(image_text(json{{"name", nullptr}, {"digest", "sha256:ff"}}), "sha256:ff");
}

TEST(Jobs, ListCallsAndStates) {
  JobListArgs mine;
  EXPECT_EQ(job_list(mine)->target(), "/api/v1/jobs");
  mine.states = {"pd", "Running", "oom"};
  mine.array_id = "job_9";
  EXPECT_EQ(job_list(mine)->target(), "/api/v1/jobs?state=PENDING%2CRUNNING%2COUT_OF_MEMORY&array=job_9");
  JobListArgs proj;
  proj.project_id = kProject;
  proj.user = "me";
  EXPECT_EQ(job_list(proj)->target(), std::string("/api/v1/projects/") + kProject + "/jobs?user=me");
  JobListArgs org;
  org.org_id = kOrgA;
  EXPECT_EQ(job_list(org)->target(), std::string("/api/v1/jobs?org=") + kOrgA);
  JobListArgs bad_state;
  bad_state.states = {"DONE"};
  EXPECT_FALSE(job_list(bad_state));
  JobListArgs user_without_project;
  user_without_project.user = kUser;
  EXPECT_FALSE(job_list(user_without_project));
  EXPECT_EQ(*job_state_name("canceled"), "CANCELLED");
  EXPECT_EQ(*job_state_name("NF"), "NODE_FAIL");
}

TEST(Jobs, ActionsCancelAllAndLogs) {
  auto hold = job_action("job_1", "hold");
  EXPECT_EQ(hold->method, "POST");
  EXPECT_EQ(hold->path, "/api/v1/jobs/job_1/hold");
  EXPECT_FALSE(hold->body);
  EXPECT_FALSE(job_action("", "cancel"));
  auto all = job_cancel_all(std::nullopt, std::nullopt);
  EXPECT_EQ(all->path, "/api/v1/jobs/cancel");
  EXPECT_EQ(*all->body, json::object());
  auto some = job_cancel_all(std::string(kProject), std::string("r"));
  EXPECT_EQ(*some->body, (json{{"project_id", kProject}, {"state", "RUNNING"}}));
  EXPECT_FALSE(job_cancel_all(std::nullopt, std::string("COMPLETED")));
  EXPECT_EQ(job_logs("job_1", false, 0).target(), "/api/v1/jobs/job_1/logs?stream=stdout&offset=0");
  EXPECT_EQ(job_logs("job_1", true, 42).target(), "/api/v1/jobs/job_1/logs?stream=stderr&offset=42");
}

HttpResponse log_chunk(std::string body, std::int64_t next, std::int64_t size, bool complete) {
  HttpResponse r;
  r.status = 200;
  r.headers = {{"content-type", "application/octet-stream"},
               {"x-next-offset", std::to_string(next)},
               {"x-log-size", std::to_string(size)},
               {"x-log-complete", complete ? "true" : "false"}};
  r.body = std::move(body);
  return r;
}

TEST(Jobs, LogsFollowUntilCompleteWithGrowingPolls) {
  FakeServer s;
  const std::string base = "GET /api/v1/jobs/job_1/logs?stream=stdout&offset=";
  s.routes[base + "0"].push_back(log_chunk("hel", 3, 3, false));
  s.routes[base + "3"] = {log_chunk("", 3, 3, false), log_chunk("", 3, 3, false), log_chunk("", 3, 3, false),
                          log_chunk("lo\n", 6, 6, false)};
  s.routes[base + "6"].push_back(log_chunk("", 6, 6, true));
  ApiClient api(s.transport(), "t");
  std::ostringstream out;
  std::vector<long long> sleeps;
  auto next = stream_logs(api, {"job_1", false, true, 0}, out,
                          [&](std::chrono::milliseconds d) { sleeps.push_back(d.count()); });
  ASSERT_TRUE(next) << next.error().detail;
  EXPECT_EQ(*next, 6);
  EXPECT_EQ(out.str(), "hello\n");
  // data -> 500; three idle polls -> 500, 1000, 2000; data again -> 500; then complete.
  EXPECT_EQ(sleeps, (std::vector<long long>{500, 500, 1000, 2000, 500}));
}

TEST(Jobs, LogsWithoutFollowReadEveryChunkOnce) {
  FakeServer s;
  const std::string base = "GET /api/v1/jobs/job_1/logs?stream=stderr&offset=";
  s.routes[base + "10"].push_back(log_chunk("abc", 13, 16, false));  // more than one chunk waiting
  s.routes[base + "13"].push_back(log_chunk("def", 16, 16, false));
  ApiClient api(s.transport(), "t");
  std::ostringstream out;
  int slept = 0;
  auto next = stream_logs(api, {"job_1", true, false, 10}, out, [&](std::chrono::milliseconds) { ++slept; });
  ASSERT_TRUE(next) << next.error().detail;
  EXPECT_EQ(*next, 16);
  EXPECT_EQ(out.str(), "abcdef");
  EXPECT_EQ(slept, 0);
  // A response without offsets is an error, not a loop.
  FakeServer broken;
  HttpResponse r;
  r.status = 200;
  r.body = "x";
  broken.routes[base + "0"].push_back(r);
  ApiClient api2(broken.transport(), "t");
  EXPECT_FALSE(stream_logs(api2, {"job_1", true, false, 0}, out, [](std::chrono::milliseconds) {}));
  // Problems are errors with the server's detail.
  FakeServer missing;
  ApiClient api3(missing.transport(), "t");
  auto gone = stream_logs(api3, {"job_2", false, true, 0}, out, [](std::chrono::milliseconds) {});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
}

TEST(Jobs, TablesAndDetails) {
  json pending = json::parse(R"({"id":"job_1","name":"train","state":"PENDING","reason":"Held",
      "reason_detail":"held by alice","held":true,"submit_time":"2026-01-02T03:04:05.123Z",
      "resources":{"cpus":2,"mem_mb":4096,"gpus":0,"time_limit_s":7200},"usage":null,"priority":12,
      "estimated_start":null,"command":["python3","train.py"],"env":{"SEED":"1"},"stop_requested":null,
      "events":[{"seq":1,"at":"2026-01-02T03:04:05.123Z","from":null,"to":"PENDING","event":"submit",
                 "reason":"","cause":"submitted"},
                {"seq":2,"at":"2026-01-02T03:04:06.000Z","from":"PENDING","to":"PENDING","event":"hold",
                 "reason":"Held","cause":"held by alice"}]})");
  json done = json::parse(R"({"id":"job_2","name":"x","state":"FAILED","reason":null,"reason_detail":"",
      "submit_time":"2026-01-02T03:04:05Z","exit_code":3,"resources":{"cpus":1,"mem_mb":1000,"gpus":0,
      "time_limit_s":60},"usage":{"wall_seconds":75.5,"cpu_seconds":1.25,"peak_mem_mb":12},
      "allocation":{"cpus":1,"mem_mb":1000,"gpus":[]},"script":"echo a\necho b\n","stop_requested":null})");
  std::string table = render_job_table({pending, done});
  EXPECT_EQ(table,
            "ID     NAME   STATE    REASON  CPUS  MEM    TIME  SUBMIT\n"
            "job_1  train  PENDING  Held    2     4G     0:00  2026-01-02T03:04:05Z\n"
            "job_2  x      FAILED   -       1     1000M  1:15  2026-01-02T03:04:05Z\n");
  std::string p = render_job(pending);
  EXPECT_NE(p.find("state:           PENDING (held)\n"), std::string::npos) << p;
  EXPECT_NE(p.find("reason:          Held: held by alice\n"), std::string::npos) << p;
  EXPECT_NE(p.find("estimated start: unknown\n"), std::string::npos) << p;
  EXPECT_NE(p.find("resources:       cpus=2 mem=4G time=2:00:00\n"), std::string::npos) << p;
  EXPECT_NE(p.find("command:         python3 train.py\n"), std::string::npos) << p;
  EXPECT_NE(p.find("events:\n"), std::string::npos) << p;
  EXPECT_NE(p.find("submitted -> PENDING"), std::string::npos) << p;
  EXPECT_NE(p.find("PENDING (hold)        held by alice (Held)"), std::string::npos) << p;
  std::string d = render_job(done);
  EXPECT_NE(d.find("exit code:  3\n"), std::string::npos) << d;
  EXPECT_NE(d.find("usage:      wall 1:15, cpu 1.2 s, peak memory 12M\n"), std::string::npos) << d;
  EXPECT_NE(d.find("script:     2 lines"), std::string::npos) << d;
  EXPECT_NE(d.find("allocation: cpus=1 mem=1000M gpus=-\n"), std::string::npos) << d;
  EXPECT_EQ(d.find("image:"), std::string::npos) << d;  // an older server's job: no image line
  json pinned = json::parse(R"({"id":"job_4","state":"COMPLETED","image":{"name":"busybox","digest":"sha256:ab"},
      "secrets":["HF_TOKEN"],"datasets":[{"name":"genomes","version":3}]})");
  std::string i = render_job(pinned);
  EXPECT_NE(i.find("image:     busybox@sha256:ab\n"), std::string::npos) << i;
  EXPECT_NE(i.find("secrets:   HF_TOKEN\n"), std::string::npos) << i;
  EXPECT_NE(i.find("datasets:  genomes@3 (at /data/NAME)\n"), std::string::npos) << i;
  EXPECT_NE(render_job(json::parse(R"({"id":"job_5","image":null})")).find("image:     host root\n"), std::string::npos);
  json remote = json::parse(R"({"id":"job_6","state":"RUNNING","partition":"gpu","slurm":{"cluster":"lab",
      "job_id":1234,"array_job_id":1230,"array_task_id":4,"nodes":"node1","state":"RUNNING","reason":"",
      "unknown_since":"2026-01-02T03:04:05.000Z","handed_over":true}})");
  std::string r = render_job(remote);
  EXPECT_NE(r.find("partition:     gpu\n"), std::string::npos) << r;
  EXPECT_NE(r.find("cluster:       lab\n"), std::string::npos) << r;
  EXPECT_NE(r.find("slurm job:     1230_4 (job 1234)\n"), std::string::npos) << r;
  EXPECT_NE(r.find("nodes:         node1\n"), std::string::npos) << r;
  EXPECT_NE(r.find("slurm state:   RUNNING\n"), std::string::npos) << r;
  EXPECT_NE(r.find("unknown since: 2026-01-02T03:04:05Z (SLURM cannot be reached"), std::string::npos) << r;
  json queued = json::parse(R"({"id":"job_7","state":"PENDING","partition":"gpu","slurm":{"cluster":"lab",
      "job_id":null,"array_job_id":null,"array_task_id":null,"nodes":"","state":"","reason":"",
      "unknown_since":null,"handed_over":false}})");
  std::string q = render_job(queued);
  EXPECT_NE(q.find("slurm job:       not handed over yet"), std::string::npos) << q;
  EXPECT_EQ(q.find("unknown since"), std::string::npos) << q;
  EXPECT_EQ(render_job(pending).find("partition"), std::string::npos);  // an older server: no line
  std::string parts = render_partition_table(
      {json::parse(R"({"name":"local","kind":"local","cluster":null,"slurm_partition":null,"limits":{"max_cpus":8,
          "max_mem_mb":16384,"max_gpus":0,"max_time_s":0},"default":true})"),
       json::parse(R"({"name":"gpu","kind":"slurm","cluster":"lab","slurm_partition":"gpu_p","limits":{"max_cpus":0,
          "max_mem_mb":0,"max_gpus":4,"max_time_s":86400},"default":false})")});
  EXPECT_EQ(parts,
            "NAME   KIND   CLUSTER  SLURM PARTITION  CPUS  MEM  GPUS  TIME        DEFAULT\n"
            "local  local  -        -                8     16G  -     -           *\n"
            "gpu    slurm  lab      gpu_p            -     -    4     1-00:00:00  -\n");
  // Terminal escapes from the server never reach the terminal.
  json evil = json::parse(R"({"id":"job_3","name":"\u001b[31mred","state":"RUNNING"})");
  EXPECT_EQ(render_job_table({evil}).find('\x1b'), std::string::npos);
  EXPECT_EQ(render_job(evil).find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace atrium::cli
