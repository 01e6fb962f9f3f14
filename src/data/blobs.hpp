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

 private:
  explicit MasterKey(std::string k) : key_(std::move(k)) {}
  std::string key_;
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
  // Reads the whole object through `sink` in pieces.
  virtual Status read(const std::string& name, const std::function<Status(std::string_view)>& sink) = 0;
  virtual Status remove(const std::string& name) = 0;
  virtual Result<std::vector<std::string>> list() = 0;
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

  Result<bool> contains(const std::string& id);
  // Decrypts blob `id` and passes plaintext bytes [offset, offset + length) to `sink` (length < 0:
  // to the end). Fails with corrupt-blob if anything was altered (and then `sink` may already have
  // had earlier verified chunks).
  Status read(const std::string& id, std::int64_t offset, std::int64_t length,
              const std::function<Status(std::string_view)>& sink);
  Result<std::string> get(const std::string& id);
  // Reads the whole blob and checks its SHA-256 against the id.
  Status verify(const std::string& id);
  Status remove(const std::string& id);
  Result<std::vector<std::string>> list();

 private:
  BlobStore(MasterKey key, std::unique_ptr<Backend> backend) : key_(std::move(key)), backend_(std::move(backend)) {}
  MasterKey key_;
  std::unique_ptr<Backend> backend_;
};

}  // namespace atrium::data
