/* Login state cookies. */
#include "aoidc_state.h"
#include "aoidc_util.h"

#include <apr_strings.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

apr_status_t aoidc_state_new(apr_pool_t *p, const char *provider, const char *return_to, apr_int64_t now,
                             aoidc_login_state_t **out)
{
    aoidc_login_state_t *st = apr_pcalloc(p, sizeof(*st));
    st->state = aoidc_random_token(p, 32);
    st->nonce = aoidc_random_token(p, 32);
    st->verifier = aoidc_random_token(p, 48);
    if (!st->state || !st->nonce || !st->verifier) {
        return APR_EGENERAL;
    }
    st->provider = provider;
    st->return_to = return_to;
    st->created = now;
    st->max_age = -1;
    *out = st;
    return APR_SUCCESS;
}

int aoidc_state_param_ok(const char *state)
{
    return aoidc_b64url_is(state, AOIDC_STATE_LEN);
}

const char *aoidc_state_cookie_name(apr_pool_t *p, const char *state)
{
    return apr_pstrcat(p, AOIDC_STATE_COOKIE_PREFIX, apr_pstrndup(p, state, AOIDC_STATE_NAME_CHARS), NULL);
}

apr_status_t aoidc_state_encode(apr_pool_t *p, const aoidc_keys_t *keys, const aoidc_login_state_t *st,
                                const char **value)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "s", st->state, "n", st->nonce, "v", st->verifier,
                          "r", st->return_to, "p", st->provider, "t", (json_int_t)st->created);
    if (!o) {
        return APR_EGENERAL;
    }
    if (st->max_age >= 0 && json_object_set_new(o, "m", json_integer(st->max_age)) != 0) {
        json_decref(o);
        return APR_EGENERAL;
    }
    char *js = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!js) {
        return APR_ENOMEM;
    }
    const char *name = aoidc_state_cookie_name(p, st->state);
    unsigned char *ct;
    apr_size_t ctlen;
    apr_status_t rv = aoidc_keys_seal(p, keys, AOIDC_KEY_STATE, name, strlen(name), js, strlen(js), &ct, &ctlen);
    free(js);
    if (rv == APR_SUCCESS) {
        *value = aoidc_b64url_encode(p, ct, ctlen);
    }
    return rv;
}

static const char *member(apr_pool_t *p, json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? apr_pstrdup(p, json_string_value(v)) : NULL;
}

apr_status_t aoidc_state_decode(apr_pool_t *p, const aoidc_keys_t *keys, const char *cookie_name,
                                const char *value, aoidc_login_state_t **out)
{
    unsigned char *ct, *pt;
    apr_size_t ctlen, ptlen;
    apr_status_t rv = aoidc_b64url_decode(p, value, strlen(value), AOIDC_STATE_COOKIE_MAX, &ct, &ctlen);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = aoidc_keys_open(p, keys, AOIDC_KEY_STATE, cookie_name, strlen(cookie_name), ct, ctlen, &pt, &ptlen, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    json_error_t jerr;
    json_t *o = json_loadb((const char *)pt, ptlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return APR_EINVAL;
    }
    aoidc_login_state_t *st = apr_pcalloc(p, sizeof(*st));
    st->state = member(p, o, "s");
    st->nonce = member(p, o, "n");
    st->verifier = member(p, o, "v");
    st->return_to = member(p, o, "r");
    st->provider = member(p, o, "p");
    json_t *t = json_object_get(o, "t");
    st->created = json_is_integer(t) ? (apr_int64_t)json_integer_value(t) : 0;
    json_t *m = json_object_get(o, "m");
    st->max_age = -1;
    if (m) {
        json_int_t mv = json_is_integer(m) ? json_integer_value(m) : -1;
        if (mv < 0 || mv > AOIDC_STATE_MAX_AGE_MAX) {
            json_decref(o);
            return APR_EINVAL;
        }
        st->max_age = (int)mv;
    }
    json_decref(o);
    if (!st->state || !st->nonce || !st->verifier || !st->return_to || !st->provider || !st->created) {
        return APR_EINVAL;
    }
    *out = st;
    return APR_SUCCESS;
}

const char *aoidc_pkce_challenge(apr_pool_t *p, const char *verifier)
{
    unsigned char h[32];
    aoidc_sha256(verifier, strlen(verifier), h);
    return aoidc_b64url_encode(p, h, sizeof(h));
}

/* --- single-use markers -------------------------------------------------- */

#define MARKER_HANDLE_LEN 43

const char *aoidc_state_used_key(apr_pool_t *p, const char *state)
{
    static const char tag[] = "aoidc state v1";
    unsigned char digest[32];
    apr_size_t ls = strlen(state);
    char *buf = apr_palloc(p, sizeof(tag) + ls);
    memcpy(buf, tag, sizeof(tag)); /* with its NUL */
    memcpy(buf + sizeof(tag), state, ls);
    aoidc_sha256(buf, sizeof(tag) + ls, digest);
    return apr_pstrcat(p, "aoidc:l:", aoidc_b64url_encode(p, digest, sizeof(digest)), NULL);
}

long aoidc_state_ttl_left(const aoidc_login_state_t *st, apr_int64_t now)
{
    apr_int64_t left = st->created + AOIDC_STATE_TTL - now;
    return left < 1 ? 1 : left > AOIDC_STATE_TTL ? AOIDC_STATE_TTL : (long)left;
}

static int handle_ok(const char *h, apr_size_t len)
{
    if (len != MARKER_HANDLE_LEN) {
        return 0;
    }
    for (apr_size_t i = 0; i < len; i++) {
        if (!aoidc_b64url_char((unsigned char)h[i])) {
            return 0;
        }
    }
    return 1;
}

const char *aoidc_state_marker_done(apr_pool_t *p, const char *handle, const char *return_to)
{
    if (!handle || !return_to || !handle_ok(handle, strlen(handle)) || strlen(return_to) > AOIDC_STATE_RETURN_MAX ||
        !aoidc_is_local_path(return_to)) {
        return NULL;
    }
    return apr_pstrcat(p, "S ", handle, " ", return_to, NULL);
}

int aoidc_state_marker_parse(apr_pool_t *p, const char *val, apr_size_t len, const char **handle,
                             const char **return_to)
{
    if (len == 1 && val[0] == AOIDC_STATE_MARKER_PENDING[0]) {
        return 0;
    }
    /* "S " handle " " return_to */
    if (len < 2 + MARKER_HANDLE_LEN + 2 || len > 2 + MARKER_HANDLE_LEN + 1 + AOIDC_STATE_RETURN_MAX ||
        memchr(val, '\0', len) || val[0] != 'S' || val[1] != ' ' || !handle_ok(val + 2, MARKER_HANDLE_LEN) ||
        val[2 + MARKER_HANDLE_LEN] != ' ') {
        return -1;
    }
    const char *to = apr_pstrmemdup(p, val + 3 + MARKER_HANDLE_LEN, len - 3 - MARKER_HANDLE_LEN);
    if (!aoidc_is_local_path(to)) {
        return -1;
    }
    *handle = apr_pstrmemdup(p, val + 2, MARKER_HANDLE_LEN);
    *return_to = to;
    return 1;
}
