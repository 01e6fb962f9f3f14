#include "core/async.hpp"

#include <chrono>
#include <cstdio>

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "core/io_thread.hpp"

namespace atrium::async {

// ------------------------------------------------------------------------------------ Runtime

Runtime::Runtime(int worker_threads) : pool_(static_cast<std::size_t>(std::max(1, worker_threads))) {}

Runtime::~Runtime() { stop(); }

void Runtime::start() {
  if (thread_.joinable()) return;
  guard_.emplace(io_.get_executor());
  thread_ = std::thread([this] {
    mark_io_thread();
    io_.run();
  });
}

void Runtime::stop() {
  guard_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
  pool_.join();
}

void Runtime::spawn(Task<void> t) {
  asio::co_spawn(io_, std::move(t), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::fprintf(stderr, "atrium: a background task failed: %s\n", x.what());
    }
  });
}

// ------------------------------------------------------------------------------------ Waiter

struct Waiter::State {
  std::atomic<bool> woken{false};
  std::mutex mu;
  std::optional<asio::steady_timer> timer;                   // GUARDED_BY(mu) for emplace
  std::optional<asio::posix::stream_descriptor> desc;        // on the timer's executor
  int desc_of = -1;
  bool desc_pending = false;

};

Waiter::Waiter() : s_(std::make_shared<State>()) {}

Waiter::~Waiter() {
  // A descriptor's pending wait holds the state: close it (on its executor) to let it go.
  std::lock_guard lk(s_->mu);
  if (s_->timer && s_->desc)
    asio::post(s_->timer->get_executor(), [s = s_] {
      boost::system::error_code ec;
      if (s->desc) s->desc->close(ec);
    });
}

void Waiter::wake() {
  s_->woken.store(true, std::memory_order_release);
  std::lock_guard lk(s_->mu);
  if (s_->timer) asio::post(s_->timer->get_executor(), [s = s_] { s->timer->cancel(); });
}

Notifier::Subscription Waiter::wake_on(const Notifier& n) {
  return n.subscribe([s = s_] {
    s->woken.store(true, std::memory_order_release);
    std::lock_guard lk(s->mu);
    if (s->timer) asio::post(s->timer->get_executor(), [s] { s->timer->cancel(); });
  });
}

Task<void> Waiter::wait(const Clock& clock, Millis deadline) {
  auto s = s_;
  {
    std::lock_guard lk(s->mu);
    if (!s->timer) s->timer.emplace(co_await asio::this_coro::executor);
  }
  if (s->woken.exchange(false, std::memory_order_acq_rel)) co_return;
  Notifier::Subscription jumps;
  if (auto* j = clock.jumps()) jumps = wake_on(*j);
  Millis now = clock.now_ms();
  if (deadline != kNever && now >= deadline) co_return;
  if (deadline == kNever || clock.jumps())
    s->timer->expires_at(asio::steady_timer::time_point::max());
  else
    s->timer->expires_after(std::chrono::milliseconds(deadline - now));
  // A wake between the check above and here posted a cancel that runs after this wait starts.
  if (s->woken.exchange(false, std::memory_order_acq_rel)) co_return;
  boost::system::error_code ec;
  co_await s->timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  s->woken.store(false, std::memory_order_release);
}

Task<void> Waiter::wait_readable(int fd, const Clock& clock, Millis deadline) {
  auto s = s_;
  auto ex = co_await asio::this_coro::executor;
  {
    std::lock_guard lk(s->mu);
    if (!s->timer) s->timer.emplace(ex);
  }
  if (s->desc_of != fd) {
    if (s->desc) {
      boost::system::error_code ec;
      s->desc->close(ec);
    }
    s->desc.emplace(ex, ::dup(fd));
    s->desc_of = fd;
    s->desc_pending = false;
  }
  if (!s->desc_pending) {
    s->desc_pending = true;
    s->desc->async_wait(asio::posix::stream_descriptor::wait_read, [s](const boost::system::error_code& ec) {
      s->desc_pending = false;
      if (ec != asio::error::operation_aborted) {
        s->woken.store(true, std::memory_order_release);
        s->timer->cancel();
      }
    });
  }
  co_await wait(clock, deadline);
}

// ------------------------------------------------------------------------------------ Periodic

struct Periodic::State {
  const Clock& clock;
  Millis period;
  std::function<Millis()> fn;
  Waiter waiter;
  std::atomic<bool> kicked{false}, stopping{false};
  std::mutex mu;
  std::condition_variable cv;
  bool running = false;  // GUARDED_BY(mu): the loop has not ended
  State(const Clock& c, Millis p, std::function<Millis()> f) : clock(c), period(p), fn(std::move(f)) {}
};

Periodic::Periodic(Runtime& rt, const Clock& clock, Millis period, std::function<Millis()> fn)
    : rt_(rt), s_(std::make_shared<State>(clock, period, std::move(fn))) {}

Periodic::~Periodic() { stop(); }

void Periodic::start() {
  {
    std::lock_guard lk(s_->mu);
    if (s_->running) return;
    s_->running = true;
  }
  s_->stopping = false;
  rt_.spawn(loop(s_));
}

void Periodic::kick() {
  s_->kicked.store(true, std::memory_order_release);
  s_->waiter.wake();
}

void Periodic::stop() {
  s_->stopping.store(true, std::memory_order_release);
  s_->waiter.wake();
  std::unique_lock lk(s_->mu);
  s_->cv.wait(lk, [&] { return !s_->running; });
}

Task<void> Periodic::loop(std::shared_ptr<State> s) {
  struct Ended {
    State& s;
    ~Ended() {
      std::lock_guard lk(s.mu);
      s.running = false;
      s.cv.notify_all();
    }
  } ended{*s};
  Millis next = s->clock.now_ms();  // a first run at once
  while (!s->stopping.load(std::memory_order_acquire)) {
    Millis now = s->clock.now_ms();
    if (s->kicked.exchange(false, std::memory_order_acq_rel) || now >= next) {
      Millis want = co_await on_pool(rt_, [&] { return s->fn(); });
      next = now + s->period;  // periods count from each run's start
      if (want > 0 && want < next) next = want;
      continue;
    }
    co_await s->waiter.wait(s->clock, next);
  }
}

}  // namespace atrium::async
