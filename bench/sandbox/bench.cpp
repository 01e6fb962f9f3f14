// Start cost of a sandboxed job, next to a plain spawn, on this machine: median and p90 of N runs of
//   (a) posix_spawn /bin/true + waitpid
//   (b) sandbox::run of /bin/true with memory/pids/cpu/wall limits (in process: the supervisor's cost)
//   (c) `atrium exec --spec FILE` of the same spec, end to end (a process like the server starts)
// Usage: bench ATRIUM_BIN [N]. Run as root for the per-user uid and cgroups (see run.sh).
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sandbox/sandbox.hpp"

extern char** environ;

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool spawn_wait(const std::vector<std::string>& argv) {
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawn(&pid, a[0], &fa, nullptr, a.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return false;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct Stats {
  double median, p90, min;
};

Stats measure(int n, const std::function<bool()>& fn) {
  for (int i = 0; i < 5; ++i) fn();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < n; ++i) {
    double t0 = now_ms();
    if (!fn()) {
      std::fprintf(stderr, "run %d failed\n", i);
      std::exit(1);
    }
    t.push_back(now_ms() - t0);
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t[t.size() * 9 / 10], t.front()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s ATRIUM_BIN [N]\n", argv[0]);
    return 2;
  }
  std::string atrium = argv[1];
  int n = argc > 2 ? std::atoi(argv[2]) : 200;
  char tmpl[] = "/tmp/atrium-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  chmod(dir.c_str(), 0755);
  std::string ws = dir + "/ws";
  mkdir(ws.c_str(), 0755);
  using namespace atrium::sandbox;
  Spec spec;
  spec.id = "bench-" + std::to_string(getpid());
  spec.argv = {"/bin/true"};
  spec.workspace = ws;
  if (geteuid() == 0) {
    spec.uid = 54321;
    spec.gid = 54321;
    chown(ws.c_str(), 54321, 54321);
  }
  spec.limits.memory_bytes = 256 << 20;
  spec.limits.pids = 64;
  spec.limits.cpus = 1;
  spec.limits.wall_ms = 60'000;
  std::string spec_file = dir + "/spec.json";
  std::ofstream(spec_file) << to_json(spec).dump();

  auto a = measure(n, [] { return spawn_wait({"/bin/true"}); });
  std::string enforced;
  auto b = measure(n, [&] {
    auto o = run(spec);
    if (!o || o->kind != "exited" || o->exit_code != 0) {
      if (o) std::fprintf(stderr, "%s\n", to_json(*o).dump().c_str());
      return false;
    }
    enforced = nlohmann::json(o->enforced).dump();
    return true;
  });
  auto c = measure(n, [&] { return spawn_wait({atrium, "exec", "--spec", spec_file}); });

  const auto& caps = probe();
  std::printf("Sandbox start cost, %d runs each (after 5 warm-up runs), cgroup mode %s, %s\n", n,
              caps.cgroup_mode.c_str(), geteuid() == 0 ? "root (per-user uid)" : "unprivileged (caller's uid)");
  std::printf("enforced: %s\n\n", enforced.c_str());
  std::printf("| case | median ms | p90 ms | min ms | vs (a) |\n|---|---|---|---|---|\n");
  auto row = [&](const char* name, Stats s) {
    std::printf("| %s | %.2f | %.2f | %.2f | +%.2f ms |\n", name, s.median, s.p90, s.min, s.median - a.median);
  };
  row("(a) posix_spawn /bin/true + wait", a);
  row("(b) sandbox::run /bin/true, limits (mem, pids, cpu, wall)", b);
  row("(c) atrium exec --spec, end to end", c);
  std::string rm = "rm -rf " + dir;
  return std::system(rm.c_str()) == 0 ? 0 : 1;
}
