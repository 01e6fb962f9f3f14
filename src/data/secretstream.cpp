#include "data/secretstream.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstdint>
#include <cstring>
#include <memory>

namespace atrium::data::secretstream {

namespace {

constexpr std::size_t kCounterBytes = 4, kInonceBytes = 8;
constexpr std::size_t kMacBytes = crypto_onetimeauth_poly1305_BYTES;
constexpr unsigned char kPad0[16] = {0};

// The state's layout (libsodium's, not in its public header): k[32], nonce[12] = counter[4] ||
// inonce[8], pad[8].
static_assert(sizeof(crypto_secretstream_xchacha20poly1305_state::k) == 32);
static_assert(sizeof(crypto_secretstream_xchacha20poly1305_state::nonce) == kCounterBytes + kInonceBytes);

struct CipherCtx {
  EVP_CIPHER_CTX* p = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(p); }
};
struct MacCtx {
  EVP_MAC_CTX* p;
  explicit MacCtx(EVP_MAC* mac) : p(EVP_MAC_CTX_new(mac)) {}
  ~MacCtx() { EVP_MAC_CTX_free(p); }
};

EVP_MAC* poly1305() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "POLY1305", nullptr);
  return mac;
}

const EVP_CIPHER* chacha20() {
  static const EVP_CIPHER* c = EVP_chacha20();
  return c;
}

// ChaCha20 (IETF: 32-bit block counter `ic`, 96-bit nonce) over n bytes: out = in ^ keystream.
bool chacha_xor(EVP_CIPHER_CTX* ctx, unsigned char* out, const unsigned char* in, std::size_t n,
                const crypto_secretstream_xchacha20poly1305_state& st, std::uint32_t ic) {
  unsigned char iv[16];
  iv[0] = static_cast<unsigned char>(ic);
  iv[1] = static_cast<unsigned char>(ic >> 8);
  iv[2] = static_cast<unsigned char>(ic >> 16);
  iv[3] = static_cast<unsigned char>(ic >> 24);
  std::memcpy(iv + 4, st.nonce, sizeof st.nonce);
  if (EVP_EncryptInit_ex(ctx, chacha20(), nullptr, st.k, iv) != 1) return false;
  int len = 0;
  // EVP's length is an int: a blob's message is a 64 KiB chunk, far below.
  if (n > 0 && EVP_EncryptUpdate(ctx, out, &len, in, static_cast<int>(n)) != 1) return false;
  return true;
}

void store64_le(unsigned char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

// The MAC libsodium computes over one message: poly1305 keyed by the keystream's block 0, over
// (no ad) || block (64, with the tag byte encrypted) || c || pad || le64(0) || le64(64 + clen).
bool mac_of(EVP_CIPHER_CTX* cctx, const crypto_secretstream_xchacha20poly1305_state& st, const unsigned char* block,
            const unsigned char* c, std::size_t clen, unsigned char* mac) {
  unsigned char key[64] = {0};
  if (!chacha_xor(cctx, key, key, sizeof key, st, 0)) return false;
  MacCtx m(poly1305());
  bool ok = m.p && EVP_MAC_init(m.p, key, 32, nullptr) == 1;
  sodium_memzero(key, sizeof key);
  unsigned char slen[8];
  ok = ok && EVP_MAC_update(m.p, block, 64) == 1;
  ok = ok && (clen == 0 || EVP_MAC_update(m.p, c, clen) == 1);
  std::size_t pad = (0x10 - 64 + clen) & 0xf;
  ok = ok && (pad == 0 || EVP_MAC_update(m.p, kPad0, pad) == 1);
  store64_le(slen, 0);
  ok = ok && EVP_MAC_update(m.p, slen, sizeof slen) == 1;
  store64_le(slen, 64 + static_cast<std::uint64_t>(clen));
  ok = ok && EVP_MAC_update(m.p, slen, sizeof slen) == 1;
  std::size_t out_len = 0;
  ok = ok && EVP_MAC_final(m.p, mac, &out_len, kMacBytes) == 1 && out_len == kMacBytes;
  return ok;
}

// After a message: the inonce absorbs the MAC, the counter moves on, rekeying as libsodium does.
void advance(crypto_secretstream_xchacha20poly1305_state* st, const unsigned char* mac, unsigned char tag) {
  for (std::size_t i = 0; i < kInonceBytes; ++i) st->nonce[kCounterBytes + i] ^= mac[i];
  sodium_increment(st->nonce, kCounterBytes);
  if ((tag & crypto_secretstream_xchacha20poly1305_TAG_REKEY) != 0 || sodium_is_zero(st->nonce, kCounterBytes))
    crypto_secretstream_xchacha20poly1305_rekey(st);
}

}  // namespace

int push(crypto_secretstream_xchacha20poly1305_state* st, unsigned char* out, const unsigned char* m, std::size_t mlen,
         unsigned char tag) {
  CipherCtx cctx;
  if (!cctx.p || !poly1305()) return -1;
  unsigned char block[64] = {0};
  block[0] = tag;
  if (!chacha_xor(cctx.p, block, block, sizeof block, *st, 1)) return -1;
  out[0] = block[0];
  unsigned char* c = out + 1;
  if (!chacha_xor(cctx.p, c, m, mlen, *st, 2)) return -1;
  unsigned char* mac = c + mlen;
  if (!mac_of(cctx.p, *st, block, c, mlen, mac)) return -1;
  advance(st, mac, tag);
  return 0;
}

int pull(crypto_secretstream_xchacha20poly1305_state* st, unsigned char* m, unsigned char* tag, const unsigned char* in,
         std::size_t inlen) {
  if (inlen < crypto_secretstream_xchacha20poly1305_ABYTES) return -1;
  std::size_t mlen = inlen - crypto_secretstream_xchacha20poly1305_ABYTES;
  CipherCtx cctx;
  if (!cctx.p || !poly1305()) return -1;
  unsigned char block[64] = {0};
  block[0] = in[0];
  if (!chacha_xor(cctx.p, block, block, sizeof block, *st, 1)) return -1;
  unsigned char t = block[0];
  block[0] = in[0];  // the MAC covers the block as sent: the tag byte encrypted, the rest keystream
  const unsigned char* c = in + 1;
  unsigned char mac[kMacBytes];
  if (!mac_of(cctx.p, *st, block, c, mlen, mac)) return -1;
  if (sodium_memcmp(mac, c + mlen, kMacBytes) != 0) {
    sodium_memzero(mac, sizeof mac);
    return -1;
  }
  if (!chacha_xor(cctx.p, m, c, mlen, *st, 2)) return -1;
  advance(st, mac, t);
  *tag = t;
  return 0;
}

namespace {

// The RFC 8439 key and nonce XChaCha20-Poly1305 uses for a 24-byte nonce.
struct SubKey {
  unsigned char k[32];
  unsigned char nonce[12] = {0};
  SubKey(const unsigned char* npub, const unsigned char* key) {
    crypto_core_hchacha20(k, npub, key, nullptr);
    std::memcpy(nonce + 4, npub + crypto_core_hchacha20_INPUTBYTES, 8);
  }
  ~SubKey() { sodium_memzero(k, sizeof k); }
};

bool aead_init(EVP_CIPHER_CTX* ctx, bool enc, const SubKey& sk, const unsigned char* ad, std::size_t adlen) {
  int len = 0;
  return EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), nullptr, nullptr, nullptr, enc ? 1 : 0) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) == 1 &&
         EVP_CipherInit_ex(ctx, nullptr, nullptr, sk.k, sk.nonce, enc ? 1 : 0) == 1 &&
         (adlen == 0 || EVP_CipherUpdate(ctx, nullptr, &len, ad, static_cast<int>(adlen)) == 1);
}

}  // namespace

int aead_encrypt(unsigned char* c, const unsigned char* m, std::size_t mlen, const unsigned char* ad, std::size_t adlen,
                 const unsigned char* npub, const unsigned char* key) {
  if (mlen > static_cast<std::size_t>(INT32_MAX)) return -1;
  SubKey sk(npub, key);
  CipherCtx ctx;
  int len = 0, fin = 0;
  if (!ctx.p || !aead_init(ctx.p, true, sk, ad, adlen)) return -1;
  if (mlen > 0 && EVP_EncryptUpdate(ctx.p, c, &len, m, static_cast<int>(mlen)) != 1) return -1;
  if (EVP_EncryptFinal_ex(ctx.p, c + len, &fin) != 1) return -1;
  return EVP_CIPHER_CTX_ctrl(ctx.p, EVP_CTRL_AEAD_GET_TAG, 16, c + mlen) == 1 ? 0 : -1;
}

int aead_decrypt(unsigned char* m, const unsigned char* c, std::size_t clen, const unsigned char* ad, std::size_t adlen,
                 const unsigned char* npub, const unsigned char* key) {
  if (clen < 16 || clen - 16 > static_cast<std::size_t>(INT32_MAX)) return -1;
  std::size_t mlen = clen - 16;
  SubKey sk(npub, key);
  CipherCtx ctx;
  int len = 0, fin = 0;
  if (!ctx.p || !aead_init(ctx.p, false, sk, ad, adlen)) return -1;
  if (EVP_CIPHER_CTX_ctrl(ctx.p, EVP_CTRL_AEAD_SET_TAG, 16, const_cast<unsigned char*>(c + mlen)) != 1) return -1;
  if (mlen > 0 && EVP_DecryptUpdate(ctx.p, m, &len, c, static_cast<int>(mlen)) != 1) return -1;
  if (EVP_DecryptFinal_ex(ctx.p, m + len, &fin) != 1) {
    sodium_memzero(m, mlen);  // never hand out unauthenticated plaintext
    return -1;
  }
  return 0;
}

}  // namespace atrium::data::secretstream
