#include "core/notifier.hpp"

namespace atrium {

Notifier::Subscription& Notifier::Subscription::operator=(Subscription&& o) noexcept {
  if (this != &o) {
    reset();
    n_ = std::exchange(o.n_, nullptr);
    id_ = o.id_;
  }
  return *this;
}

void Notifier::Subscription::reset() {
  if (!n_) return;
  std::lock_guard lk(n_->mu_);
  n_->listeners_.erase(id_);
  n_ = nullptr;
}

void Notifier::notify() {
  std::lock_guard lk(mu_);
  version_.fetch_add(1, std::memory_order_acq_rel);
  for (auto& [id, f] : listeners_) f();
}

Notifier::Subscription Notifier::subscribe(std::function<void()> listener) const {
  std::lock_guard lk(mu_);
  auto id = next_id_++;
  listeners_.emplace(id, std::move(listener));
  return Subscription(this, id);
}

}  // namespace atrium
