#include "data/blob_body.hpp"

#include <deque>
#include <memory>
#include <mutex>

#include "core/async.hpp"

namespace atrium::data {
namespace {

using http::Context;
using http::Response;

constexpr std::size_t kPiece = 256 * 1024;

// A blob's bytes as a response body. Decryption runs on the worker pool a few pieces ahead
// (bounded) while the I/O thread sends: beside the socket writes instead of between them. One
// read-ahead task at a time owns the reader; the client's pace still bounds it (a full queue
// ends the task until next() takes a piece).
class BlobBody final : public async::Stream {
 public:
  BlobBody(async::Runtime& rt, BlobStore::Reader r) : rt_(rt), s_(std::make_shared<Shared>(std::move(r))) {}
  ~BlobBody() override {
    std::lock_guard lk(s_->mu);
    s_->stop = true;  // a read-ahead task in flight ends after its piece; it holds the shared state
  }
  async::Task<bool> next(std::string& out) override {
    for (;;) {
      {
        std::unique_lock lk(s_->mu);
        if (!s_->queue.empty()) {
          if (out.empty()) out.swap(s_->queue.front());  // no copy of the piece
          else out += s_->queue.front();
          s_->queue.pop_front();
          bool restart = !s_->reading && !s_->finished;
          if (restart) s_->reading = true;
          lk.unlock();
          if (restart) read_ahead();
          co_return true;
        }
        if (s_->finished) co_return false;
        if (cancelled_) co_return true;
        if (!s_->reading) {
          s_->reading = true;
          lk.unlock();
          read_ahead();
        }
      }
      co_await s_->waiter.wait(clock_);
    }
  }
  bool failed() const override {
    std::lock_guard lk(s_->mu);
    return s_->failed;
  }
  void cancel() override {
    cancelled_ = true;
    s_->waiter.wake();
  }

 private:
  static constexpr std::size_t kDepth = 4;
  struct Shared {
    explicit Shared(BlobStore::Reader rd) : r(std::move(rd)) {}
    BlobStore::Reader r;  // used by the one read-ahead task (reading)
    async::Waiter waiter;
    std::mutex mu;
    std::deque<std::string> queue;                                         // GUARDED_BY(mu)
    bool reading = false, finished = false, failed = false, stop = false;  // GUARDED_BY(mu)
  };

  // Reads pieces on the pool until the queue is full, the blob ends or the body is dropped.
  void read_ahead() {
    async::asio::post(rt_.pool(), [s = s_] {
      for (;;) {
        std::string piece;
        auto more = s->r.next(piece, kPiece);
        std::unique_lock lk(s->mu);
        if (!more) s->failed = true;  // the server cuts the connection: the client sees a short body
        if (!piece.empty()) s->queue.push_back(std::move(piece));
        if (!more || !*more) s->finished = true;
        bool go_on = !s->finished && !s->stop && s->queue.size() < kDepth;
        if (!go_on) s->reading = false;
        lk.unlock();
        s->waiter.wake();
        if (!go_on) return;
      }
    });
  }

  async::Runtime& rt_;
  std::shared_ptr<Shared> s_;
  SystemClock clock_;
  bool cancelled_ = false;
};

}  // namespace

Result<Response> serve_blob(Context& ctx, BlobStore& blobs, async::Runtime& rt, const std::string& blob_id,
                            std::int64_t size, const std::string& etag, const std::string& path) {
  if (auto inm = ctx.req.header("if-none-match"); inm && *inm == etag)
    return Response::text(304, "", "").header("ETag", etag);
  std::optional<std::pair<std::int64_t, std::int64_t>> range;
  if (auto h = ctx.req.header("range")) {
    auto ir = ctx.req.header("if-range");
    if (!ir || *ir == etag) {
      auto r = http::parse_byte_range(*h, size);
      if (!r)
        return Response::problem(r.error(), ctx.req.request_id)
            .header("Content-Range", "bytes */" + std::to_string(size));
      range = *r;
    }
  }
  auto begin = range ? range->first : 0, end = range ? range->second : size;
  auto reader = TRY(blobs.reader(blob_id, begin, end - begin));
  // The first piece here: a damaged blob found now is a 500, not a cut connection.
  std::string first;
  TRY(reader.next(first, kPiece));
  Response r = Response::text(range ? 206 : 200, std::move(first), "application/octet-stream");
  r.stream = std::make_shared<BlobBody>(rt, std::move(reader));
  r.stream_length = end - begin;
  r.header("ETag", etag).header("Accept-Ranges", "bytes").header("X-Content-SHA256", blob_id);
  if (range)
    r.header("Content-Range",
             "bytes " + std::to_string(begin) + "-" + std::to_string(end - 1) + "/" + std::to_string(size));
  auto slash = path.rfind('/');
  std::string name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  r.header("Content-Disposition", "attachment; filename*=UTF-8''" + http::percent_encode(name));
  return r;
}

}  // namespace atrium::data
