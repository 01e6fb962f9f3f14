// Small wrappers over libsodium: randomness, SHA-256, HMAC, encodings, constant-time compare.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace atrium::crypto {

// Must be called once before any other function (idempotent).
void init();

std::string random_bytes(std::size_t n);
std::string sha256(std::string_view data);  // raw 32 bytes
std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw 32 bytes
bool constant_time_equal(std::string_view a, std::string_view b);

// XChaCha20-Poly1305 with a random nonce: returns nonce | ciphertext | tag. `key` must be
// kAeadKeyBytes; `ad` is authenticated, not stored (e.g. the id of the row the value belongs to, so
// a sealed value copied to another row does not open).
inline constexpr std::size_t kAeadKeyBytes = 32;
std::string aead_seal(std::string_view key, std::string_view plain, std::string_view ad);
// The plaintext, or nullopt when `sealed` does not open under this key and `ad` (or is damaged).
std::optional<std::string> aead_open(std::string_view key, std::string_view sealed, std::string_view ad);

// Streaming SHA-256 for bulk data: OpenSSL's, which uses the CPU's SHA instructions (about 5x
// libsodium's portable code on these machines).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  std::string hex_digest();  // ends the hash

 private:
  void* ctx_;
};

std::string hex(std::string_view raw);
std::optional<std::string> unhex(std::string_view text);  // nullopt unless an even count of hex digits
std::string base64url(std::string_view raw);  // no padding
std::optional<std::string> base64url_decode(std::string_view text);
std::string base64(std::string_view raw);  // standard alphabet, padded
std::optional<std::string> base64_decode(std::string_view text);  // standard alphabet, padded

// Password hashing: argon2id in libsodium's self-describing string format.
std::string hash_password(std::string_view password);
bool verify_password(std::string_view hash, std::string_view password);
// True when the hash was made with weaker parameters than the current ones.
bool password_needs_rehash(std::string_view hash);

}  // namespace atrium::crypto
