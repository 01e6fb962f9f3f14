// Resumable uploads, the staging half: chunks arrive at the upload's current offset and are kept,
// until the upload is finished, in a staging file where each chunk is encrypted on its own
// (XChaCha20-Poly1305 with a per-upload key wrapped by the master key; the upload id and the
// chunk's offset are associated data, so frames cannot be moved or replayed). In-progress data
// is never plaintext on disk. finish() streams the staged plaintext, verified, into the blob
// store, which hashes it; a wrong size or SHA-256 stores nothing.
//
// The database row of an upload keeps (offset, staged_bytes, wrapped key); a chunk is fsynced
// before its new offset is returned, and the caller records it. After a crash between the two,
// the file may hold a frame past staged_bytes: the next append cuts it off first.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "data/blobs.hpp"

namespace atrium::data {

// The offset rules for one chunk of `len` bytes sent at `at` to an upload of `size` bytes that
// has `offset` bytes: `at` must be the current offset (409 offset-mismatch, with "offset"), the
// chunk must not go past the declared size (400 beyond-size), negative values are 400s.
Status check_chunk(std::int64_t size, std::int64_t offset, std::int64_t at, std::int64_t len);

class Staging {
 public:
  struct State {
    std::int64_t size = 0;          // declared total
    std::int64_t offset = 0;        // plaintext bytes received
    std::int64_t staged_bytes = 0;  // bytes of the staging file that hold them
    std::string wrapped_key;        // the upload's key, wrapped by the master key
  };

  // A new, empty upload of `size` bytes staged in `file`.
  static Result<Staging> create(const MasterKey& key, std::filesystem::path file, std::string upload_id,
                                std::int64_t size);
  // An upload in progress, as its database row describes it.
  static Result<Staging> open(const MasterKey& key, std::filesystem::path file, std::string upload_id, State state);

  const State& state() const { return state_; }
  // Appends a chunk at `at` (check_chunk's rules) durably; state() has the new offset after.
  Status append(std::int64_t at, std::string_view data);
  // Moves the complete upload into `store` (the staging file stays: discard() it after the
  // caller has recorded the blob).
  Result<BlobInfo> finish(BlobStore& store, std::optional<std::string> expected_sha256);
  Status discard();

  // For tests and fuzzing: skip fsync (the data is still written in order).
  void set_sync(bool on) { sync_ = on; }

 private:
  Staging(std::filesystem::path file, std::string id, std::string key, State s)
      : file_(std::move(file)), id_(std::move(id)), key_(std::move(key)), state_(std::move(s)) {}
  std::filesystem::path file_;
  std::string id_;
  std::string key_;  // the upload's own key, unwrapped
  State state_;
  bool sync_ = true;
};

}  // namespace atrium::data
