// The blob store: content-addressed (SHA-256 of the plaintext), encrypted at rest, deduplicated.
//
// Each blob is encrypted with its own random key (libsodium XChaCha20-Poly1305 secretstream, 64 KiB
// chunks, the last tagged FINAL, so truncation, reordering and flipped bytes are all detected); the
// blob key is wrapped by the master key (XChaCha20-Poly1305 AEAD, the blob id as associated data,
// so a wrapped key cannot be moved to another blob). The master key comes from a key file read at
// startup; a check value stored beside the blobs makes a wrong key stop startup instead of failing
// every read. Writes go to a temp file, fsync, rename, fsync of the directory: a blob is either
// whole or absent. Backends (where the encrypted objects live) are behind an interface: the local
// filesystem now, S3-compatible later.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace atrium::data {

// A blob's id: the lowercase hex SHA-256 of its plaintext.
bool valid_blob_id(std::string_view id);

class MasterKey {
 public:
  static constexpr std::size_t kSize = 32;
  // Reads the key file: exactly 32 bytes, or 64 hex digits (a trailing newline allowed). The file
  // must not be readable by group or others.
  static Result<MasterKey> load(const std::filesystem::path& file);
  // Creates a new random key file (0600); fails if the file exists.
  static Result<MasterKey> create(const std::filesystem::path& file);

  std::string wrap(std::string_view blob_key, std::string_view blob_id) const;
  Result<std::string> unwrap(std::string_view wrapped, std::string_view blob_id) const;
  // A value derived from the key (not the key): stored with the blobs to recognise a wrong key.
  std::string check_value() const;
  // A 32-byte key for another purpose (signing links), derived from this one.
  std::string derive(std::string_view purpose) const;

 private:
  explicit MasterKey(std::string k) : key_(std::move(k)) {}
  std::string key_;
};

// Random-access reads of one published object.
class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  virtual std::int64_t size() const = 0;
  // Reads up to `n` bytes at `offset`; fewer only at the end of the object.
  virtual Result<std::size_t> read_at(std::int64_t offset, char* buf, std::size_t n) = 0;
};

// Where encrypted objects live. Objects are immutable once published.
class Backend {
 public:
  virtual ~Backend() = default;
  // A new temp file to write an object to (the caller writes and closes it).
  virtual Result<std::filesystem::path> temp_path() = 0;
  // Makes the temp file the object `name`, durably (an existing object is kept: same content).
  virtual Status publish(const std::filesystem::path& temp, const std::string& name) = 0;
  virtual Result<bool> exists(const std::string& name) = 0;
  virtual Result<std::int64_t> size(const std::string& name) = 0;
  // Opens an object for reading (not-found when it is absent).
  virtual Result<std::unique_ptr<ObjectReader>> open(const std::string& name) = 0;
  virtual Status remove(const std::string& name) = 0;
  virtual Result<std::vector<std::string>> list() = 0;
  // When the object was published (milliseconds since the epoch).
  virtual Result<Millis> stored_ms(const std::string& name) = 0;
  // Small named values beside the objects (the key check value).
  virtual Result<std::optional<std::string>> get_meta(const std::string& name) = 0;
  virtual Status put_meta(const std::string& name, const std::string& value) = 0;
};

// Objects under root/objects/ab/cdef… (two-level fan-out), temp files under root/tmp.
std::unique_ptr<Backend> local_backend(std::filesystem::path root);

struct BlobInfo {
  std::string id;           // hex SHA-256 of the plaintext
  std::int64_t size = 0;    // plaintext bytes
  bool existed = false;     // deduplicated: the store had it already
};

class BlobStore {
 public:
  static constexpr std::size_t kChunk = 64 * 1024;

  // Checks the key against the store's check value (written on first use).
  static Result<std::unique_ptr<BlobStore>> open(MasterKey key, std::unique_ptr<Backend> backend);

  // Streams a blob in: write() any number of times, then finish(). Without finish() (an error, a
  // destroyed writer) nothing is stored.
  class Writer {
   public:
    ~Writer();
    Writer(Writer&&) noexcept;
    Status write(std::string_view data);
    // `expected_sha256` (hex): a mismatch stores nothing and fails with hash-mismatch.
    Result<BlobInfo> finish(std::optional<std::string> expected_sha256 = std::nullopt);
    std::int64_t bytes() const;

    struct State;

   private:
    friend class BlobStore;
    explicit Writer(std::unique_ptr<State> s);
    std::unique_ptr<State> s_;
  };
  Result<Writer> writer();
  Result<BlobInfo> put(std::string_view data);

  // Pulls the plaintext of a blob, or of a byte range of it, in verified pieces. A range starts at
  // its chunk directly (the stream state there is derived from the earlier chunks' tags, without
  // decrypting them), so a read near the end of a large blob costs what it returns.
  class Reader {
   public:
    ~Reader();
    Reader(Reader&&) noexcept;
    // Appends the next verified piece of the range (about `max` bytes, at least one chunk's worth
    // where the range has it) to `out`; false once the range is delivered. Fails with
    // corrupt-blob if anything was altered: every chunk is authenticated, and the key is bound to
    // the id, so the whole-blob SHA-256 check (`check_hash`) only guards against a bug in the writer
    // (verify() and get() do it; downloads do not, it would cost 3x the decryption).
    Result<bool> next(std::string& out, std::size_t max = 1 << 20);
    // The blob's plaintext size (from the object's size).
    std::int64_t blob_size() const;

    struct State;

   private:
    friend class BlobStore;
    explicit Reader(std::unique_ptr<State> s);
    std::unique_ptr<State> s_;
  };
  // Bytes [offset, offset + length) of blob `id` (length < 0: to the end); an offset past the end
  // yields nothing.
  Result<Reader> reader(const std::string& id, std::int64_t offset = 0, std::int64_t length = -1,
                        bool check_hash = false);

  Result<bool> contains(const std::string& id);
  // Decrypts blob `id` and passes plaintext bytes [offset, offset + length) to `sink` (length < 0:
  // to the end). Fails with corrupt-blob if anything was altered (and then `sink` may already have
  // had earlier verified chunks).
  Status read(const std::string& id, std::int64_t offset, std::int64_t length,
              const std::function<Status(std::string_view)>& sink, bool check_hash = false);
  Result<std::string> get(const std::string& id);
  // Reads the whole blob and checks its SHA-256 against the id.
  Status verify(const std::string& id);
  Status remove(const std::string& id);
  Result<std::vector<std::string>> list();
  // How long ago the object was stored (for garbage collection's grace period).
  Result<Millis> age_ms(const std::string& id, Millis now);
  const MasterKey& key() const { return key_; }

 private:
  BlobStore(MasterKey key, std::unique_ptr<Backend> backend) : key_(std::move(key)), backend_(std::move(backend)) {}
  MasterKey key_;
  std::unique_ptr<Backend> backend_;
};

}  // namespace atrium::data
