#include "data/secretstream.hpp"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace atrium::data {
namespace {

using State = crypto_secretstream_xchacha20poly1305_state;
constexpr std::size_t kA = crypto_secretstream_xchacha20poly1305_ABYTES;

struct Pair {
  State ours, theirs;
  unsigned char header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
  Pair() {
    if (sodium_init() < 0) std::abort();
    crypto_secretstream_xchacha20poly1305_keygen(key);
    crypto_secretstream_xchacha20poly1305_init_push(&ours, header, key);
    theirs = ours;
  }
};

std::vector<unsigned char> bytes(std::size_t n, unsigned seed) {
  std::vector<unsigned char> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>((i * 131 + seed * 7) ^ (i >> 8));
  return v;
}

// Pushed by us and by libsodium from the same state: the same bytes, message after message.
TEST(SecretStream, PushIsLibsodiumsByteForByte) {
  Pair p;
  unsigned seed = 0;
  for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 63u, 64u, 65u, 1000u, 65536u, 65536u + 3, 0u}) {
    for (unsigned char tag : {0, crypto_secretstream_xchacha20poly1305_TAG_PUSH, crypto_secretstream_xchacha20poly1305_TAG_REKEY}) {
      auto m = bytes(n, ++seed);
      std::vector<unsigned char> a(n + kA), b(n + kA);
      ASSERT_EQ(secretstream::push(&p.ours, a.data(), m.data(), n, tag), 0);
      unsigned long long blen = 0;
      crypto_secretstream_xchacha20poly1305_push(&p.theirs, b.data(), &blen, m.data(), n, nullptr, 0, tag);
      ASSERT_EQ(blen, n + kA);
      ASSERT_EQ(a, b) << "size " << n << " tag " << int(tag);
      ASSERT_EQ(0, std::memcmp(&p.ours, &p.theirs, sizeof p.ours));
    }
  }
}

// Pulled by us from libsodium's stream (and the reverse), tags kept; tampering is refused and
// leaves the state as it was.
TEST(SecretStream, PullOpensLibsodiumsStreamAndRefusesTampering) {
  Pair p;
  State pull_ours, pull_theirs;
  ASSERT_EQ(crypto_secretstream_xchacha20poly1305_init_pull(&pull_ours, p.header, p.key), 0);
  pull_theirs = pull_ours;
  unsigned seed = 0;
  for (std::size_t n : {65536u, 1u, 0u, 4097u, 65536u}) {
    auto m = bytes(n, ++seed);
    unsigned char tag = n == 0 ? crypto_secretstream_xchacha20poly1305_TAG_REKEY : 0;
    std::vector<unsigned char> c(n + kA);
    crypto_secretstream_xchacha20poly1305_push(&p.theirs, c.data(), nullptr, m.data(), n, nullptr, 0, tag);
    // A flipped bit anywhere (the tag byte, the body, the MAC) fails, and changes nothing.
    for (std::size_t at : {std::size_t{0}, c.size() / 2, c.size() - 1}) {
      auto bad = c;
      bad[at] ^= 0x20;
      std::vector<unsigned char> out(n + 1);
      unsigned char t = 0;
      State before = pull_ours;
      EXPECT_EQ(secretstream::pull(&pull_ours, out.data(), &t, bad.data(), bad.size()), -1);
      EXPECT_EQ(0, std::memcmp(&before, &pull_ours, sizeof before));
    }
    std::vector<unsigned char> out(n + 1), ref(n + 1);
    unsigned char t = 0xff, rt = 0xff;
    ASSERT_EQ(secretstream::pull(&pull_ours, out.data(), &t, c.data(), c.size()), 0);
    ASSERT_EQ(crypto_secretstream_xchacha20poly1305_pull(&pull_theirs, ref.data(), nullptr, &rt, c.data(), c.size(),
                                                         nullptr, 0),
              0);
    EXPECT_EQ(t, tag);
    EXPECT_EQ(rt, tag);
    EXPECT_EQ(0, std::memcmp(out.data(), m.data(), n));
    EXPECT_EQ(0, std::memcmp(&pull_ours, &pull_theirs, sizeof pull_ours));
  }
  // Ours pushed, libsodium pulls.
  auto m = bytes(3000, 99);
  std::vector<unsigned char> c(m.size() + kA), out(m.size());
  p.ours = p.theirs;  // the pushing side where libsodium's pusher is
  ASSERT_EQ(secretstream::push(&p.ours, c.data(), m.data(), m.size(), crypto_secretstream_xchacha20poly1305_TAG_FINAL), 0);
  unsigned char t = 0;
  ASSERT_EQ(crypto_secretstream_xchacha20poly1305_pull(&pull_theirs, out.data(), nullptr, &t, c.data(), c.size(),
                                                       nullptr, 0),
            0);
  EXPECT_EQ(t, crypto_secretstream_xchacha20poly1305_TAG_FINAL);
  EXPECT_EQ(out, m);
  EXPECT_EQ(secretstream::pull(&pull_ours, out.data(), &t, c.data(), kA - 1), -1);  // too short
}

TEST(SecretStream, AeadIsLibsodiumsXChaCha20Poly1305) {
  if (sodium_init() < 0) std::abort();
  unsigned char key[32], npub[24];
  randombytes_buf(key, sizeof key);
  std::string ad = "upload-id:12345";
  for (std::size_t n : {0u, 1u, 16u, 100u, 65536u, 1000003u}) {
    randombytes_buf(npub, sizeof npub);
    auto m = bytes(n, static_cast<unsigned>(n));
    std::vector<unsigned char> a(n + 16), b(n + 16), out(n + 1);
    ASSERT_EQ(secretstream::aead_encrypt(a.data(), m.data(), n, reinterpret_cast<const unsigned char*>(ad.data()),
                                         ad.size(), npub, key),
              0);
    unsigned long long blen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(b.data(), &blen, m.data(), n,
                                               reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
                                               npub, key);
    ASSERT_EQ(a, b) << n;
    ASSERT_EQ(secretstream::aead_decrypt(out.data(), b.data(), b.size(),
                                         reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), npub, key),
              0);
    EXPECT_EQ(0, std::memcmp(out.data(), m.data(), n));
    auto bad = b;
    bad[bad.size() / 2] ^= 1;
    EXPECT_EQ(secretstream::aead_decrypt(out.data(), bad.data(), bad.size(),
                                         reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), npub, key),
              -1);
    EXPECT_EQ(secretstream::aead_decrypt(out.data(), b.data(), b.size(),
                                         reinterpret_cast<const unsigned char*>("other"), 5, npub, key),
              -1);
  }
}

}  // namespace
}  // namespace atrium::data
