// A change signal many can listen to: a commit (Tx::on_end), an executor event, a clock jump.
// Listeners run on the notifying thread, under the notifier's lock: they must be quick and must
// not subscribe to or unsubscribe from the same notifier (waking an async::Waiter is the usual one).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <utility>

namespace atrium {

class Notifier {
 public:
  Notifier() = default;
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Ends the listening when destroyed; a listener never runs after its subscription is gone.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(Subscription&& o) noexcept : n_(std::exchange(o.n_, nullptr)), id_(o.id_) {}
    Subscription& operator=(Subscription&& o) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() { reset(); }
    void reset();

   private:
    friend class Notifier;
    Subscription(const Notifier* n, std::uint64_t id) : n_(n), id_(id) {}
    const Notifier* n_ = nullptr;
    std::uint64_t id_ = 0;
  };

  // Bumps version() and calls every listener.
  void notify();
  // How many times notify() ran: a reader that saw version v and finds it unchanged missed nothing.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }
  [[nodiscard]] Subscription subscribe(std::function<void()> listener) const;

 private:
  mutable std::mutex mu_;
  mutable std::map<std::uint64_t, std::function<void()>> listeners_;  // GUARDED_BY(mu_)
  mutable std::uint64_t next_id_ = 1;                                 // GUARDED_BY(mu_)
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace atrium
