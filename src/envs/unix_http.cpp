#include "envs/unix_http.hpp"

#include "core/dir.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace atrium::envs {

namespace {

Error unreachable(const std::string& what) { return Error(ErrorCode::kUnavailable, "env-unreachable", what); }

}  // namespace

Result<UnixReply> unix_http(const std::string& path, std::uint32_t owner_uid, const std::string& method, const std::string& target,
                            const std::vector<std::pair<std::string, std::string>>& headers, Millis timeout_ms,
                            std::size_t max_body) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto sock = Dir::open_socket_at(path, owner_uid);
  if (!sock) return fail(unreachable(sock.error().detail));
  std::string p = Dir::proc_path(sock->get());  // held open until connect() is done
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, p.data(), std::min(p.size(), sizeof addr.sun_path - 1));
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s) return fail(unreachable(std::strerror(errno)));
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fail(unreachable(std::string("connect: ") + std::strerror(errno)));
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n";
  for (auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  req += "\r\n";
  auto wait = [&](short events) -> Status {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return fail(unreachable("timed out"));
    pollfd pfd{s.get(), events, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left));
    if (r == 0) return fail(unreachable("timed out"));
    if (r < 0 && errno != EINTR) return fail(unreachable(std::strerror(errno)));
    return {};
  };
  std::size_t sent = 0;
  while (sent < req.size()) {
    TRY_STATUS(wait(POLLOUT));
    auto n = ::send(s.get(), req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) return fail(unreachable(std::string("send: ") + std::strerror(errno)));
    sent += static_cast<std::size_t>(n);
  }
  std::string in;
  char buf[16384];
  for (;;) {
    TRY_STATUS(wait(POLLIN));
    auto n = ::recv(s.get(), buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) return fail(unreachable(std::string("recv: ") + std::strerror(errno)));
    if (n == 0) break;
    in.append(buf, static_cast<std::size_t>(n));
    if (in.size() > max_body + 64 * 1024) break;
  }
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody" (the body as sent: chunked bodies are not decoded)
  if (in.size() < 12 || in.compare(0, 5, "HTTP/") != 0) return fail(unreachable("not an HTTP answer"));
  UnixReply r;
  auto sp = in.find(' ');
  if (sp == std::string::npos || sp + 4 > in.size()) return fail(unreachable("not an HTTP answer"));
  r.status = std::atoi(in.substr(sp + 1, 3).c_str());
  auto end = in.find("\r\n\r\n");
  if (end != std::string::npos) r.body = in.substr(end + 4, max_body);
  return r;
}

}  // namespace atrium::envs
