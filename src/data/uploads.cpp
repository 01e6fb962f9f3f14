#include "data/uploads.hpp"
#include "data/secretstream.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/crypto.hpp"

namespace atrium::data {
namespace {

constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::size_t kFrameHead = 4 + kNonce;  // plaintext length (u32, little endian) + nonce
constexpr std::size_t kMaxFrame = 64 << 20;      // one chunk: what one request body may carry at most

std::string ad_for(const std::string& id, std::int64_t offset) { return id + "|" + std::to_string(offset); }
std::string key_ad(const std::string& id) { return "upload:" + id; }

std::unexpected<Error> sys_error(const std::string& what) { return internal(what + ": " + std::strerror(errno)); }

std::unexpected<Error> damaged(const std::string& id, const std::string& why) {
  return fail(Error(ErrorCode::kInternal, "corrupt-upload", "the staged data of upload " + id + " is damaged: " + why)
                  .with("upload", id));
}

}  // namespace

Status check_chunk(std::int64_t size, std::int64_t offset, std::int64_t at, std::int64_t len) {
  if (at < 0 || len < 0) return invalid("offsets and lengths must be >= 0");
  if (at != offset)
    return fail(Error(ErrorCode::kFailedPrecondition, "offset-mismatch",
                      "the upload has " + std::to_string(offset) + " bytes; send the chunk at that offset (not " +
                          std::to_string(at) + ")")
                    .with("offset", offset));
  if (len > size - offset)
    return fail(Error(ErrorCode::kInvalidArgument, "beyond-size",
                      "the chunk ends at " + std::to_string(at + len) + ", past the upload's declared size " +
                          std::to_string(size))
                    .with("offset", offset));
  if (static_cast<std::uint64_t>(len) > kMaxFrame) return invalid("a chunk may hold at most 64 MiB");
  return {};
}

Result<Staging> Staging::create(const MasterKey& key, std::filesystem::path file, std::string upload_id,
                                std::int64_t size) {
  if (size < 0) return invalid("the size must be >= 0");
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error("creating " + file.string());
  ::close(fd);
  std::string k = crypto::random_bytes(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
  State s{size, 0, 0, key.wrap(k, key_ad(upload_id))};
  return Staging(std::move(file), std::move(upload_id), std::move(k), std::move(s));
}

Result<Staging> Staging::open(const MasterKey& key, std::filesystem::path file, std::string upload_id, State state) {
  auto k = key.unwrap(state.wrapped_key, key_ad(upload_id));
  if (!k) return damaged(upload_id, "its key does not open with the master key");
  if (state.offset < 0 || state.offset > state.size || state.staged_bytes < 0)
    return damaged(upload_id, "impossible offsets");
  return Staging(std::move(file), std::move(upload_id), std::move(*k), std::move(state));
}

Status Staging::append(std::int64_t at, std::string_view data) {
  TRY_STATUS(check_chunk(state_.size, state_.offset, at, static_cast<std::int64_t>(data.size())));
  if (data.empty()) return {};
  int fd = ::open(file_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return sys_error("opening " + file_.string());
  // A frame written after the last recorded state (a crash before the caller stored it) goes.
  if (::ftruncate(fd, state_.staged_bytes) != 0) {
    ::close(fd);
    return sys_error("truncating " + file_.string());
  }
  std::string frame(kFrameHead + data.size() + kTag, '\0');
  auto* p = reinterpret_cast<unsigned char*>(frame.data());
  std::uint32_t n = static_cast<std::uint32_t>(data.size());
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(n >> (8 * i));
  randombytes_buf(p + 4, kNonce);
  std::string ad = ad_for(id_, state_.offset);
  if (secretstream::aead_encrypt(p + kFrameHead, reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                                 reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), p + 4,
                                 reinterpret_cast<const unsigned char*>(key_.data())) != 0) {
    ::close(fd);
    return fail(ErrorCode::kInternal, "crypto", "encryption failed");
  }
  ssize_t w = ::pwrite(fd, frame.data(), frame.size(), static_cast<off_t>(state_.staged_bytes));
  bool ok = w == static_cast<ssize_t>(frame.size()) && (!sync_ || ::fdatasync(fd) == 0);
  int err = errno;
  ::close(fd);
  if (!ok) {
    errno = err;
    return sys_error("writing " + file_.string());
  }
  state_.offset += static_cast<std::int64_t>(data.size());
  state_.staged_bytes += static_cast<std::int64_t>(frame.size());
  return {};
}

Result<BlobInfo> Staging::finish(BlobStore& store, std::optional<std::string> expected_sha256) {
  if (state_.offset != state_.size)
    return fail(Error(ErrorCode::kFailedPrecondition, "upload-incomplete",
                      "the upload has " + std::to_string(state_.offset) + " of " + std::to_string(state_.size) +
                          " bytes")
                    .with("offset", state_.offset));
  int fd = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error("opening " + file_.string());
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  auto w = TRY(store.writer());
  std::int64_t pos = 0, plain = 0;
  std::string frame, out;
  while (pos < state_.staged_bytes) {
    unsigned char head[kFrameHead];
    if (::pread(fd, head, kFrameHead, pos) != static_cast<ssize_t>(kFrameHead)) return damaged(id_, "a frame is cut short");
    std::uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n |= static_cast<std::uint32_t>(head[i]) << (8 * i);
    if (n == 0 || n > kMaxFrame || pos + static_cast<std::int64_t>(kFrameHead + n + kTag) > state_.staged_bytes)
      return damaged(id_, "a frame has an impossible length");
    frame.resize(n + kTag);
    if (::pread(fd, frame.data(), frame.size(), pos + static_cast<off_t>(kFrameHead)) !=
        static_cast<ssize_t>(frame.size()))
      return damaged(id_, "a frame is cut short");
    out.resize(n);
    std::string ad = ad_for(id_, plain);
    if (secretstream::aead_decrypt(reinterpret_cast<unsigned char*>(out.data()),
                                   reinterpret_cast<const unsigned char*>(frame.data()), frame.size(),
                                   reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), head + 4,
                                   reinterpret_cast<const unsigned char*>(key_.data())) != 0)
      return damaged(id_, "a frame fails authentication");
    TRY_STATUS(w.write(out));
    plain += n;
    pos += static_cast<std::int64_t>(kFrameHead + n + kTag);
  }
  if (plain != state_.size) return damaged(id_, "the frames do not add up to the upload's size");
  return w.finish(std::move(expected_sha256));
}

Status Staging::discard() {
  if (::unlink(file_.c_str()) != 0 && errno != ENOENT) return sys_error("removing " + file_.string());
  return {};
}

}  // namespace atrium::data
