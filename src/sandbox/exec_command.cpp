#include "sandbox/exec_command.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iostream>
#include <iterator>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/files.hpp"
#include "sandbox/detail/sys.hpp"
#include "sandbox/sandbox.hpp"

namespace atrium::sandbox {

namespace {

constexpr int kUsageError = 2;
constexpr int kSetupError = 125;

// Field 22 of /proc/self/stat: with the pid it names this process uniquely across pid reuse.
std::string self_start_time() {
  auto stat = detail::read_file("/proc/self/stat");
  if (!stat) return "";
  auto close = stat->rfind(')');  // the comm field may contain spaces
  if (close == std::string::npos) return "";
  std::istringstream in(stat->substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && in >> field; ++i) {
    if (i == 22) return field;
  }
  return "";
}

struct Options {
  std::string spec;
  std::string state_dir;
  std::string secrets;  // "" | FILE | "-" (stdin: the server's pipe)
  std::string gpus;     // "" | the host scheduler's allocation ("0,2": SLURM's $SLURM_JOB_GPUS)
  bool probe = false;
};

// The GPUs the node's scheduler allocated replace the spec's indices (a remote spec says only how
// many: 0..n-1 would be another job's GPUs on a shared node). Never more than the spec asks for: a
// spec without GPUs gets none, whatever the node says; a different count is refused.
int apply_gpus(const std::string& list, Spec& spec) {
  if (list.empty() || spec.gpus.empty()) return 0;
  std::vector<int> gpus;
  std::istringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    int g = -1;
    try {
      std::size_t used = 0;
      g = std::stoi(item, &used);
      if (used != item.size()) g = -1;
    } catch (const std::exception&) {
    }
    if (g < 0 || g > 254 || std::find(gpus.begin(), gpus.end(), g) != gpus.end()) {
      std::cerr << "atrium exec: --gpus " << list << ": not a list of distinct GPU indices\n";
      return kUsageError;
    }
    gpus.push_back(g);
  }
  if (gpus.size() != spec.gpus.size()) {
    std::cerr << "atrium exec: --gpus " << list << " names " << gpus.size() << " GPU(s), the job has "
              << spec.gpus.size() << "\n";
    return kSetupError;
  }
  spec.gpus = std::move(gpus);
  return 0;
}

// JSON from FILE, or from stdin to EOF for "-" (stdin is /dev/null again afterwards); discarded
// (and said why on stderr) when it cannot be read or parsed. `what` names it in messages.
nlohmann::json read_json_input(const std::string& path, const char* what) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::dup2(fd, 0);
      ::close(fd);
    }
  } else if (auto t = detail::read_file(path)) {
    text = std::move(*t);
  } else {
    std::cerr << "atrium exec: cannot read " << path << ": " << detail::errno_text(errno) << "\n";
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  std::fill(text.begin(), text.end(), '\0');  // the secrets' copy: gone once parsed
  if (j.is_discarded()) std::cerr << "atrium exec: bad " << what << ": not valid JSON\n";
  return j;
}

// The secrets a server hands over through its socket (never a file at rest), added to the spec.
int read_secrets(const Options& opt, Spec& spec) {
  nlohmann::json j = read_json_input(opt.secrets, "secrets");
  if (j.is_discarded()) return kUsageError;
  if (auto st = add_secrets(spec, j); !st) {
    std::cerr << "atrium exec: bad secrets: " << st.error().detail << "\n";
    return kUsageError;
  }
  return 0;
}

int run_exec(const Options& opt) {
  if (opt.probe) {
    std::cout << to_json(probe()).dump(2) << "\n";
    return 0;
  }
  nlohmann::json j = read_json_input(opt.spec, "spec");
  if (j.is_discarded()) return kUsageError;
  auto spec = spec_from_json(j);
  if (!spec) {
    std::cerr << "atrium exec: bad spec: " << spec.error().detail << "\n";
    return kUsageError;
  }
  if (int rc = apply_gpus(opt.gpus, *spec); rc != 0) return rc;
  if (!opt.secrets.empty()) {
    if (opt.secrets == "-" && opt.spec == "-") {
      std::cerr << "atrium exec: --spec - and --secrets - cannot both read stdin\n";
      return kUsageError;
    }
    if (int rc = read_secrets(opt, *spec); rc != 0) return rc;
  }
  if (!opt.state_dir.empty()) {
    if (::mkdir(opt.state_dir.c_str(), 0750) != 0 && errno != EEXIST) {
      std::cerr << "atrium exec: --state-dir " << opt.state_dir << ": " << detail::errno_text(errno) << "\n";
      return kUsageError;
    }
    // The run belongs to whoever holds <state-dir>/lock: this supervisor while it lives (the
    // lock goes with it, however it dies). A server that finds the lock free after a crash takes
    // it and marks the run abandoned; a supervisor that starts that late must not run the job.
    std::string lock_path = opt.state_dir + "/lock";
    int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0) {
      std::cerr << "atrium exec: " << lock_path << " is held by another process; not running the job\n";
      return kSetupError;
    }
    struct stat st {};
    if (::stat((opt.state_dir + "/abandoned").c_str(), &st) == 0) {
      std::cerr << "atrium exec: the run in " << opt.state_dir << " was abandoned; not running the job\n";
      return kSetupError;
    }
    // `lock` stays open (and locked) until this process exits.
  }
  // Stop signals stay blocked for the whole command: run() turns them into a cancel, and one
  // arriving after the job ended must not kill us before outcome.json is written.
  sigset_t stopset;
  sigemptyset(&stopset);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&stopset, s);
  ::sigprocmask(SIG_BLOCK, &stopset, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  SystemClock clock;
  RunHooks hooks;
  std::string state_error;
  if (!opt.state_dir.empty()) {
    hooks.on_started = [&](int sandbox_pid) {
      nlohmann::json sup = {{"pid", ::getpid()},
                            {"start_time", self_start_time()},
                            {"sandbox_pid", sandbox_pid},
                            {"started_ms", clock.now_ms()},
                            {"id", spec->id}};
      if (auto st = write_file_atomic(opt.state_dir + "/supervisor.json", sup.dump() + "\n"); !st)
        state_error = st.error().detail;
    };
  }
  auto outcome = run(*spec, hooks);
  if (!outcome) {
    std::cerr << "atrium exec: " << outcome.error().detail << "\n";
    return outcome.error().code == ErrorCode::kInvalidArgument ? kUsageError : kSetupError;
  }
  if (!state_error.empty()) outcome->detail += (outcome->detail.empty() ? "" : "; ") + ("supervisor.json: " + state_error);
  auto json = to_json(*outcome);
  if (!opt.state_dir.empty()) {
    if (auto st = write_file_atomic(opt.state_dir + "/outcome.json", json.dump(2) + "\n"); !st)
      std::cerr << "atrium exec: " << st.error().detail << "\n";
  }
  std::cout << json.dump() << "\n" << std::flush;
  if (outcome->kind == "setup_failed") std::cerr << "atrium exec: setup failed: " << outcome->detail << "\n";
  return exit_status(*outcome);
}

}  // namespace

void add_exec_command(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("exec", "Run one job in the sandbox (the per-job supervisor)");
  auto* spec = cmd->add_option("--spec", opt->spec, "The job's JSON spec: a file, or - for stdin");
  cmd->add_option("--state-dir", opt->state_dir, "Write supervisor.json and outcome.json here (atomically)");
  cmd->add_option("--secrets", opt->secrets,
                  "Secret variables and files as JSON {\"env\": {...}, \"files\": {...}}: a file, or - for stdin");
  cmd->add_option("--gpus", opt->gpus,
                  "The GPU indices the node's scheduler allocated (e.g. $SLURM_JOB_GPUS): replace the spec's, as many");
  cmd->add_flag("--probe", opt->probe, "Print what this host's sandbox can enforce (JSON) and exit");
  cmd->callback([opt, &exit_code, spec] {
    if (!opt->probe && spec->count() == 0) {
      std::cerr << "atrium exec: --spec is required\n";
      exit_code = kUsageError;
      return;
    }
    exit_code = run_exec(*opt);
  });
}

}  // namespace atrium::sandbox
