#include "data/blobs.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

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

std::unexpected<Error> sys_error(const std::string& what) {
  return internal(what + ": " + std::strerror(errno));
}

std::unexpected<Error> corrupt(const std::string& id, const std::string& why) {
  return fail(Error(ErrorCode::kInternal, "corrupt-blob", "blob " + id + " is damaged: " + why).with("blob", id));
}

// ---- the local filesystem backend ----------------------------------------------------------------

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

  Status read(const std::string& name, const std::function<Status(std::string_view)>& sink) override {
    int fd = ::open(object(name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? Status(not_found("blob " + name)) : Status(sys_error("opening blob " + name));
    std::string buf(256 * 1024, '\0');
    Status st;
    for (;;) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        st = sys_error("reading blob " + name);
        break;
      }
      if (n == 0) break;
      st = sink(std::string_view(buf.data(), static_cast<std::size_t>(n)));
      if (!st) break;
    }
    ::close(fd);
    return st;
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
  std::string out(kWrappedSize, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(p, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      p + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &clen, reinterpret_cast<const unsigned char*>(blob_key.data()),
      blob_key.size(), reinterpret_cast<const unsigned char*>(blob_id.data()), blob_id.size(), nullptr, p,
      reinterpret_cast<const unsigned char*>(key_.data()));
  return out;
}

Result<std::string> MasterKey::unwrap(std::string_view wrapped, std::string_view blob_id) const {
  if (wrapped.size() != kWrappedSize) return internal("wrapped key has the wrong size");
  std::string key(crypto_secretstream_xchacha20poly1305_KEYBYTES, '\0');
  unsigned long long len = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(wrapped.data());
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(key.data()), &len, nullptr, p + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
          wrapped.size() - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
          reinterpret_cast<const unsigned char*>(blob_id.data()), blob_id.size(), p,
          reinterpret_cast<const unsigned char*>(key_.data())) != 0 ||
      len != key.size())
    return internal("the blob key does not open with the master key");
  return key;
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
  crypto_hash_sha256_state hash{};
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
    unsigned long long clen = 0;
    crypto_secretstream_xchacha20poly1305_push(&ss, reinterpret_cast<unsigned char*>(cipher.data()), &clen,
                                               reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
                                               nullptr, 0, tag);
    return write_all(fd, std::string_view(cipher.data(), static_cast<std::size_t>(clen)));
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
  crypto_hash_sha256_init(&s->hash);
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
  crypto_hash_sha256_update(&s_->hash, reinterpret_cast<const unsigned char*>(data.data()), data.size());
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
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&state->hash, digest);
  BlobInfo info;
  info.id = crypto::hex(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
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

Status BlobStore::read(const std::string& id, std::int64_t offset, std::int64_t length,
                       const std::function<Status(std::string_view)>& sink) {
  if (!valid_blob_id(id)) return not_found("blob " + id);
  if (offset < 0) return invalid("offset must be >= 0");
  std::string buf;
  bool have_header = false, ended = false, stop = false;
  crypto_secretstream_xchacha20poly1305_state ss{};
  std::int64_t pos = 0;  // plaintext position of the next chunk
  std::string plain(kChunk, '\0');
  crypto_hash_sha256_state hash;
  crypto_hash_sha256_init(&hash);
  const std::int64_t end = length < 0 ? INT64_MAX : offset + length;

  auto open_chunk = [&](std::string_view c) -> Status {
    if (ended) return corrupt(id, "data after the final chunk");
    unsigned long long plen = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&ss, reinterpret_cast<unsigned char*>(plain.data()), &plen, &tag,
                                                   reinterpret_cast<const unsigned char*>(c.data()), c.size(), nullptr,
                                                   0) != 0)
      return corrupt(id, "a chunk fails authentication");
    if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) ended = true;
    std::string_view p(plain.data(), static_cast<std::size_t>(plen));
    crypto_hash_sha256_update(&hash, reinterpret_cast<const unsigned char*>(p.data()), p.size());
    std::int64_t a = std::max(offset, pos), b = std::min(end, pos + static_cast<std::int64_t>(p.size()));
    if (a < b) TRY_STATUS(sink(p.substr(static_cast<std::size_t>(a - pos), static_cast<std::size_t>(b - a))));
    pos += static_cast<std::int64_t>(p.size());
    if (pos >= end) stop = true;
    return {};
  };

  // A sentinel error stops the backend's read early once the range is delivered.
  static const std::string kStop = "range-complete";
  Status st = backend_->read(id, [&](std::string_view piece) -> Status {
    buf.append(piece);
    if (!have_header) {
      if (buf.size() < kHeaderSize) return {};
      if (std::string_view(buf).substr(0, kMagic.size()) != kMagic) return corrupt(id, "not a blob file");
      auto key = key_.unwrap(std::string_view(buf).substr(kMagic.size(), kWrappedSize), id);
      if (!key) return corrupt(id, "its key does not open with the master key");
      if (crypto_secretstream_xchacha20poly1305_init_pull(
              &ss, reinterpret_cast<const unsigned char*>(buf.data() + kMagic.size() + kWrappedSize),
              reinterpret_cast<const unsigned char*>(key->data())) != 0)
        return corrupt(id, "bad stream header");
      sodium_memzero(key->data(), key->size());
      buf.erase(0, kHeaderSize);
      have_header = true;
    }
    // Keep one chunk back: only the end of the object says which chunk is the last.
    std::size_t used = 0;
    while (buf.size() - used > kCipherChunk) {
      TRY_STATUS(open_chunk(std::string_view(buf).substr(used, kCipherChunk)));
      used += kCipherChunk;
      if (stop) return fail(ErrorCode::kAborted, kStop, "");
    }
    buf.erase(0, used);
    return {};
  });
  if (!st && st.error().type == kStop) return {};
  TRY_STATUS(st);
  if (!have_header) return corrupt(id, "truncated header");
  if (!buf.empty()) TRY_STATUS(open_chunk(buf));
  if (!ended) return corrupt(id, "truncated (no final chunk)");
  if (length < 0 && offset == 0) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&hash, digest);
    if (crypto::hex(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest)) != id)
      return corrupt(id, "its content does not match its id");
  }
  return {};
}

Result<std::string> BlobStore::get(const std::string& id) {
  std::string out;
  TRY_STATUS(read(id, 0, -1, [&](std::string_view p) -> Status {
    out.append(p);
    return {};
  }));
  return out;
}

Status BlobStore::verify(const std::string& id) {
  return read(id, 0, -1, [](std::string_view) -> Status { return {}; });
}

Status BlobStore::remove(const std::string& id) {
  if (!valid_blob_id(id)) return not_found("blob " + id);
  return backend_->remove(id);
}

Result<std::vector<std::string>> BlobStore::list() { return backend_->list(); }

}  // namespace atrium::data
