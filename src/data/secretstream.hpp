// libsodium's crypto_secretstream_xchacha20poly1305 push and pull (no additional data), byte for
// byte, with OpenSSL's ChaCha20 and Poly1305 for the bulk of each message: libsodium 1.0.18's
// ChaCha20 ran at ~540 MiB/s here, OpenSSL's ChaCha20-Poly1305 at ~1,950 MiB/s (AVX-512). The
// stream state, its header, the small per-message block and the rekeying stay libsodium's, so
// blobs written by either open with the other (the unit tests check both directions).
#pragma once

#include <cstddef>

#include <sodium.h>

namespace atrium::data::secretstream {

// As crypto_secretstream_xchacha20poly1305_push with ad = NULL: `out` gets mlen + ABYTES bytes.
int push(crypto_secretstream_xchacha20poly1305_state* state, unsigned char* out, const unsigned char* m,
         std::size_t mlen, unsigned char tag);
// As crypto_secretstream_xchacha20poly1305_pull with ad = NULL: 0 and the message in `m`
// (inlen - ABYTES bytes) and its tag, or -1 when the message fails authentication (the state is
// then unchanged and `m` undefined).
int pull(crypto_secretstream_xchacha20poly1305_state* state, unsigned char* m, unsigned char* tag,
         const unsigned char* in, std::size_t inlen);

// As crypto_aead_xchacha20poly1305_ietf_encrypt (combined: c gets mlen + 16 bytes) and _decrypt
// (0, or -1 when it fails authentication), through OpenSSL's RFC 8439 ChaCha20-Poly1305 under the
// HChaCha20 subkey: upload staging frames.
int aead_encrypt(unsigned char* c, const unsigned char* m, std::size_t mlen, const unsigned char* ad, std::size_t adlen,
                 const unsigned char* npub, const unsigned char* key);
int aead_decrypt(unsigned char* m, const unsigned char* c, std::size_t clen, const unsigned char* ad, std::size_t adlen,
                 const unsigned char* npub, const unsigned char* key);

}  // namespace atrium::data::secretstream
