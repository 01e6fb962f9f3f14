#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "envs/apps.hpp"
#include "envs/cull.hpp"
#include "envs/files_view.hpp"
#include "envs/state.hpp"
#include "envs/streams.hpp"

namespace atrium::envs {
namespace {

using nlohmann::json;

TEST(Cull, IdleTimeoutMovesWithActivityAndWarnsFirst) {
  ManualClock clock(1'000'000);
  CullInput in{.now = clock.now_ms(), .ready_at = clock.now_ms(), .last_activity = clock.now_ms(),
               .idle_timeout = 600'000, .max_uptime = 0, .warn_before = 60'000};
  EXPECT_EQ(decide_cull(in).kind, CullDecision::kNone);
  clock.advance_ms(539'999);
  in.now = clock.now_ms();
  EXPECT_EQ(decide_cull(in).kind, CullDecision::kNone);
  clock.advance_ms(1);  // 60 s before the cull: the warning
  in.now = clock.now_ms();
  auto w = decide_cull(in);
  EXPECT_EQ(w.kind, CullDecision::kWarn);
  EXPECT_EQ(w.at, 1'000'000 + 600'000);
  in.last_activity = clock.now_ms();  // the user came back: the deadline moves
  EXPECT_EQ(decide_cull(in).kind, CullDecision::kNone);
  clock.advance_ms(600'000);
  in.now = clock.now_ms();
  auto s = decide_cull(in);
  EXPECT_EQ(s.kind, CullDecision::kStop);
  EXPECT_NE(s.reason.find("idle for 600 s"), std::string::npos);
}

TEST(Cull, MaximumUptimeIgnoresActivity) {
  CullInput in{.now = 0, .ready_at = 0, .last_activity = 0, .idle_timeout = 0, .max_uptime = 3'600'000, .warn_before = 0};
  for (Millis t = 0; t < 3'600'000; t += 600'000) {
    in.now = in.last_activity = t;
    EXPECT_EQ(decide_cull(in).kind, CullDecision::kNone) << t;
  }
  in.now = in.last_activity = 3'600'000;
  auto d = decide_cull(in);
  EXPECT_EQ(d.kind, CullDecision::kStop);
  EXPECT_NE(d.reason.find("maximum uptime"), std::string::npos);
}

TEST(Cull, NoLimitsNeverCulls) {
  CullInput in{.now = 1LL << 50, .ready_at = 0, .last_activity = 0};
  EXPECT_EQ(decide_cull(in).kind, CullDecision::kNone);
}

TEST(EnvStates, NamesAreTheApisAndRoundTrip) {
  std::vector<std::string> names;
  for (auto s : kAllEnvStates) {
    names.emplace_back(state_name(s));
    auto back = parse_state(state_name(s));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"QUEUED", "STARTING", "READY", "STOPPING", "STOPPED", "FAILED"}));
  EXPECT_FALSE(parse_state("RUNNING").has_value());
  EXPECT_TRUE(is_active(EnvState::kStopping));
  EXPECT_FALSE(is_active(EnvState::kStopped));
  EXPECT_FALSE(is_active(EnvState::kFailed));
}

TEST(EnvStates, TheTableAllowsExactlyTheseMoves) {
  using S = EnvState;
  using E = EnvEvent;
  struct Case {
    S from;
    E event;
    std::optional<S> to;  // nullopt: refused
  } cases[] = {
      {S::kQueued, E::kJobStarted, S::kStarting}, {S::kStarting, E::kJobStarted, std::nullopt},
      {S::kStopping, E::kJobStarted, std::nullopt},  // a stop asked for while its job started wins
      {S::kStarting, E::kHealthy, S::kReady},     {S::kQueued, E::kHealthy, std::nullopt},
      {S::kReady, E::kHealthy, std::nullopt},     {S::kQueued, E::kStop, S::kStopping},
      {S::kStarting, E::kStop, S::kStopping},     {S::kReady, E::kStop, S::kStopping},
      {S::kStopping, E::kStop, std::nullopt},     {S::kStopping, E::kEnded, S::kStopped},
      {S::kReady, E::kEnded, S::kStopped},        {S::kQueued, E::kFail, S::kFailed},
      {S::kStopping, E::kFail, S::kFailed},       {S::kStopped, E::kFail, std::nullopt},
      {S::kFailed, E::kEnded, std::nullopt},      {S::kStopped, E::kStop, std::nullopt},
  };
  for (const auto& c : cases) {
    auto r = next_state(c.from, c.event);
    if (c.to) {
      ASSERT_TRUE(r.has_value()) << state_name(c.from);
      EXPECT_EQ(*r, *c.to) << state_name(c.from);
    } else {
      ASSERT_FALSE(r.has_value()) << state_name(c.from);
      EXPECT_EQ(r.error().type, "illegal-transition");
    }
  }
  for (const auto& rule : transition_table()) {  // nothing leaves an ended state
    EXPECT_TRUE(is_active(rule.from)) << state_name(rule.from);
  }
}

// An environment's life on a manual clock: when the monitor looks at it at each step.
TEST(EnvStates, TheMonitorLooksWhenSomethingIsDue) {
  ManualClock clock(1'000'000);
  Timing t{.state = EnvState::kQueued, .now = clock.now_ms(), .health_interval = 20};
  EXPECT_EQ(next_look(t), std::numeric_limits<Millis>::max());  // woken by each scheduling pass and by its job's changes
  // Its job starts (the job's change wakes it): STARTING, health checks every 20 ms until the spawn timeout.
  t.state = *next_state(t.state, EnvEvent::kJobStarted);
  t.started = clock.now_ms();
  t.spawn_timeout = 50;
  EXPECT_EQ(next_look(t), 1'000'020);
  clock.advance_ms(40);
  t.now = clock.now_ms();
  EXPECT_EQ(next_look(t), 1'000'051);  // just past the timeout: it fails then, not later
  // Healthy: READY. A web app with an idle timeout: looked at when the warning and then the stop are due.
  t.state = *next_state(t.state, EnvEvent::kHealthy);
  Millis ready_at = clock.now_ms();
  CullInput in{.now = clock.now_ms(), .ready_at = ready_at, .last_activity = ready_at, .idle_timeout = 600'000,
               .max_uptime = 0, .warn_before = 60'000};
  auto d = decide_cull(in);
  EXPECT_EQ(d.kind, CullDecision::kNone);
  t.cull_at = d.next;
  EXPECT_EQ(next_look(t), ready_at + 540'000);
  clock.set_ms(next_look(t));
  in.now = t.now = clock.now_ms();
  d = decide_cull(in);
  EXPECT_EQ(d.kind, CullDecision::kWarn);
  t.cull_at = d.next;
  EXPECT_EQ(next_look(t), ready_at + 600'000);
  clock.set_ms(next_look(t));
  in.now = t.now = clock.now_ms();
  EXPECT_EQ(decide_cull(in).kind, CullDecision::kStop);
  // Culled: STOPPING waits for its job to end (a wake), never for time.
  t.state = *next_state(t.state, EnvEvent::kStop);
  EXPECT_EQ(next_look(t), std::numeric_limits<Millis>::max());
  EXPECT_EQ(*next_state(t.state, EnvEvent::kEnded), EnvState::kStopped);
}

TEST(EnvStates, AReadyAppWithoutLimitsIsLookedAtOnlyForItsActivity) {
  Timing t{.state = EnvState::kReady, .now = 5'000};
  EXPECT_EQ(next_look(t), std::numeric_limits<Millis>::max());
  t.app_poll_at = 65'000;  // Jupyter: its own last_activity is asked for each minute
  t.persist_at = 30'000;   // a proxied request's activity is written once quiet
  EXPECT_EQ(next_look(t), 30'000);
  t.cull_at = 1'000;  // overdue: at once
  EXPECT_EQ(next_look(t), 5'000);
}

TEST(Apps, BuiltinsKeepTheirKindAndWebAppsNeedACommand) {
  const App* jupyter = &builtin_apps()[0];
  ASSERT_EQ(jupyter->name, "jupyter");
  auto tuned = app_from_json("jupyter", json{{"idle_timeout_s", 120}, {"max", {{"cpus", 2}}}, {"defaults", {{"cpus", 1}}}}, jupyter);
  ASSERT_TRUE(tuned.has_value()) << tuned.error().detail;
  EXPECT_EQ(tuned->idle_timeout, 120'000);
  EXPECT_EQ(tuned->max.cpus, 2);
  EXPECT_FALSE(app_from_json("jupyter", json{{"kind", "web"}}, jupyter).has_value());
  EXPECT_FALSE(app_from_json("shiny", json{{"kind", "web"}}, nullptr).has_value());        // no command
  EXPECT_FALSE(app_from_json("shiny", json{{"kind", "jupyter"}}, nullptr).has_value());    // only web added
  EXPECT_FALSE(app_from_json("Bad Name", json{{"kind", "web"}, {"command", {"x"}}}, nullptr).has_value());
  EXPECT_FALSE(app_from_json("w", json{{"kind", "web"}, {"command", {"x"}}, {"colour", 1}}, nullptr).has_value());
  EXPECT_FALSE(app_from_json("w", json{{"kind", "web"}, {"command", {"x"}}, {"defaults", {{"cpus", 9}}}}, nullptr).has_value());
  EXPECT_FALSE(app_from_json("w", json{{"kind", "web"}, {"command", {"x"}}, {"health_path", "../x"}}, nullptr).has_value());
  EXPECT_FALSE(app_from_json("w", json{{"kind", "web"}, {"command", {"x"}}, {"network", "host"}}, nullptr).has_value());
  auto web = app_from_json("w", json{{"kind", "web"}, {"command", {"/usr/bin/python3", "-m", "http.server"}},
                                     {"listen", "port"}, {"port", 8000}, {"health_path", "/"}},
                           nullptr);
  ASSERT_TRUE(web.has_value()) << web.error().detail;
  auto l = launch_for(*web, "/env/env_x/", 0);
  ASSERT_GE(l.argv.size(), 3u);
  EXPECT_EQ(l.argv[1], "-P");                      // safe paths: nothing in the cwd shadows a module
  EXPECT_EQ(l.argv[2], "/atrium/app/bridge.py");  // the port is bridged to the socket
  EXPECT_EQ(l.cwd, "/atrium/run");
  EXPECT_EQ(l.env.at("PORT"), "8000");
  EXPECT_TRUE(l.files.contains("bridge.py"));
  EXPECT_EQ(l.health_path, "/env/env_x/");
  // A web app's own command runs as defined, in the workspace.
  auto sock = app_from_json("s", json{{"kind", "web"}, {"command", {"/usr/bin/python3", "app.py"}}}, nullptr);
  ASSERT_TRUE(sock.has_value()) << sock.error().detail;
  auto ls = launch_for(*sock, "/env/env_x/", 0);
  EXPECT_EQ(ls.argv, (std::vector<std::string>{"/usr/bin/python3", "app.py"}));
  EXPECT_EQ(ls.cwd, "/workspace");
}

TEST(Apps, MaxGpusIsCheckedAndRoundTrips) {
  auto a = app_from_json("g", json{{"kind", "web"}, {"command", {"x"}}, {"max_gpus", 2}}, nullptr);
  ASSERT_TRUE(a) << a.error().detail;
  EXPECT_EQ(a->max_gpus, 2);
  EXPECT_EQ(to_json(*a)["max_gpus"], 2);
  EXPECT_EQ(app_from_json("g", json{{"kind", "web"}, {"command", {"x"}}}, nullptr)->max_gpus, 0);
  for (json bad : {json(-1), json(65), json("1"), json(1.5)}) {
    auto r = app_from_json("g", json{{"kind", "web"}, {"command", {"x"}}, {"max_gpus", bad}}, nullptr);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().extra.value("field", ""), "max_gpus");
  }
}

// A home's size: allocated blocks, a file with two links once, a link never followed.
TEST(Homes, TreeBytesCountsBlocksOnceAndFollowsNoLink) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("envs-home-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "sub");
  std::ofstream(root / "sub" / "a.bin") << std::string(100'000, 'x');
  fs::create_hard_link(root / "sub" / "a.bin", root / "b.bin");
  fs::create_directory_symlink("/usr", root / "usr");
  auto n = tree_bytes(root);
  ASSERT_TRUE(n) << n.error().detail;
  EXPECT_GE(*n, 100'000);
  EXPECT_LT(*n, 200'000);  // a.bin once; /usr not walked
  EXPECT_EQ(*tree_bytes(root / "missing"), 0);
  fs::remove_all(root);
}

TEST(Apps, BuiltInPythonStartsWithSafePathsOutsideTheWorkspace) {
  for (const auto& app : builtin_apps()) {
    if (app.kind == "web") continue;
    auto l = launch_for(app, "/env/env_abc/", 0);
    ASSERT_GE(l.argv.size(), 2u) << app.name;
    EXPECT_EQ(l.argv[0], "/usr/bin/python3") << app.name;
    EXPECT_EQ(l.argv[1], "-P") << app.name;
    EXPECT_EQ(l.env.at("PYTHONSAFEPATH"), "1") << app.name;  // inherited by Jupyter's kernels
    EXPECT_EQ(l.cwd, "/atrium/run") << app.name;
  }
  auto j = launch_for(builtin_apps()[0], "/env/env_abc/", 0);
  std::string argv;
  for (auto& a : j.argv) argv += a + " ";
  EXPECT_NE(argv.find("--ServerApp.root_dir=/workspace"), std::string::npos);
}

TEST(Apps, AnOrgMayHaveItsOwnIdleTimeoutAndUptime) {
  const std::string org = "org_01JD3X8V0Q6Y2M4K9T7R5W1ZCA", other = "org_01JD3X8V0Q6Y2M4K9T7R5W1ZCB";
  auto a = app_from_json("terminal", json{{"idle_timeout_s", 600}, {"per_org", {{org, {{"idle_timeout_s", 60}}}}}},
                         &builtin_apps()[1]);
  ASSERT_TRUE(a.has_value()) << a.error().detail;
  EXPECT_EQ(a->idle_timeout_for(org), 60'000);
  EXPECT_EQ(a->idle_timeout_for(other), 600'000);
  EXPECT_EQ(a->max_uptime_for(org), a->max_uptime);
  EXPECT_EQ(to_json(*a)["per_org"][org]["idle_timeout_s"], 60);
  EXPECT_FALSE(app_from_json("terminal", json{{"per_org", {{"nope", {{"idle_timeout_s", 1}}}}}}, &builtin_apps()[1]));
  EXPECT_FALSE(app_from_json("terminal", json{{"per_org", {{org, {{"cpus", 1}}}}}}, &builtin_apps()[1]));
}

TEST(Apps, JupyterGetsItsSettingsOnTheCommandLineButNeverTheToken) {
  auto l = launch_for(builtin_apps()[0], "/env/env_abc/", 600'000);
  std::string argv;
  for (auto& a : l.argv) argv += a + " ";
  EXPECT_NE(argv.find("--ServerApp.base_url=/env/env_abc/"), std::string::npos);
  EXPECT_NE(argv.find("--ServerApp.sock=/atrium/run/app.sock"), std::string::npos);
  EXPECT_NE(argv.find("--MappingKernelManager.cull_idle_timeout=600"), std::string::npos);
  EXPECT_EQ(argv.find("token="), std::string::npos);
  EXPECT_EQ(l.env.at("JUPYTER_TOKEN_FILE"), "/atrium/run/token");
  for (auto& [k, v] : l.env) EXPECT_EQ(k.find("JUPYTER_TOKEN") != std::string::npos && k != "JUPYTER_TOKEN_FILE", false);
  EXPECT_EQ(l.health_path, "/env/env_abc/api/status");
}

// The list stream sends each active environment once, then only what changed (a new version,
// or a QUEUED reason), and the last state of one that left the active set.
TEST(ListTracker, SendsNewChangedAndEnded) {
  auto rec = [](std::string id, EnvState st, std::int64_t v, std::string reason = "") {
    EnvRecord e;
    e.id = std::move(id);
    e.state = st;
    e.version = v;
    e.reason = std::move(reason);
    return e;
  };
  ListTracker t;
  std::vector<std::string> asked;
  std::optional<EnvRecord> ended;
  auto read = [&](const std::string& id) {
    asked.push_back(id);
    return ended;
  };
  auto ids = [](const std::vector<EnvRecord>& v) {
    std::string out;
    for (auto& e : v) out += e.id + ":" + std::string(state_name(e.state)) + " ";
    return out;
  };
  EXPECT_EQ(ids(t.update({rec("a", EnvState::kQueued, 1, "Priority"), rec("b", EnvState::kReady, 3)}, read)),
            "a:QUEUED b:READY ");
  EXPECT_EQ(ids(t.update({rec("a", EnvState::kQueued, 1, "Priority"), rec("b", EnvState::kReady, 3)}, read)), "");
  EXPECT_EQ(ids(t.update({rec("a", EnvState::kQueued, 1, "Resources"), rec("b", EnvState::kReady, 3)}, read)),
            "a:QUEUED ");
  ended = rec("b", EnvState::kStopped, 5);
  EXPECT_EQ(ids(t.update({rec("a", EnvState::kStarting, 2)}, read)), "a:STARTING b:STOPPED ");
  EXPECT_EQ(asked, std::vector<std::string>{"b"});
  EXPECT_EQ(ids(t.update({rec("a", EnvState::kStarting, 2)}, read)), "");  // b is no longer followed
  EXPECT_EQ(asked.size(), 1u);
}

}  // namespace
}  // namespace atrium::envs
