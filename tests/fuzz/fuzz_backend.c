/* libFuzzer target for what the backend gets (aoidc_backend.c): the prefix
 * test on client header names and the claim names and values (provider
 * input) turned into headers and variables. The input is NUL-separated
 * fields: the claim prefix, then alternately claim names and values (the
 * first byte of the prefix field, mod 2, picks whether header names are
 * tested against the prefix instead). Checks, beyond memory safety:
 *  - the prefix test equals a plain reference (case and '-'/'_' folded);
 *  - header names hold no '_', '.' or ':'; header values no control byte;
 *  - each value is its claim's values joined by ',' (length and order);
 *  - the variable is named by the plain claim path ("a\\.b" -> "a.b"), and the
 *    login's auth_time is never passed. */
#include "aoidc_backend.h"

#include <apr_general.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fold(int c)
{
    return c == '-' ? '_' : tolower(c);
}

static int ref_has_prefix(const char *name, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strlen(name) < pl) {
        return 0;
    }
    for (size_t i = 0; i < pl; i++) {
        if (fold((unsigned char)name[i]) != fold((unsigned char)prefix[i])) {
            return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        apr_initialize();
        init = 1;
    }
    if (size < 1 || size > 65536) {
        return 0;
    }
    /* a NUL-terminated private copy split into fields */
    char *buf = malloc(size + 1);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    const char *fields[256] = {buf};
    int nf = 0;
    for (char *s = buf; s <= buf + size - 1 && nf < 256; s += strlen(s) + 1) {
        fields[nf++] = s;
    }
    const char *prefix = fields[0];
    if (data[0] & 1) {
        for (int i = 1; i < nf; i++) {
            if (aoidc_backend_name_has_prefix(fields[i], prefix) != ref_has_prefix(fields[i], prefix)) {
                __builtin_trap();
            }
        }
        free(buf);
        return 0;
    }
    int nc = (nf - 1) / 2;
    aoidc_claim_t *claims = malloc(sizeof(*claims) * (size_t)(nc ? nc : 1));
    for (int i = 0; i < nc; i++) {
        claims[i] = (aoidc_claim_t){fields[1 + 2 * i], fields[2 + 2 * i]};
    }
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    apr_array_header_t *vars = aoidc_backend_vars(p, prefix, claims, nc);
    int at = 0;
    for (int v = 0; v < vars->nelts; v++) {
        const aoidc_backend_var_t *var = &APR_ARRAY_IDX(vars, v, aoidc_backend_var_t);
        /* the runs of auth_time are left out */
        while (at < nc && strcmp(claims[at].name, AOIDC_CLAIM_AUTH_TIME) == 0) {
            at++;
        }
        if (at >= nc) {
            __builtin_trap();
        }
        const char *name = claims[at].name;
        const char *plain = aoidc_claim_path_plain(p, name);
        size_t want = 0, pl = strlen(prefix);
        int k = 0;
        for (; at + k < nc && strcmp(claims[at + k].name, name) == 0; k++) {
            want += strlen(claims[at + k].value) + (k > 0);
        }
        if (k == 0 || strlen(var->value) != want || strlen(var->header_value) != want ||
            strncmp(var->env, prefix, pl) != 0 || strcmp(var->env + pl, plain) != 0 ||
            strlen(var->header) != pl + strlen(plain) || strpbrk(var->header, "_.:")) {
            __builtin_trap();
        }
        /* values in order, ',' between */
        const char *c = var->value;
        for (int j = 0; j < k; j++) {
            size_t l = strlen(claims[at + j].value);
            if (memcmp(c, claims[at + j].value, l) != 0 || (j + 1 < k && c[l] != ',')) {
                __builtin_trap();
            }
            c += l + 1;
        }
        for (const char *h = var->header_value; *h; h++) {
            if ((unsigned char)*h < 0x20 || *h == 0x7f) {
                __builtin_trap();
            }
        }
        at += k;
    }
    while (at < nc && strcmp(claims[at].name, AOIDC_CLAIM_AUTH_TIME) == 0) {
        at++;
    }
    if (at != nc) {
        __builtin_trap();
    }
    /* the buffer functions refuse a buffer one byte short */
    if (nc > 0) {
        const char **vals = malloc(sizeof(*vals) * (size_t)nc);
        for (int i = 0; i < nc; i++) {
            vals[i] = claims[i].value;
        }
        apr_size_t need = aoidc_backend_join_size(vals, nc);
        char *out = malloc(need);
        if (aoidc_backend_join(vals, nc, 1, out, need - 1) != -1 ||
            aoidc_backend_join(vals, nc, 1, out, need) != (long)need - 1) {
            __builtin_trap();
        }
        free(out);
        free(vals);
    }
    apr_pool_destroy(p);
    free(claims);
    free(buf);
    return 0;
}
