/* Keys and authenticated encryption (OpenSSL 3).
 *
 * One secret file (AuthOIDCCryptoKeyFile) is the root of every key: HKDF-SHA256
 * derives a separate key per purpose so that a state cookie can never be
 * replayed as a session record and vice versa. */
#ifndef AOIDC_CRYPTO_H
#define AOIDC_CRYPTO_H

#include <apr_pools.h>
#include <apr_errno.h>

#define AOIDC_KEY_LEN 32
#define AOIDC_AEAD_OVERHEAD (1 + 12 + 16) /* version byte, GCM nonce, tag */
#define AOIDC_KEYFILE_MIN 32              /* bytes of secret material */
#define AOIDC_KEYFILE_MAX 4096

typedef struct {
    unsigned char state[AOIDC_KEY_LEN];   /* state cookies */
    unsigned char session[AOIDC_KEY_LEN]; /* session records in the store */
    unsigned char index[AOIDC_KEY_LEN];   /* HMAC key for store keys of tokens and lists */
} aoidc_keys_t;

/* Derive all keys from secret material (at least AOIDC_KEYFILE_MIN bytes).
 * Returns APR_EINVAL when too short, APR_EGENERAL when OpenSSL fails. */
apr_status_t aoidc_keys_derive(const unsigned char *secret, apr_size_t len, aoidc_keys_t *out);

/* Read a key file (surrounding white space trimmed; at least 32 bytes of
 * content, at most AOIDC_KEYFILE_MAX) and derive the keys. *err names the
 * problem (never the content). */
apr_status_t aoidc_keys_load_file(apr_pool_t *p, const char *path, aoidc_keys_t *out, const char **err);

/* Read a secret from a file: the whole content, trailing CR/LF/white space
 * trimmed, 1..max bytes. Used for client secrets. */
apr_status_t aoidc_read_secret_file(apr_pool_t *p, const char *path, apr_size_t max, const char **secret,
                                    const char **err);

/* AES-256-GCM with a fresh random 96-bit nonce. Output layout:
 * version(1) || nonce(12) || ciphertext || tag(16), allocated from p.
 * aad binds the ciphertext to its context (cookie name, store key). */
apr_status_t aoidc_aead_seal(apr_pool_t *p, const unsigned char key[AOIDC_KEY_LEN], const void *aad,
                             apr_size_t aadlen, const void *pt, apr_size_t ptlen, unsigned char **out,
                             apr_size_t *outlen);

/* Reverse of aoidc_aead_seal. The plaintext is allocated from p with one
 * extra NUL byte after it. Returns APR_EINVAL for input too short or of an
 * unknown version, APR_EGENERAL when authentication fails. */
apr_status_t aoidc_aead_open(apr_pool_t *p, const unsigned char key[AOIDC_KEY_LEN], const void *aad,
                             apr_size_t aadlen, const unsigned char *in, apr_size_t inlen, unsigned char **pt,
                             apr_size_t *ptlen);

/* HMAC-SHA256(key, data) into out[32]. */
void aoidc_hmac_sha256(const unsigned char key[AOIDC_KEY_LEN], const void *data, apr_size_t len,
                       unsigned char out[32]);

#endif
