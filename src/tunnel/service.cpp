// The tunnel route and its sockets (service.hpp).
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include "tunnel/service.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "core/io_thread.hpp"
#include "http/api.hpp"
#include "http/ws_channel.hpp"

namespace atrium::tunnel {

namespace asio = boost::asio;
using asio::use_awaitable;
using http::Context;
using http::Response;

namespace {

// Job ids are short and plain (they name a socket whose path must fit sun_path).
bool plain_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

// One connected tunnel: its listening socket's accept loop and the mux, on the connection's executor.
class Service::Handler final : public http::WsHandler, public std::enable_shared_from_this<Service::Handler> {
 public:
  Handler(Service& svc, std::string job_id) : svc_(svc), job_id_(std::move(job_id)) {}

  async::Task<void> run(http::WsChannel& ws) override {
    ex_ = co_await asio::this_coro::executor;
    std::uint64_t gen = 0;
    auto self = shared_from_this();
    auto fd = co_await async::on_pool(svc_.rt_, [&] { return svc_.listen(job_id_, self, gen); });
    if (!fd) {
      spdlog::error("tunnel for job {}: {}", job_id_, fd.error().detail);
      co_await ws.close(1011, "the server could not open the tunnel's socket");
      co_return;
    }
    spdlog::info("tunnel for job {} connected", job_id_);
    Mux mux(ws, ex_, svc_.settings_.mux);
    mux_ = &mux;
    if (end_code_) mux.close(end_code_, end_reason_);
    asio::local::stream_protocol::acceptor acceptor(ex_, asio::local::stream_protocol(), fd->release());
    asio::steady_timer accept_done(ex_, asio::steady_timer::time_point::max());
    bool accepting = true;
    auto accept_loop = [&]() -> async::Task<void> {  // outlives its coroutine: awaited below
      for (;;) {
        boost::system::error_code ec;
        UnixSocket s(ex_);
        co_await acceptor.async_accept(s, asio::redirect_error(use_awaitable, ec));
        if (ec) break;
        if (!mux.add(std::move(s))) spdlog::warn("tunnel for job {}: a connection refused (streams full)", job_id_);
      }
      accepting = false;
      accept_done.cancel();
    };
    asio::co_spawn(ex_, accept_loop(), asio::detached);
    co_await mux.run();
    mux_ = nullptr;
    boost::system::error_code ec;
    acceptor.close(ec);
    while (accepting) co_await accept_done.async_wait(asio::redirect_error(use_awaitable, ec));
    co_await async::on_pool(svc_.rt_, [&] { svc_.unlisten(job_id_, gen); });
    spdlog::info("tunnel for job {} disconnected", job_id_);
  }

  void going_away() override { end(1001, "the server is shutting down"); }
  // From any thread: the tunnel ends with `code` (its mux closes on its own executor).
  void end_soon(int code, std::string reason) {
    asio::post(ex_, [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
      self->end(code, std::move(reason));
    });
  }

 private:
  void end(int code, std::string reason) {
    if (mux_) {
      mux_->close(code, std::move(reason));
    } else if (!end_code_) {
      end_code_ = code;
      end_reason_ = std::move(reason);
    }
  }

  Service& svc_;
  std::string job_id_;
  asio::any_io_executor ex_;
  Mux* mux_ = nullptr;  // while run() runs it
  int end_code_ = 0;    // an end asked for before the mux existed
  std::string end_reason_;
};

Service::Service(db::Database& db, async::Runtime& rt, Settings settings)
    : db_(db), rt_(rt), settings_(std::move(settings)) {}

Service::~Service() = default;

Result<const Dir*> Service::dir() {
  if (!dir_) dir_ = TRY(Dir::open_or_create(settings_.data_dir / "tunnels", 0700));
  return &*dir_;
}

Result<Fd> Service::listen(const std::string& job_id, const std::shared_ptr<Handler>& h, std::uint64_t& generation) {
  expect_blocking_allowed("tunnel sockets");
  std::lock_guard lk(mu_);
  const Dir* d = TRY(dir());
  generation = ++generation_;
  const std::string tmp = job_id + "." + std::to_string(generation) + ".new";
  const std::string name = job_id + ".sock";
  TRY_STATUS(d->remove(tmp));
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return internal(errno_text("socket"));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // Bound beneath the directory's fd: nothing on the path is followed.
  std::string path = Dir::proc_path(d->fd()) + "/" + tmp;
  if (path.size() >= sizeof(addr.sun_path)) return internal("the tunnel socket's path is too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return internal(errno_text("bind"));
  if (::fchmodat(d->fd(), tmp.c_str(), 0600, 0) != 0 || ::listen(fd.get(), 128) != 0 ||
      ::renameat(d->fd(), tmp.c_str(), d->fd(), name.c_str()) != 0) {  // replaces a stale socket or a planted link
    auto why = errno_text("preparing the tunnel socket");
    (void)d->remove(tmp);
    return internal(why);
  }
  auto& e = tunnels_[job_id];
  if (e.handler) e.handler->end_soon(kReplaced, "another tunnel for this job connected");
  e = Entry{generation, h};
  return fd;
}

void Service::unlisten(const std::string& job_id, std::uint64_t generation) {
  expect_blocking_allowed("tunnel sockets");
  std::lock_guard lk(mu_);
  auto it = tunnels_.find(job_id);
  if (it == tunnels_.end() || it->second.generation != generation) return;  // replaced: the socket is the new one's
  tunnels_.erase(it);
  if (auto d = dir(); d) {
    if (auto st = (*d)->remove(job_id + ".sock"); !st) spdlog::warn("tunnel for job {}: {}", job_id, st.error().detail);
  }
}

std::optional<std::filesystem::path> Service::socket_for(const std::string& job_id) const {
  std::lock_guard lk(mu_);
  if (!tunnels_.count(job_id)) return std::nullopt;
  return settings_.data_dir / "tunnels" / (job_id + ".sock");
}

std::size_t Service::connected() const {
  std::lock_guard lk(mu_);
  return tunnels_.size();
}

void Service::add_routes(http::Api& api) {
  api.add({"GET", "/api/v1/exec/jobs/{id}/tunnel", http::Access::open(),
           {"The environment tunnel of a job on a SLURM node (WebSocket; Authorization: Bearer <the job's exec "
            "token>, nothing else)",
            "exec", nullptr, nullptr, 101},
           [this](Context& ctx) -> Result<Response> {
             const auto& job_id = ctx.param("id");
             auto auth = ctx.req.header("authorization");
             constexpr std::string_view kBearer = "Bearer ";
             if (!auth || auth->size() <= kBearer.size() || !auth->starts_with(kBearer))
               return fail(ErrorCode::kUnauthenticated, "unauthenticated", "send the job's exec token as the bearer");
             if (!settings_.verify) return not_found("job");  // no SLURM cluster: no exec tokens
             // The token first: nothing else is looked at for a caller who has not proved the job.
             auto job = TRY(settings_.verify(job_id, std::string(auth->substr(kBearer.size()))));
             if (job.id() != job_id) return fail(ErrorCode::kUnauthenticated, "unauthenticated", "not this job's token");
             auto manager = TRY(db_.read([&](db::Tx& tx) { return jobs::managed_by(tx, job_id); }));
             if (manager != "environment" || !plain_id(job_id))
               return fail(ErrorCode::kPermissionDenied, "not-an-environment", "this job is not an environment's");
             if (!ctx.req.websocket)
               return fail(ErrorCode::kInvalidArgument, "websocket-required", "this route is a WebSocket");
             Response r;
             r.status = 101;
             r.ws_handler = std::make_shared<Handler>(*this, job_id);
             return r;
           },
           http::TxMode::kNone});
}

}  // namespace atrium::tunnel
