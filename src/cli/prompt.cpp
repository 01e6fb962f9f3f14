#include "cli/prompt.hpp"

#include <csignal>
#include <iostream>

#include <termios.h>
#include <unistd.h>

#include "cli/requests.hpp"

namespace atrium::cli {

namespace {

// The terminal state to put back if the user interrupts a password prompt.
termios g_saved_termios{};
volatile std::sig_atomic_t g_echo_off = 0;

extern "C" void restore_echo_and_reraise(int sig) {
  if (g_echo_off) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

class EchoOff {
 public:
  EchoOff() {
    if (::tcgetattr(STDIN_FILENO, &g_saved_termios) != 0) return;
    old_int_ = ::signal(SIGINT, restore_echo_and_reraise);
    old_term_ = ::signal(SIGTERM, restore_echo_and_reraise);
    termios t = g_saved_termios;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    t.c_lflag |= ECHONL;
    if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0) g_echo_off = 1;
  }
  ~EchoOff() {
    if (g_echo_off) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
    g_echo_off = 0;
    if (old_int_ != SIG_ERR) ::signal(SIGINT, old_int_);
    if (old_term_ != SIG_ERR) ::signal(SIGTERM, old_term_);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  sighandler_t old_int_ = SIG_ERR;
  sighandler_t old_term_ = SIG_ERR;
};

Result<std::string> read_line(std::string_view prompt) {
  std::cerr << prompt << std::flush;
  std::string line;
  if (!std::getline(std::cin, line)) return usage_error("no input");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

bool stdin_is_terminal() { return ::isatty(STDIN_FILENO) == 1; }

Result<std::string> prompt_line(std::string_view prompt) { return read_line(prompt); }

Result<std::string> prompt_secret(std::string_view prompt) {
  EchoOff guard;
  return read_line(prompt);
}

Result<std::string> prompt_new_secret(std::string_view prompt) {
  std::string first = TRY(prompt_secret(prompt));
  if (first.empty()) return usage_error("the password must not be empty");
  std::string second = TRY(prompt_secret("Repeat: "));
  if (first != second) return usage_error("the passwords do not match");
  return first;
}

Result<std::string> read_secret_line(std::istream& in) {
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return usage_error("expected a password on stdin (--password-stdin), got nothing");
  return line;
}

}  // namespace atrium::cli
