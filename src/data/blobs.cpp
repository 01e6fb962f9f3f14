#include "data/blobs.hpp"
#include "data/secretstream.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "core/crypto.hpp"
#include "core/files.hpp"

namespace atrium::data {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "ATRBLOB1";
constexpr std::size_t kWrappedSize =
    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_secretstream_xchacha20poly1305_KEYBYTES +
    crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::size_t kStreamHeader = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
constexpr std::size_t kHeaderSize = kMagic.size() + kWrappedSize + kStreamHeader;
constexpr std::size_t kCipherChunk = BlobStore::kChunk + crypto_secretstream_xchacha20poly1305_ABYTES;
constexpr std::string_view kKeyCheckMeta = "key-check";
// libsodium's secretstream nonce: a 32-bit little-endian counter, then an 8-byte inner nonce
// (constants private to libsodium's source).
constexpr std::size_t kCounterBytes = 4, kInonceBytes = 8;

std::unexpected<Error> sys_error(const std::string& what) {
  return internal(what + ": " + std::strerror(errno));
}

std::unexpected<Error> corrupt(const std::string& id, const std::string& why) {
  return fail(Error(ErrorCode::kInternal, "corrupt-blob", "blob " + id + " is damaged: " + why).with("blob", id));
}

// ---- the local filesystem backend ----------------------------------------------------------------

class FileReader final : public ObjectReader {
 public:
  FileReader(int fd, std::int64_t size, std::string name) : fd_(fd), size_(size), name_(std::move(name)) {}
  ~FileReader() override { ::close(fd_); }
  std::int64_t size() const override { return size_; }
  Result<std::size_t> read_at(std::int64_t offset, char* buf, std::size_t n) override {
    std::size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, buf + done, n - done, static_cast<off_t>(offset) + static_cast<off_t>(done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return sys_error("reading blob " + name_);
      if (r == 0) break;
      done += static_cast<std::size_t>(r);
    }
    return done;
  }

 private:
  int fd_;
  std::int64_t size_;
  std::string name_;
};

class LocalBackend final : public Backend {
 public:
  explicit LocalBackend(fs::path root) : root_(std::move(root)) {}

  Result<fs::path> temp_path() override {
    TRY_STATUS(ensure_dir(root_ / "tmp"));
    return root_ / "tmp" / (crypto::hex(crypto::random_bytes(12)) + ".part");
  }

  Status publish(const fs::path& temp, const std::string& name) override {
    fs::path dir = root_ / "objects" / name.substr(0, 2);
    TRY_STATUS(ensure_dir(root_ / "objects"));
    TRY_STATUS(ensure_dir(dir));
    fs::path final_path = dir / name;
    // Never replace a published object: the first copy of a content wins.
    if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE) != 0) {
      if (errno != EEXIST) return sys_error("publishing blob " + name);
      ::unlink(temp.c_str());
      return {};
    }
    return fsync_dir(dir);
  }

  Result<bool> exists(const std::string& name) override {
    std::error_code ec;
    bool e = fs::exists(object(name), ec);
    if (ec) return internal("checking blob " + name + ": " + ec.message());
    return e;
  }

  Result<std::int64_t> size(const std::string& name) override {
    std::error_code ec;
    auto n = fs::file_size(object(name), ec);
    if (ec) return ec == std::errc::no_such_file_or_directory ? not_found("blob " + name)
                                                             : internal("blob " + name + ": " + ec.message());
    return static_cast<std::int64_t>(n);
  }

  Result<std::unique_ptr<ObjectReader>> open(const std::string& name) override {
    int fd = ::open(object(name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? fail(not_found("blob " + name).error()) : sys_error("opening blob " + name);
    struct stat st{};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return sys_error("opening blob " + name);
    }
    return std::unique_ptr<ObjectReader>(new FileReader(fd, st.st_size, name));
  }

  Status remove(const std::string& name) override {
    if (::unlink(object(name).c_str()) != 0 && errno != ENOENT) return sys_error("removing blob " + name);
    return {};
  }

  Result<std::vector<std::string>> list() override {
    std::vector<std::string> out;
    std::error_code ec;
    fs::path objects = root_ / "objects";
    if (!fs::exists(objects, ec)) return out;
    for (auto& d : fs::directory_iterator(objects, ec))
      for (auto& f : fs::directory_iterator(d.path(), ec))
        if (valid_blob_id(f.path().filename().string())) out.push_back(f.path().filename().string());
    if (ec) return internal("listing blobs: " + ec.message());
    return out;
  }

  Result<Millis> stored_ms(const std::string& name) override {
    struct stat st{};
    if (::stat(object(name).c_str(), &st) != 0) return sys_error("blob " + name);
    return static_cast<Millis>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
  }

  Result<std::optional<std::string>> get_meta(const std::string& name) override {
    std::string out;
    int fd = ::open((root_ / name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return std::optional<std::string>();
      return sys_error("reading " + name);
    }
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    if (n < 0) return sys_error("reading " + name);
    return std::optional<std::string>(std::move(out));
  }

  Status put_meta(const std::string& name, const std::string& value) override {
    TRY_STATUS(ensure_dir(root_));
    return write_file_atomic((root_ / name).string(), value, 0600);
  }

 private:
  fs::path object(const std::string& name) const { return root_ / "objects" / name.substr(0, 2) / name; }

  static Status ensure_dir(const fs::path& dir) {
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return {};
    fs::create_directories(dir, ec);
    if (ec) return internal("creating " + dir.string() + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
    return fsync_dir(dir.parent_path());
  }

  fs::path root_;
};

}  // namespace

bool valid_blob_id(std::string_view id) {
  if (id.size() != 64) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::unique_ptr<Backend> local_backend(fs::path root) { return std::make_unique<LocalBackend>(std::move(root)); }

// ---- the master key -------------------------------------------------------------------------------

Result<MasterKey> MasterKey::load(const fs::path& file) {
  crypto::init();
  struct stat st{};
  if (::stat(file.c_str(), &st) != 0)
    return fail(ErrorCode::kFailedPrecondition, "master-key",
                "cannot read the data master key file " + file.string() + ": " + std::strerror(errno));
  if (st.st_mode & 077)
    return fail(ErrorCode::kFailedPrecondition, "master-key",
                "the data master key file " + file.string() + " must be readable by its owner only (chmod 600)");
  std::string text;
  {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sys_error("reading " + file.string());
    char buf[256];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < 1024) text.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
  }
  if (text.size() == kSize) return MasterKey(std::move(text));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.size() == 2 * kSize) {
    std::string raw(kSize, '\0');
    std::size_t len = 0;
    if (sodium_hex2bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), text.data(), text.size(), nullptr,
                       &len, nullptr) == 0 &&
        len == kSize)
      return MasterKey(std::move(raw));
  }
  return fail(ErrorCode::kFailedPrecondition, "master-key",
              "the data master key file " + file.string() + " must hold 32 bytes or 64 hex digits");
}

Result<MasterKey> MasterKey::create(const fs::path& file) {
  crypto::init();
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error("creating " + file.string());
  std::string key = crypto::random_bytes(kSize);
  Status st = write_all(fd, crypto::hex(key) + "\n");
  if (st && ::fsync(fd) != 0) st = sys_error("syncing " + file.string());
  ::close(fd);
  if (!st) return std::unexpected(st.error());
  TRY_STATUS(fsync_dir(file.parent_path()));
  return MasterKey(std::move(key));
}

std::string MasterKey::wrap(std::string_view blob_key, std::string_view blob_id) const {
  return crypto::aead_seal(key_, blob_key, blob_id);
}

Result<std::string> MasterKey::unwrap(std::string_view wrapped, std::string_view blob_id) const {
  if (wrapped.size() != kWrappedSize) return internal("wrapped key has the wrong size");
  auto key = crypto::aead_open(key_, wrapped, blob_id);
  if (!key || key->size() != crypto_secretstream_xchacha20poly1305_KEYBYTES)
    return internal("the blob key does not open with the master key");
  return std::move(*key);
}

std::string MasterKey::derive(std::string_view purpose) const {
  return crypto::hmac_sha256(key_, "atrium derived key v1: " + std::string(purpose));
}

std::string MasterKey::check_value() const {
  return crypto::hex(crypto::hmac_sha256(key_, "atrium data store key check v1"));
}

// ---- the store ------------------------------------------------------------------------------------

Result<std::unique_ptr<BlobStore>> BlobStore::open(MasterKey key, std::unique_ptr<Backend> backend) {
  auto stored = TRY(backend->get_meta(std::string(kKeyCheckMeta)));
  std::string check = key.check_value();
  if (!stored) {
    TRY_STATUS(backend->put_meta(std::string(kKeyCheckMeta), check));
  } else if (!crypto::constant_time_equal(*stored, check)) {
    return fail(ErrorCode::kFailedPrecondition, "master-key",
                "the data master key does not match this store (a different key file?)");
  }
  return std::unique_ptr<BlobStore>(new BlobStore(std::move(key), std::move(backend)));
}

struct BlobStore::Writer::State {
  BlobStore* store = nullptr;
  fs::path temp;
  int fd = -1;
  std::string blob_key;
  crypto_secretstream_xchacha20poly1305_state ss{};
  crypto::Sha256 hash;
  std::string pending;  // plaintext not yet encrypted (< one chunk)
  std::string cipher;   // scratch
  std::int64_t bytes = 0;
  bool failed = false;

  ~State() {
    if (fd >= 0) ::close(fd);
    if (!temp.empty()) ::unlink(temp.c_str());
    sodium_memzero(blob_key.data(), blob_key.size());
  }

  Status encrypt(std::string_view plain, unsigned char tag) {
    cipher.resize(plain.size() + crypto_secretstream_xchacha20poly1305_ABYTES);
    if (secretstream::push(&ss, reinterpret_cast<unsigned char*>(cipher.data()),
                           reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), tag) != 0)
      return fail(ErrorCode::kInternal, "crypto", "encryption failed");
    return write_all(fd, cipher);
  }
};

BlobStore::Writer::Writer(std::unique_ptr<State> s) : s_(std::move(s)) {}
BlobStore::Writer::Writer(Writer&&) noexcept = default;
BlobStore::Writer::~Writer() = default;
std::int64_t BlobStore::Writer::bytes() const { return s_ ? s_->bytes : 0; }

Result<BlobStore::Writer> BlobStore::writer() {
  auto s = std::make_unique<Writer::State>();
  s->store = this;
  s->temp = TRY(backend_->temp_path());
  s->fd = ::open(s->temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (s->fd < 0) {
    s->temp.clear();
    return sys_error("creating a blob");
  }
  s->blob_key = crypto::random_bytes(crypto_secretstream_xchacha20poly1305_KEYBYTES);
  unsigned char header[kStreamHeader];
  crypto_secretstream_xchacha20poly1305_init_push(&s->ss, header,
                                                  reinterpret_cast<const unsigned char*>(s->blob_key.data()));
  // The wrapped key needs the blob id (the plaintext's hash): its place is filled in by finish().
  std::string head(kMagic);
  head.append(kWrappedSize, '\0');
  head.append(reinterpret_cast<const char*>(header), kStreamHeader);
  TRY_STATUS(write_all(s->fd, head));
  s->pending.reserve(kChunk);
  return Writer(std::move(s));
}

Status BlobStore::Writer::write(std::string_view data) {
  if (!s_ || s_->failed) return fail(ErrorCode::kFailedPrecondition, "writer-closed", "this blob writer has ended");
  s_->hash.update(data);
  s_->bytes += static_cast<std::int64_t>(data.size());
  while (!data.empty()) {
    std::size_t take = std::min(data.size(), kChunk - s_->pending.size());
    if (s_->pending.empty() && take == kChunk) {  // a whole chunk straight from the caller
      if (auto st = s_->encrypt(data.substr(0, kChunk), 0); !st) return s_->failed = true, st;
    } else {
      s_->pending.append(data.substr(0, take));
      if (s_->pending.size() == kChunk) {
        if (auto st = s_->encrypt(s_->pending, 0); !st) return s_->failed = true, st;
        s_->pending.clear();
      }
    }
    data.remove_prefix(take);
  }
  return {};
}

Result<BlobInfo> BlobStore::Writer::finish(std::optional<std::string> expected_sha256) {
  if (!s_ || s_->failed) return fail(ErrorCode::kFailedPrecondition, "writer-closed", "this blob writer has ended");
  auto state = std::move(s_);  // whatever happens, this writer is done (the temp file goes with it)
  BlobInfo info;
  info.id = state->hash.hex_digest();
  info.size = state->bytes;
  if (expected_sha256 && *expected_sha256 != info.id)
    return fail(Error(ErrorCode::kInvalidArgument, "hash-mismatch",
                      "the data's SHA-256 is " + info.id + ", not the expected " + *expected_sha256)
                    .with("sha256", info.id));
  BlobStore& store = *state->store;
  if (TRY(store.backend_->exists(info.id))) {
    info.existed = true;  // deduplicated; the temp file is removed with the state
    return info;
  }
  TRY_STATUS(state->encrypt(state->pending, crypto_secretstream_xchacha20poly1305_TAG_FINAL));
  std::string wrapped = store.key_.wrap(state->blob_key, info.id);
  if (::pwrite(state->fd, wrapped.data(), wrapped.size(), static_cast<off_t>(kMagic.size())) !=
      static_cast<ssize_t>(wrapped.size()))
    return sys_error("writing a blob");
  if (::fsync(state->fd) != 0) return sys_error("syncing a blob");
  ::close(state->fd);
  state->fd = -1;
  TRY_STATUS(store.backend_->publish(state->temp, info.id));
  state->temp.clear();  // published: not ours to remove any more
  return info;
}

Result<BlobInfo> BlobStore::put(std::string_view data) {
  auto w = TRY(writer());
  TRY_STATUS(w.write(data));
  return w.finish();
}

Result<bool> BlobStore::contains(const std::string& id) {
  if (!valid_blob_id(id)) return false;
  return backend_->exists(id);
}

// The secretstream state before chunk k is the initial one with the counter advanced by k and the
// inner nonce XORed with the first 8 bytes of each earlier chunk's MAC (libsodium's documented
// construction; no REKEY tags are written and the 32-bit counter cannot wrap below 2^32 chunks).
// Forged MACs only produce a state under which chunk k fails to authenticate.
struct BlobStore::Reader::State {
  std::string id;
  std::unique_ptr<ObjectReader> obj;
  crypto_secretstream_xchacha20poly1305_state ss{};
  std::int64_t full_chunks = 0;  // chunks before the final one
  std::int64_t size = 0;         // plaintext size
  std::int64_t chunk = 0;        // index of the next chunk to open
  std::int64_t begin = 0, end = 0;
  bool whole = false, done = false;
  std::unique_ptr<crypto::Sha256> hash;  // set: a whole-blob read that checks the id at the end
  std::string cipher, plain;

  std::int64_t cipher_pos(std::int64_t k) const {
    return static_cast<std::int64_t>(kHeaderSize) + k * static_cast<std::int64_t>(kCipherChunk);
  }

  Status seek(std::int64_t k) {
    constexpr std::size_t kMac = crypto_onetimeauth_poly1305_BYTES;
    static_assert(sizeof(ss.nonce) == kCounterBytes + kInonceBytes);
    unsigned char* counter = ss.nonce;
    unsigned char* inonce = ss.nonce + kCounterBytes;
    // Only the first kInonceBytes of each earlier chunk's MAC (its last 16 bytes) are needed: one
    // small read per chunk, not the chunks themselves (a range at 1 GiB read 1 GiB to start).
    char mac[kInonceBytes];
    for (std::int64_t i = 0; i < k; ++i) {
      auto got = TRY(obj->read_at(cipher_pos(i + 1) - static_cast<std::int64_t>(kMac), mac, sizeof mac));
      if (got != sizeof mac) return corrupt(id, "truncated");
      for (std::size_t b = 0; b < kInonceBytes; ++b) inonce[b] ^= static_cast<unsigned char>(mac[b]);
      sodium_increment(counter, kCounterBytes);
    }
    chunk = k;
    return {};
  }

  Result<bool> next(std::string& out, std::size_t max) {
    if (done) return false;
    std::size_t start = out.size();
    // Room for the whole piece at once: growing chunk by chunk would copy it again each time.
    out.reserve(start + static_cast<std::size_t>(std::min<std::int64_t>(
                            static_cast<std::int64_t>(max) + static_cast<std::int64_t>(kChunk), end - begin)));
    while (!done && out.size() - start < max) {
      // The chunks that hold what is still wanted, up to 16 per read.
      auto want = static_cast<std::int64_t>((max - (out.size() - start) + kChunk - 1) / kChunk);
      std::int64_t last = std::min(full_chunks, chunk + std::clamp<std::int64_t>(want, 1, 16) - 1);
      std::int64_t from = cipher_pos(chunk), to = last == full_chunks ? obj->size() : cipher_pos(last + 1);
      cipher.resize(static_cast<std::size_t>(to - from));
      auto got = TRY(obj->read_at(from, cipher.data(), cipher.size()));
      if (got != cipher.size()) return corrupt(id, "truncated");
      std::size_t used = 0;
      while (used < cipher.size() && !done) {
        std::size_t clen = std::min(kCipherChunk, cipher.size() - used);
        if (clen < crypto_secretstream_xchacha20poly1305_ABYTES) return corrupt(id, "truncated");
        std::size_t plen = clen - crypto_secretstream_xchacha20poly1305_ABYTES;
        unsigned char tag = 0;
        std::int64_t pos = chunk * static_cast<std::int64_t>(kChunk);
        const auto* c = reinterpret_cast<const unsigned char*>(cipher.data() + used);
        std::string_view p;
        if (pos >= begin && pos + static_cast<std::int64_t>(plen) <= end) {
          // All of the chunk is wanted: decrypted straight into `out`, no copy.
          std::size_t at = out.size();
          int rc = -1;
          // The new size is returned as at + plen, not the callback's `n`: libstdc++ 12 passes the
          // grown capacity there.
          out.resize_and_overwrite(at + plen, [&](char* buf, std::size_t) {
            rc = secretstream::pull(&ss, reinterpret_cast<unsigned char*>(buf + at), &tag, c, clen);
            return rc == 0 ? at + plen : at;
          });
          if (rc != 0) return corrupt(id, "a chunk fails authentication");
          p = std::string_view(out).substr(at);
        } else {
          if (secretstream::pull(&ss, reinterpret_cast<unsigned char*>(plain.data()), &tag, c, clen) != 0)
            return corrupt(id, "a chunk fails authentication");
          p = std::string_view(plain.data(), plen);
          std::int64_t a = std::max(begin, pos), b = std::min(end, pos + static_cast<std::int64_t>(plen));
          if (a < b) out.append(p.substr(static_cast<std::size_t>(a - pos), static_cast<std::size_t>(b - a)));
        }
        bool final_chunk = chunk == full_chunks;
        if ((tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) != final_chunk)
          return corrupt(id, final_chunk ? "truncated (no final chunk)" : "data after the final chunk");
        if (hash) hash->update(p);
        used += clen;
        ++chunk;
        if (final_chunk || (!whole && pos + static_cast<std::int64_t>(p.size()) >= end)) done = true;
      }
    }
    if (done && hash && hash->hex_digest() != id) return corrupt(id, "its content does not match its id");
    return out.size() > start || !done;
  }
};

BlobStore::Reader::Reader(std::unique_ptr<State> s) : s_(std::move(s)) {}
BlobStore::Reader::Reader(Reader&&) noexcept = default;
BlobStore::Reader::~Reader() = default;
std::int64_t BlobStore::Reader::blob_size() const { return s_->size; }

Result<bool> BlobStore::Reader::next(std::string& out, std::size_t max) {
  if (!s_) return false;
  auto r = s_->next(out, max);
  if (!r) s_->done = true;
  return r;
}

Result<BlobStore::Reader> BlobStore::reader(const std::string& id, std::int64_t offset, std::int64_t length,
                                           bool check_hash) {
  if (!valid_blob_id(id)) return not_found("blob " + id);
  if (offset < 0) return invalid("offset must be >= 0");
  auto s = std::make_unique<Reader::State>();
  s->id = id;
  s->obj = TRY(backend_->open(id));
  // Sizes: m full chunks, then a final chunk of r < kChunk plaintext bytes (possibly 0).
  std::int64_t body = s->obj->size() - static_cast<std::int64_t>(kHeaderSize);
  std::int64_t min_final = crypto_secretstream_xchacha20poly1305_ABYTES;
  if (body < min_final) return corrupt(id, "truncated header");
  s->full_chunks = body / static_cast<std::int64_t>(kCipherChunk);
  std::int64_t rest = body - s->full_chunks * static_cast<std::int64_t>(kCipherChunk);
  if (rest < min_final) return corrupt(id, "truncated (no final chunk)");
  s->size = s->full_chunks * static_cast<std::int64_t>(kChunk) + rest - min_final;
  std::string head(kHeaderSize, '\0');
  if (TRY(s->obj->read_at(0, head.data(), head.size())) != head.size()) return corrupt(id, "truncated header");
  if (std::string_view(head).substr(0, kMagic.size()) != kMagic) return corrupt(id, "not a blob file");
  auto key = key_.unwrap(std::string_view(head).substr(kMagic.size(), kWrappedSize), id);
  if (!key) return corrupt(id, "its key does not open with the master key");
  if (crypto_secretstream_xchacha20poly1305_init_pull(
          &s->ss, reinterpret_cast<const unsigned char*>(head.data() + kMagic.size() + kWrappedSize),
          reinterpret_cast<const unsigned char*>(key->data())) != 0)
    return corrupt(id, "bad stream header");
  sodium_memzero(key->data(), key->size());
  s->begin = std::min(offset, s->size);
  s->end = length < 0 ? s->size : std::min(s->size, s->begin + length);
  s->whole = s->begin == 0 && s->end == s->size;
  s->plain.resize(kChunk);
  if (s->whole && check_hash) s->hash = std::make_unique<crypto::Sha256>();
  if (s->begin >= s->end && !s->whole) s->done = true;
  else TRY_STATUS(s->seek(s->begin / static_cast<std::int64_t>(kChunk)));
  return Reader(std::move(s));
}

Status BlobStore::read(const std::string& id, std::int64_t offset, std::int64_t length,
                       const std::function<Status(std::string_view)>& sink, bool check_hash) {
  auto r = TRY(reader(id, offset, length, check_hash));
  std::string piece;
  for (;;) {
    piece.clear();
    bool more = TRY(r.next(piece));
    if (!piece.empty()) TRY_STATUS(sink(piece));
    if (!more) return {};
  }
}

Result<std::string> BlobStore::get(const std::string& id) {
  std::string out;
  TRY_STATUS(read(
      id, 0, -1,
      [&](std::string_view p) -> Status {
        out.append(p);
        return {};
      },
      true));
  return out;
}

Status BlobStore::verify(const std::string& id) {
  return read(id, 0, -1, [](std::string_view) -> Status { return {}; }, true);
}

Status BlobStore::remove(const std::string& id) {
  if (!valid_blob_id(id)) return not_found("blob " + id);
  return backend_->remove(id);
}

Result<std::vector<std::string>> BlobStore::list() { return backend_->list(); }

Result<Millis> BlobStore::age_ms(const std::string& id, Millis now) { return now - TRY(backend_->stored_ms(id)); }

}  // namespace atrium::data
