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

/* The keys of one key file, and optionally the keys of the previous key
 * file (AuthOIDCCryptoKeyFile current previous): everything is written
 * under the current keys and read under either, so that a key can be
 * rolled across a cluster without logging everyone out. */
typedef struct aoidc_keys aoidc_keys_t;
struct aoidc_keys {
    unsigned char state[AOIDC_KEY_LEN];   /* state cookies */
    unsigned char session[AOIDC_KEY_LEN]; /* session records and directory lists in the store */
    unsigned char index[AOIDC_KEY_LEN];   /* HMAC key for store keys of tokens (current key only) */
    unsigned char id;                     /* key id, the first byte of what it seals: 2..255 */
    const aoidc_keys_t *previous;         /* read-only older keys, or NULL */
};

/* The first byte of a sealed value: AOIDC_AEAD_LEGACY for values sealed
 * before key ids existed (opened with any of the keys), else the key id of
 * the keys that sealed it. */
#define AOIDC_AEAD_LEGACY 1

typedef enum { AOIDC_KEY_STATE, AOIDC_KEY_SESSION } aoidc_key_use_t;

/* Derive all keys from secret material (at least AOIDC_KEYFILE_MIN bytes),
 * with its key id and no previous keys. Returns APR_EINVAL when too short,
 * APR_EGENERAL when OpenSSL fails. */
apr_status_t aoidc_keys_derive(const unsigned char *secret, apr_size_t len, aoidc_keys_t *out);

/* Read a key file (surrounding white space trimmed; at least 32 bytes of
 * content, at most AOIDC_KEYFILE_MAX) and derive the keys. *err names the
 * problem (never the content). */
apr_status_t aoidc_keys_load_file(apr_pool_t *p, const char *path, aoidc_keys_t *out, const char **err);

/* Attach the previous keys (NULL: none) to keys; prev must outlive keys.
 * APR_EINVAL when prev is the same key as keys (a rotation to itself is a
 * mistake worth reporting) or has a previous key itself (one step only). */
apr_status_t aoidc_keys_set_previous(aoidc_keys_t *keys, const aoidc_keys_t *prev);

/* Seal under the current key of keys (use picks state or session): the
 * output starts with keys->id; otherwise as aoidc_aead_seal. */
apr_status_t aoidc_keys_seal(apr_pool_t *p, const aoidc_keys_t *keys, aoidc_key_use_t use, const void *aad,
                             apr_size_t aadlen, const void *pt, apr_size_t ptlen, unsigned char **out,
                             apr_size_t *outlen);

/* Open a value sealed by aoidc_keys_seal under the current or the previous
 * keys, picked by the key id in its first byte (a legacy value: tried with
 * both). Returns APR_EINVAL for input too short, APR_EGENERAL when
 * authentication fails or the value was sealed under a key we do not hold
 * (an unknown key id: no decryption is even tried).
 * *by_previous (if not NULL) says whether the previous key opened it. */
apr_status_t aoidc_keys_open(apr_pool_t *p, const aoidc_keys_t *keys, aoidc_key_use_t use, const void *aad,
                             apr_size_t aadlen, const unsigned char *in, apr_size_t inlen, unsigned char **pt,
                             apr_size_t *ptlen, int *by_previous);

/* Read a secret from a file: the whole content, trailing CR/LF/white space
 * trimmed, 1..max bytes. Used for client secrets. */
apr_status_t aoidc_read_secret_file(apr_pool_t *p, const char *path, apr_size_t max, const char **secret,
                                    const char **err);

/* AES-256-GCM with a fresh random 96-bit nonce under one raw key. Output
 * layout: version(1) || nonce(12) || ciphertext || tag(16), allocated from
 * p; version is AOIDC_AEAD_LEGACY. aad binds the ciphertext to its context
 * (cookie name, store key). Prefer aoidc_keys_seal, which names the key. */
apr_status_t aoidc_aead_seal(apr_pool_t *p, const unsigned char key[AOIDC_KEY_LEN], const void *aad,
                             apr_size_t aadlen, const void *pt, apr_size_t ptlen, unsigned char **out,
                             apr_size_t *outlen);

/* Reverse of aoidc_aead_seal under one raw key. The plaintext is allocated
 * from p with one extra NUL byte after it. Returns APR_EINVAL for input too
 * short or whose first byte is not AOIDC_AEAD_LEGACY, APR_EGENERAL when
 * authentication fails. */
apr_status_t aoidc_aead_open(apr_pool_t *p, const unsigned char key[AOIDC_KEY_LEN], const void *aad,
                             apr_size_t aadlen, const unsigned char *in, apr_size_t inlen, unsigned char **pt,
                             apr_size_t *ptlen);

/* HMAC-SHA256(key, data) into out[32]. */
void aoidc_hmac_sha256(const unsigned char key[AOIDC_KEY_LEN], const void *data, apr_size_t len,
                       unsigned char out[32]);

#endif
