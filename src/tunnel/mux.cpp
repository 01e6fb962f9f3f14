// The multiplexer (mux.hpp). Everything runs on one executor, so the state needs no lock; a
// coroutine waits on a Signal (a timer that notify() cancels) and re-checks its condition.
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include "tunnel/mux.hpp"

#include <algorithm>
#include <deque>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "http/ws_channel.hpp"

namespace atrium::tunnel {

namespace asio = boost::asio;
using asio::use_awaitable;
using error_code = boost::system::error_code;

std::string encode(Type type, std::uint32_t stream, std::string_view payload) {
  std::string m(5 + payload.size(), '\0');
  m[0] = static_cast<char>(type);
  for (int i = 0; i < 4; ++i) m[1 + i] = static_cast<char>((stream >> (24 - 8 * i)) & 0xff);
  std::copy(payload.begin(), payload.end(), m.begin() + 5);
  return m;
}

namespace {

std::uint32_t be32(std::string_view p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// One waiter at a time (expires_at() would cancel another's wait).
struct Signal {
  asio::steady_timer t;
  explicit Signal(const asio::any_io_executor& ex) : t(ex) {}
  void notify() { t.cancel(); }
  async::Task<void> wait() {
    t.expires_at(asio::steady_timer::time_point::max());
    error_code ec;
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
  }
};

struct Stream {
  std::uint32_t id;
  UnixSocket sock;
  std::int64_t credit;  // bytes we may still send to the peer
  std::deque<std::string> inbox;  // from the peer, not yet written to the socket
  std::size_t inbox_bytes = 0;
  bool peer_fin = false;   // the peer's direction is done
  bool sent_fin = false;   // ours is (EOF on the socket, FIN sent)
  bool wrote_fin = false;  // the socket's write side is shut down after the peer's FIN
  bool dead = false;
  Signal credit_sig, inbox_sig;
  Stream(std::uint32_t i, const asio::any_io_executor& ex, std::int64_t window)
      : id(i), sock(ex), credit(window), credit_sig(ex), inbox_sig(ex) {}
};
using StreamPtr = std::shared_ptr<Stream>;

}  // namespace

std::string encode_window(std::uint32_t stream, std::uint32_t credit) {
  char p[4];
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((credit >> (24 - 8 * i)) & 0xff);
  return encode(Type::kWindow, stream, std::string_view(p, 4));
}

std::optional<Frame> decode(std::string_view m) {
  if (m.size() < 5) return std::nullopt;
  auto t = static_cast<std::uint8_t>(m[0]);
  if (t < 1 || t > 4) return std::nullopt;
  return Frame{static_cast<Type>(t), be32(m.substr(1, 4)), m.substr(5)};
}

struct Mux::State : std::enable_shared_from_this<Mux::State> {
  http::WsChannel& ws;
  asio::any_io_executor ex;
  MuxOptions o;
  Connect connect;
  std::map<std::uint32_t, StreamPtr> streams;
  std::deque<std::string> out;  // to the peer, in order
  Signal out_sig;
  bool ending = false;  // the WebSocket is gone (or going): no new streams, pumps stop
  bool close_requested = false;
  int close_code = 1000;
  std::string close_reason;
  std::uint32_t next_id = 1;
  int children = 0;
  Signal children_sig;

  State(http::WsChannel& w, asio::any_io_executor e, MuxOptions opts, Connect c)
      : ws(w), ex(e), o(opts), connect(std::move(c)), out_sig(e), children_sig(e) {}

  void send(std::string m) {
    out.push_back(std::move(m));
    out_sig.notify();
  }
  void spawn(async::Task<void> t) {
    ++children;
    asio::co_spawn(ex, std::move(t), [self = shared_from_this()](std::exception_ptr) {
      --self->children;
      self->children_sig.notify();
    });
  }
  void drop(const StreamPtr& st) {
    st->dead = true;
    error_code ec;
    st->sock.close(ec);
    st->credit_sig.notify();
    st->inbox_sig.notify();
    auto it = streams.find(st->id);
    if (it != streams.end() && it->second == st) streams.erase(it);
  }
  void reset(const StreamPtr& st, bool tell_peer) {
    if (st->dead) return;
    drop(st);
    if (tell_peer && !ending) send(encode(Type::kClose, st->id, std::string_view("\x01", 1)));
  }
  void maybe_done(const StreamPtr& st) {
    if (!st->dead && st->sent_fin && st->wrote_fin) drop(st);
  }
  void start(const StreamPtr& st) {
    spawn(pump_out(shared_from_this(), st));
    spawn(pump_in(shared_from_this(), st));
  }

  // The socket's bytes to the peer, within the credit.
  static async::Task<void> pump_out(std::shared_ptr<State> self, StreamPtr st) {
    for (;;) {
      while (!st->dead && !self->ending && st->credit <= 0) co_await st->credit_sig.wait();
      if (st->dead || self->ending) co_return;
      std::string data(static_cast<std::size_t>(std::min<std::int64_t>(st->credit, self->o.chunk)), '\0');
      error_code ec;
      std::size_t n = co_await st->sock.async_read_some(asio::buffer(data), asio::redirect_error(use_awaitable, ec));
      if (st->dead || self->ending) co_return;
      if (ec == asio::error::eof) {
        st->sent_fin = true;
        self->send(encode(Type::kClose, st->id, std::string_view("\0", 1)));
        self->maybe_done(st);
        co_return;
      }
      if (ec) {
        self->reset(st, true);
        co_return;
      }
      st->credit -= static_cast<std::int64_t>(n);
      self->send(encode(Type::kData, st->id, std::string_view(data.data(), n)));
    }
  }

  // The peer's bytes to the socket; each piece written returns its credit.
  static async::Task<void> pump_in(std::shared_ptr<State> self, StreamPtr st) {
    for (;;) {
      while (!st->dead && !self->ending && st->inbox.empty() && !st->peer_fin) co_await st->inbox_sig.wait();
      if (st->dead || self->ending) co_return;
      if (st->inbox.empty()) {  // the peer's FIN, after everything it sent before it
        error_code ec;
        st->sock.shutdown(UnixSocket::shutdown_send, ec);
        st->wrote_fin = true;
        self->maybe_done(st);
        co_return;
      }
      std::string piece = std::move(st->inbox.front());
      st->inbox.pop_front();
      error_code ec;
      co_await asio::async_write(st->sock, asio::buffer(piece), asio::redirect_error(use_awaitable, ec));
      if (st->dead || self->ending) co_return;
      if (ec) {
        self->reset(st, true);
        co_return;
      }
      st->inbox_bytes -= piece.size();
      self->send(encode_window(st->id, static_cast<std::uint32_t>(piece.size())));
    }
  }

  static async::Task<void> connect_then_pump(std::shared_ptr<State> self, StreamPtr st) {
    auto gone = [self, st] { return st->dead || self->ending; };
    std::optional<UnixSocket> sock;
    try {
      sock = co_await self->connect(gone);
    } catch (const std::exception&) {
      sock.reset();
    }
    if (gone()) co_return;
    if (!sock) {
      self->reset(st, true);
      co_return;
    }
    st->sock = std::move(*sock);
    self->start(st);
  }

  // The messages in order; a failed write cuts the WebSocket (so that run()'s read ends too).
  static async::Task<void> writer(std::shared_ptr<State> self) {
    for (;;) {
      while (self->out.empty() && !self->close_requested && !self->ending) co_await self->out_sig.wait();
      if (self->ending) co_return;
      if (self->close_requested) {
        co_await self->ws.close(self->close_code, self->close_reason);
        co_return;
      }
      std::string m = std::move(self->out.front());
      self->out.pop_front();
      auto st = co_await self->ws.write(m);
      if (!st) {
        self->ws.abort();
        co_return;
      }
    }
  }

  void on_frame(const Frame& f) {
    if (f.type == Type::kOpen) {
      if (!connect || streams.count(f.stream)) return;  // only the node accepts OPEN; never twice
      if (streams.size() >= o.max_streams || f.stream == 0) {
        send(encode(Type::kClose, f.stream, std::string_view("\x01", 1)));
        return;
      }
      auto st = std::make_shared<Stream>(f.stream, ex, o.window);
      streams.emplace(f.stream, st);
      spawn(connect_then_pump(shared_from_this(), st));
      return;
    }
    auto it = streams.find(f.stream);
    if (it == streams.end()) return;  // a stream already reset here: its last messages cross ours
    StreamPtr st = it->second;
    switch (f.type) {
      case Type::kData:
        if (f.payload.empty() || st->peer_fin || st->inbox_bytes + f.payload.size() > o.window) {
          reset(st, true);  // beyond the window (or after FIN): the peer broke the protocol
          return;
        }
        st->inbox_bytes += f.payload.size();
        st->inbox.emplace_back(f.payload);
        st->inbox_sig.notify();
        return;
      case Type::kClose:
        if (f.payload.size() == 1 && f.payload[0] == static_cast<char>(kFin)) {
          st->peer_fin = true;
          st->inbox_sig.notify();
        } else {
          reset(st, false);
        }
        return;
      case Type::kWindow:
        if (f.payload.size() != 4) {
          reset(st, true);
          return;
        }
        st->credit = std::min<std::int64_t>(st->credit + be32(f.payload), o.window);
        st->credit_sig.notify();
        return;
      case Type::kOpen:
        return;
    }
  }
};

Mux::Mux(http::WsChannel& ws, asio::any_io_executor ex, MuxOptions options, Connect connect)
    : s_(std::make_shared<State>(ws, std::move(ex), options, std::move(connect))) {}

Mux::~Mux() = default;

async::Task<void> Mux::run() {
  auto s = s_;
  s->spawn(State::writer(s));
  while (!s->ending) {
    auto m = co_await s->ws.read();
    if (!m) break;
    auto f = decode(*m);
    if (!f) {  // not this protocol: end the tunnel
      s->close_code = 1002;
      s->close_reason = "protocol error";
      s->close_requested = true;
      s->out_sig.notify();
      continue;  // the writer sends the close; the read then ends
    }
    s->on_frame(*f);
  }
  s->ending = true;
  s->out_sig.notify();
  auto left = s->streams;
  for (auto& [id, st] : left) s->drop(st);
  while (s->children > 0) co_await s->children_sig.wait();
}

bool Mux::add(UnixSocket sock) {
  auto& s = *s_;
  if (s.ending || s.close_requested || s.connect || s.streams.size() >= s.o.max_streams) return false;
  std::uint32_t id = s.next_id;
  while (id == 0 || s.streams.count(id)) ++id;
  s.next_id = id + 1;
  auto st = std::make_shared<Stream>(id, s.ex, s.o.window);
  st->sock = std::move(sock);
  s.streams.emplace(id, st);
  s.send(encode(Type::kOpen, id));
  s.start(st);
  return true;
}

void Mux::close(int code, std::string reason) {
  if (s_->close_requested || s_->ending) return;
  s_->close_code = code;
  s_->close_reason = std::move(reason);
  s_->close_requested = true;
  s_->out_sig.notify();
}

std::size_t Mux::stream_count() const { return s_->streams.size(); }

}  // namespace atrium::tunnel
