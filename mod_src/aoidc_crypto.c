/* Key derivation and AEAD on OpenSSL 3. */
#include "aoidc_crypto.h"
#include "aoidc_util.h"

#include <apr_file_io.h>
#include <apr_strings.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>


/* OpenSSL 3 looks an algorithm up on every implicit use (EVP_aes_256_gcm()
 * in an Init call); fetching it once saves that on every request. Fetched
 * objects are immutable and safe to share between threads. */
static EVP_CIPHER *aes_gcm;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

/* Opening is on the request path (every session record, every state
 * cookie): each thread keeps one cipher context keyed with the last key it
 * used, so that the next open with that key only sets the nonce (GCM's key
 * schedule is most of a fresh context's cost). Freed, key wiped, when the
 * thread ends. */
typedef struct {
    EVP_CIPHER_CTX *ctx;
    unsigned char key[AOIDC_KEY_LEN];
    int keyed;
} open_ctx_t;
static pthread_key_t open_ctx_key;
static int open_ctx_key_ok;

static void free_open_ctx(void *data)
{
    open_ctx_t *t = data;
    EVP_CIPHER_CTX_free(t->ctx);
    OPENSSL_cleanse(t->key, sizeof(t->key));
    free(t);
}

static void fetch_algorithms(void)
{
    aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    open_ctx_key_ok = pthread_key_create(&open_ctx_key, free_open_ctx) == 0;
}

/* this thread's open context, or NULL (then the caller makes its own) */
static open_ctx_t *thread_open_ctx(void)
{
    if (!open_ctx_key_ok) {
        return NULL;
    }
    open_ctx_t *t = pthread_getspecific(open_ctx_key);
    if (t) {
        return t;
    }
    t = calloc(1, sizeof(*t));
    if (!t || !(t->ctx = EVP_CIPHER_CTX_new()) || pthread_setspecific(open_ctx_key, t) != 0) {
        if (t) {
            EVP_CIPHER_CTX_free(t->ctx);
        }
        free(t);
        return NULL;
    }
    return t;
}

static const EVP_CIPHER *cipher(void)
{
    pthread_once(&fetch_once, fetch_algorithms);
    return aes_gcm ? aes_gcm : EVP_aes_256_gcm();
}

static apr_status_t hkdf(const unsigned char *secret, apr_size_t len, const char *label, unsigned char *out)
{
    apr_status_t rv = APR_EGENERAL;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    if (ctx) {
        static const char salt[] = "mod_auth_oidc v1";
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, len),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, sizeof(salt) - 1),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)label, strlen(label)),
            OSSL_PARAM_construct_end(),
        };
        if (EVP_KDF_derive(ctx, out, AOIDC_KEY_LEN, params) == 1) {
            rv = APR_SUCCESS;
        }
    }
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rv;
}

apr_status_t aoidc_keys_derive(const unsigned char *secret, apr_size_t len, aoidc_keys_t *out)
{
    apr_status_t rv;
    if (len < AOIDC_KEYFILE_MIN) {
        return APR_EINVAL;
    }
    if ((rv = hkdf(secret, len, "state-cookie", out->state)) != APR_SUCCESS ||
        (rv = hkdf(secret, len, "session-record", out->session)) != APR_SUCCESS ||
        (rv = hkdf(secret, len, "session-index", out->index)) != APR_SUCCESS) {
        return rv;
    }
    /* the key id: public (it is in every sealed value), derived so that
     * every node finds the same id for the same file; 0 and 1 are never
     * used (1 marks the values sealed before key ids existed) */
    unsigned char idk[AOIDC_KEY_LEN];
    if ((rv = hkdf(secret, len, "key-id", idk)) != APR_SUCCESS) {
        return rv;
    }
    out->id = (unsigned char)(2 + idk[0] % 254);
    out->previous = NULL;
    return APR_SUCCESS;
}

apr_status_t aoidc_keys_set_previous(aoidc_keys_t *keys, const aoidc_keys_t *prev)
{
    if (prev && (prev->previous || CRYPTO_memcmp(prev->session, keys->session, AOIDC_KEY_LEN) == 0)) {
        return APR_EINVAL;
    }
    keys->previous = prev;
    return APR_SUCCESS;
}

apr_status_t aoidc_read_secret_file(apr_pool_t *p, const char *path, apr_size_t max, const char **secret,
                                    const char **err)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot open %s", path);
        return rv;
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (rv != APR_SUCCESS || fi.size < 0 || (apr_size_t)fi.size > max) {
        apr_file_close(f);
        *err = apr_psprintf(p, "%s is larger than %" APR_SIZE_T_FMT " bytes", path, max);
        return rv != APR_SUCCESS ? rv : APR_ENOSPC;
    }
    char *buf = apr_palloc(p, (apr_size_t)fi.size + 1);
    apr_size_t n = (apr_size_t)fi.size;
    rv = n ? apr_file_read_full(f, buf, n, &n) : APR_SUCCESS;
    apr_file_close(f);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot read %s", path);
        return rv;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t')) {
        n--;
    }
    buf[n] = '\0';
    if (n == 0 || memchr(buf, '\0', n) != NULL) {
        *err = apr_psprintf(p, "%s is empty or holds a NUL byte", path);
        return APR_EINVAL;
    }
    *secret = buf;
    return APR_SUCCESS;
}

apr_status_t aoidc_keys_load_file(apr_pool_t *p, const char *path, aoidc_keys_t *out, const char **err)
{
    const char *secret = NULL;
    apr_status_t rv = aoidc_read_secret_file(p, path, AOIDC_KEYFILE_MAX, &secret, err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_size_t len = strlen(secret);
    if (len < AOIDC_KEYFILE_MIN) {
        *err = apr_psprintf(p, "%s holds %" APR_SIZE_T_FMT " bytes; at least %d are needed "
                            "(e.g. openssl rand -hex 32 > %s)", path, len, AOIDC_KEYFILE_MIN, path);
        return APR_EINVAL;
    }
    rv = aoidc_keys_derive((const unsigned char *)secret, len, out);
    if (rv != APR_SUCCESS) {
        *err = "key derivation failed";
    }
    return rv;
}

static apr_status_t seal(apr_pool_t *p, const unsigned char key[AOIDC_KEY_LEN], unsigned char version,
                         const void *aad, apr_size_t aadlen, const void *pt, apr_size_t ptlen, unsigned char **out,
                         apr_size_t *outlen)
{
    if (ptlen > (apr_size_t)INT32_MAX - AOIDC_AEAD_OVERHEAD) {
        return APR_EINVAL; /* OpenSSL takes int lengths */
    }
    unsigned char *buf = apr_palloc(p, ptlen + AOIDC_AEAD_OVERHEAD);
    apr_status_t rv = APR_EGENERAL;
    int n = 0;
    buf[0] = version;
    if (aoidc_random(buf + 1, 12) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    /* a key id is authenticated too (a legacy value's version byte was not) */
    if (ctx && EVP_EncryptInit_ex(ctx, cipher(), NULL, key, buf + 1) == 1 &&
        (version == AOIDC_AEAD_LEGACY || EVP_EncryptUpdate(ctx, NULL, &n, buf, 1) == 1) &&
        (aadlen == 0 || EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1) &&
        EVP_EncryptUpdate(ctx, buf + 13, &n, pt, (int)ptlen) == 1 &&
        EVP_EncryptFinal_ex(ctx, buf + 13 + n, &n) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, buf + 13 + ptlen) == 1) {
        *out = buf;
        *outlen = ptlen + AOIDC_AEAD_OVERHEAD;
        rv = APR_SUCCESS;
    }
    EVP_CIPHER_CTX_free(ctx);
    return rv;
}

apr_status_t aoidc_aead_seal(apr_pool_t *p, const unsigned char key[AOIDC_KEY_LEN], const void *aad,
                             apr_size_t aadlen, const void *pt, apr_size_t ptlen, unsigned char **out,
                             apr_size_t *outlen)
{
    return seal(p, key, AOIDC_AEAD_LEGACY, aad, aadlen, pt, ptlen, out, outlen);
}

/* Open under one key, whatever key id the first byte names. */
static apr_status_t open_raw(apr_pool_t *p, const unsigned char key[AOIDC_KEY_LEN], const void *aad,
                             apr_size_t aadlen, const unsigned char *in, apr_size_t inlen, unsigned char **pt,
                             apr_size_t *ptlen)
{
    if (inlen < AOIDC_AEAD_OVERHEAD || inlen > (apr_size_t)INT32_MAX) {
        return APR_EINVAL;
    }
    apr_size_t ctlen = inlen - AOIDC_AEAD_OVERHEAD;
    unsigned char *buf = apr_palloc(p, ctlen + 1);
    apr_status_t rv = APR_EGENERAL;
    int n = 0, init;
    const EVP_CIPHER *c = cipher(); /* first: it makes the thread key */
    open_ctx_t *t = thread_open_ctx();
    EVP_CIPHER_CTX *ctx = t ? t->ctx : EVP_CIPHER_CTX_new();
    if (t && t->keyed && CRYPTO_memcmp(t->key, key, AOIDC_KEY_LEN) == 0) {
        init = EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, in + 1); /* same key: a new nonce */
    }
    else {
        if (t) {
            t->keyed = 0;
        }
        init = ctx && EVP_DecryptInit_ex(ctx, c, NULL, key, in + 1) == 1;
        if (init && t) {
            memcpy(t->key, key, AOIDC_KEY_LEN);
            t->keyed = 1;
        }
    }
    if (ctx && init == 1 &&
        (in[0] == AOIDC_AEAD_LEGACY || EVP_DecryptUpdate(ctx, NULL, &n, in, 1) == 1) &&
        (aadlen == 0 || EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1) &&
        EVP_DecryptUpdate(ctx, buf, &n, in + 13, (int)ctlen) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)(in + 13 + ctlen)) == 1 &&
        EVP_DecryptFinal_ex(ctx, buf + n, &n) == 1) {
        buf[ctlen] = '\0';
        *pt = buf;
        *ptlen = ctlen;
        rv = APR_SUCCESS;
    }
    if (!t) {
        EVP_CIPHER_CTX_free(ctx);
    }
    else if (rv != APR_SUCCESS) {
        t->keyed = 0; /* whatever state a failure left: set the key again next time */
    }
    return rv;
}

apr_status_t aoidc_aead_open(apr_pool_t *p, const unsigned char key[AOIDC_KEY_LEN], const void *aad,
                             apr_size_t aadlen, const unsigned char *in, apr_size_t inlen, unsigned char **pt,
                             apr_size_t *ptlen)
{
    if (inlen < AOIDC_AEAD_OVERHEAD || in[0] != AOIDC_AEAD_LEGACY) {
        return APR_EINVAL;
    }
    return open_raw(p, key, aad, aadlen, in, inlen, pt, ptlen);
}

static const unsigned char *use_key(const aoidc_keys_t *k, aoidc_key_use_t use)
{
    return use == AOIDC_KEY_STATE ? k->state : k->session;
}

apr_status_t aoidc_keys_seal(apr_pool_t *p, const aoidc_keys_t *keys, aoidc_key_use_t use, const void *aad,
                             apr_size_t aadlen, const void *pt, apr_size_t ptlen, unsigned char **out,
                             apr_size_t *outlen)
{
    return seal(p, use_key(keys, use), keys->id, aad, aadlen, pt, ptlen, out, outlen);
}

apr_status_t aoidc_keys_open(apr_pool_t *p, const aoidc_keys_t *keys, aoidc_key_use_t use, const void *aad,
                             apr_size_t aadlen, const unsigned char *in, apr_size_t inlen, unsigned char **pt,
                             apr_size_t *ptlen, int *by_previous)
{
    const aoidc_keys_t *prev = keys->previous;
    if (by_previous) {
        *by_previous = 0;
    }
    if (inlen < AOIDC_AEAD_OVERHEAD) {
        return APR_EINVAL;
    }
    /* which keys may have sealed it: the key id says (two files can share
     * an id, 1 in 254: then both are tried, the tag decides) */
    int cur_ok = in[0] == keys->id || in[0] == AOIDC_AEAD_LEGACY;
    int prev_ok = prev && (in[0] == prev->id || in[0] == AOIDC_AEAD_LEGACY);
    if (!cur_ok && !prev_ok) {
        return APR_EGENERAL; /* a key we do not hold (dropped, or another cluster's): as a wrong key */
    }
    apr_status_t rv = APR_EGENERAL;
    if (cur_ok) {
        rv = open_raw(p, use_key(keys, use), aad, aadlen, in, inlen, pt, ptlen);
    }
    if (rv != APR_SUCCESS && prev_ok) {
        rv = open_raw(p, use_key(prev, use), aad, aadlen, in, inlen, pt, ptlen);
        if (rv == APR_SUCCESS && by_previous) {
            *by_previous = 1;
        }
    }
    return rv;
}

void aoidc_hmac_sha256(const unsigned char key[AOIDC_KEY_LEN], const void *data, apr_size_t len,
                       unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, AOIDC_KEY_LEN, data, len, out, &n);
}
