/* Encoding, randomness and small checks shared by the core. */
#include "aoidc_util.h"

#include <apr_strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

char *aoidc_b64url_encode(apr_pool_t *p, const unsigned char *in, apr_size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    /* 4 characters per whole 3 bytes, 2 or 3 for a rest of 1 or 2, a NUL:
     * computed in apr_size_t (apr_base64_encode_len takes an int) */
    apr_size_t size = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0) + 1;
    char *out = apr_palloc(p, size), *o = out;
    apr_size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        *o++ = abc[v >> 6 & 63];
        *o++ = abc[v & 63];
    }
    if (len - i == 1) {
        *o++ = abc[in[i] >> 2];
        *o++ = abc[(in[i] & 3) << 4];
    }
    else if (len - i == 2) {
        unsigned v = (unsigned)in[i] << 8 | in[i + 1];
        *o++ = abc[v >> 10 & 63];
        *o++ = abc[v >> 4 & 63];
        *o++ = abc[(v & 15) << 2];
    }
    *o = '\0';
    return out;
}

int aoidc_b64url_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int aoidc_b64url_is(const char *s, apr_size_t len)
{
    if (!s) {
        return 0;
    }
    apr_size_t n = 0;
    for (; n < len && aoidc_b64url_char((unsigned char)s[n]); n++) {
    }
    return n == len && s[n] == '\0';
}

/* The 6-bit value of a base64url character (already checked). */
static unsigned b64url_value(char c)
{
    return c >= 'A' && c <= 'Z'   ? (unsigned)(c - 'A')
           : c >= 'a' && c <= 'z' ? (unsigned)(c - 'a' + 26)
           : c >= '0' && c <= '9' ? (unsigned)(c - '0' + 52)
           : c == '-'             ? 62u
                                  : 63u;
}

apr_status_t aoidc_b64url_decode(apr_pool_t *p, const char *in, apr_size_t inlen, apr_size_t max_in,
                                 unsigned char **out, apr_size_t *outlen)
{
    if (inlen > max_in) {
        return APR_ENOSPC;
    }
    /* strip trailing padding, then refuse anything outside the alphabet */
    while (inlen > 0 && in[inlen - 1] == '=') {
        inlen--;
    }
    if (inlen % 4 == 1) {
        return APR_EINVAL;
    }
    for (apr_size_t i = 0; i < inlen; i++) {
        if (!aoidc_b64url_char((unsigned char)in[i])) {
            return APR_EINVAL;
        }
    }
    /* the last character of a 2- or 3-character group carries 4 or 2 bits
     * that no byte uses: they must be zero (RFC 4648 section 3.5) */
    if ((inlen % 4 == 2 && (b64url_value(in[inlen - 1]) & 0x0f)) ||
        (inlen % 4 == 3 && (b64url_value(in[inlen - 1]) & 0x03))) {
        return APR_EINVAL;
    }
    apr_size_t padded = (inlen + 3) / 4 * 4;
    char *std = apr_palloc(p, padded + 1);
    for (apr_size_t i = 0; i < inlen; i++) {
        char c = in[i];
        std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    for (apr_size_t i = inlen; i < padded; i++) {
        std[i] = '=';
    }
    std[padded] = '\0';
    /* EVP_DecodeBlock does strict decoding but reports padded length */
    unsigned char *buf = apr_palloc(p, padded / 4 * 3 + 1);
    int n = padded ? EVP_DecodeBlock(buf, (const unsigned char *)std, (int)padded) : 0;
    if (n < 0) {
        return APR_EINVAL;
    }
    n -= (int)(padded - inlen);
    buf[n] = '\0';
    *out = buf;
    *outlen = (apr_size_t)n;
    return APR_SUCCESS;
}

apr_status_t aoidc_random(unsigned char *buf, apr_size_t len)
{
    return RAND_bytes(buf, (int)len) == 1 ? APR_SUCCESS : APR_EGENERAL;
}

char *aoidc_random_token(apr_pool_t *p, apr_size_t nbytes)
{
    unsigned char buf[64];
    if (nbytes > sizeof(buf) || aoidc_random(buf, nbytes) != APR_SUCCESS) {
        return NULL;
    }
    return aoidc_b64url_encode(p, buf, nbytes);
}

int aoidc_ct_equal(const void *a, apr_size_t alen, const void *b, apr_size_t blen)
{
    if (alen != blen) {
        return 0;
    }
    return CRYPTO_memcmp(a, b, alen) == 0;
}

/* Fetched once: an implicit EVP_sha256() costs a provider lookup per call.
 * And one digest context per thread, kept: creating and freeing one was
 * most of the cost of hashing a session id (the request path hashes one per
 * request). Freed when the thread ends. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static pthread_key_t md_ctx_key;
static int md_ctx_key_ok;

static void free_md_ctx(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    md_ctx_key_ok = pthread_key_create(&md_ctx_key, free_md_ctx) == 0;
}

void aoidc_sha256(const void *in, apr_size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    pthread_once(&sha256_once, fetch_sha256);
    const EVP_MD *md = sha256_md ? sha256_md : EVP_sha256();
    EVP_MD_CTX *ctx = md_ctx_key_ok ? pthread_getspecific(md_ctx_key) : NULL;
    if (!ctx && md_ctx_key_ok && (ctx = EVP_MD_CTX_new()) != NULL && pthread_setspecific(md_ctx_key, ctx) != 0) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    if (ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, in, len) == 1 &&
        EVP_DigestFinal_ex(ctx, out, &n) == 1) {
        return;
    }
    EVP_Digest(in, len, out, &n, md, NULL);
}

apr_int64_t aoidc_decimal(const char *s, apr_size_t len)
{
    if (!s || len == 0 || len > 19) {
        return -1;
    }
    apr_int64_t v = 0;
    for (apr_size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (APR_INT64_MAX - 9) / 10) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

char *aoidc_url_encode(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    apr_size_t len = strlen(s);
    char *out = apr_palloc(p, len * 3 + 1), *o = out;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
            *c == '.' || *c == '_' || *c == '~') {
            *o++ = (char)*c;
        }
        else {
            *o++ = '%';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
    }
    *o = '\0';
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

char *aoidc_url_decode(apr_pool_t *p, const char *s, apr_size_t len)
{
    char *out = apr_palloc(p, len + 1), *o = out;
    for (apr_size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0) {
                return NULL;
            }
            if (hi == 0 && lo == 0) {
                return NULL;
            }
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        }
        else if (s[i] == '+') {
            *o++ = ' ';
        }
        else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

int aoidc_is_local_path(const char *t)
{
    if (t == NULL || t[0] != '/') {
        return 0;
    }
    /* "//host" and "/\host" are read as another host by browsers */
    if (t[1] == '/' || t[1] == '\\') {
        return 0;
    }
    for (const unsigned char *c = (const unsigned char *)t; *c; c++) {
        if (*c < 0x21 || *c == 0x7f || *c == '\\') {
            return 0;
        }
    }
    /* encoded slash/backslash right after the leading slash */
    if (t[1] == '%' && (t[2] == '2' || t[2] == '5') &&
        (t[3] == 'f' || t[3] == 'F' || t[3] == 'c' || t[3] == 'C')) {
        return 0;
    }
    return 1;
}

int aoidc_query_param(apr_pool_t *p, const char *query, const char *name, const char **value)
{
    apr_size_t nlen = strlen(name);
    int found = 0;
    *value = NULL;
    if (query == NULL) {
        return 0;
    }
    const char *s = query;
    while (*s) {
        const char *amp = strchr(s, '&');
        apr_size_t plen = amp ? (apr_size_t)(amp - s) : strlen(s);
        const char *eq = memchr(s, '=', plen);
        apr_size_t klen = eq ? (apr_size_t)(eq - s) : plen;
        int match = klen == nlen && strncmp(s, name, nlen) == 0;
        if (!match && memchr(s, '%', klen)) {
            /* an encoded name ("st%61te") is the same parameter to any
             * decoder: it counts, so that a duplicate is seen */
            const char *k = aoidc_url_decode(p, s, klen);
            match = k && strcmp(k, name) == 0; /* a malformed name is not ours */
        }
        if (match) {
            if (found) {
                return -1;
            }
            found = 1;
            const char *v = eq ? eq + 1 : "";
            apr_size_t vlen = eq ? plen - klen - 1 : 0;
            *value = aoidc_url_decode(p, v, vlen);
            if (*value == NULL) {
                return -1;
            }
        }
        if (!amp) {
            break;
        }
        s = amp + 1;
    }
    return found;
}
