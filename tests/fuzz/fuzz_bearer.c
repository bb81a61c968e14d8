/* libFuzzer target for the bearer request parsing and the challenge
 * (aoidc_bearer.c): the input is "flags \n Authorization \n query \n realm",
 * each part a plain malloc'd string of exactly its length. Invariants: a
 * token found is a b64token within the limit; the challenge has no control
 * character and no quote or backslash inside its quoted values. */
#include "aoidc_bearer.h"

#include <apr_general.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the next part of the input up to '\n' (or the end), malloc'd */
static char *part(const uint8_t **d, const uint8_t *end)
{
    const uint8_t *nl = memchr(*d, '\n', (size_t)(end - *d));
    size_t n = (size_t)((nl ? nl : end) - *d);
    char *s = malloc(n + 1);
    if (!s) {
        abort();
    }
    memcpy(s, *d, n);
    s[n] = '\0';
    *d = nl ? nl + 1 : end;
    return s;
}

static void check_challenge(const char *h)
{
    if (strncmp(h, "Bearer realm=\"", 14) != 0) {
        __builtin_trap();
    }
    int quoted = 0, params = 0;
    for (const char *c = h; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\') {
            __builtin_trap();
        }
        if (*c == '"') {
            quoted = !quoted;
            params += quoted;
        }
    }
    if (quoted || params < 1 || params > 3) {
        __builtin_trap(); /* a quote inside a value would break this count */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        apr_initialize();
        init = 1;
    }
    if (size < 1) {
        return 0;
    }
    int flags = data[0];
    const uint8_t *d = data + 1, *end = data + size;
    char *auth = part(&d, end), *query = part(&d, end), *realm = part(&d, end);
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    const char *tok = NULL;
    aoidc_bearer_scheme(auth);
    aoidc_bearer_b64token_ok(auth);
    aoidc_bearer_rc_t rc =
        aoidc_bearer_find(p, (flags & 1) ? auth : NULL, (flags & 2) ? query : NULL, flags & 4, &tok);
    if ((rc == AOIDC_BEARER_OK) != (tok != NULL)) {
        __builtin_trap();
    }
    if (tok) {
        aoidc_bearer_is_jwt(tok);
    }
    if (tok && (!aoidc_bearer_b64token_ok(tok) || strlen(tok) > AOIDC_BEARER_TOKEN_MAX)) {
        __builtin_trap();
    }
    check_challenge(aoidc_bearer_challenge(p, realm, (flags & 8) ? query : NULL, (flags & 16) ? auth : NULL));
    apr_pool_destroy(p);
    free(auth);
    free(query);
    free(realm);
    return 0;
}
