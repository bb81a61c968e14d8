/* Node configuration snapshots (see aoidc_node.h). Core file: APR, jansson. */
#include "aoidc_node.h"
#include "aoidc_util.h"

#include <apr_strings.h>
#include <apr_time.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define NODE_CAS_RETRIES 8

static int name_ok(const char *n)
{
    apr_size_t len = 0;
    if (!n) {
        return 0;
    }
    for (const char *c = n; *c; c++, len++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
              *c == '_' || *c == '.')) {
            return 0;
        }
    }
    return len > 0 && len <= AOIDC_NODE_NAME_MAX;
}

const char *aoidc_node_key(apr_pool_t *p, const char *node)
{
    return name_ok(node) ? apr_pstrcat(p, "aoidc:n:", node, NULL) : NULL;
}

const char *aoidc_node_key_id(apr_pool_t *p, const aoidc_keys_t *keys)
{
    static const char label[] = "aoidc key id v1";
    unsigned char mac[32];
    /* an HMAC under a derived key: comparing nodes needs no secret */
    aoidc_hmac_sha256(keys->index, label, sizeof(label) - 1, mac);
    char *hex = apr_palloc(p, 17);
    for (int i = 0; i < 8; i++) {
        apr_snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    }
    return hex;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static apr_int64_t secs(apr_time_t t)
{
    return t > 0 ? (apr_int64_t)apr_time_sec(t) : 0;
}

static json_t *fetch_json(apr_time_t fetched, apr_time_t tried, const char *error)
{
    return json_pack("{s:I, s:I, s:o}", "fetched", (json_int_t)secs(fetched), "tried", (json_int_t)secs(tried),
                     "error", (error && *error) ? json_string(error) : json_null());
}

static json_t *provider_json(apr_pool_t *p, aoidc_provider_t *pr)
{
    aoidc_provider_status_t stt;
    aoidc_provider_status(pr, p, &stt);
    json_t *algs = json_array();
    for (int i = 0; pr->id_token_algs && pr->id_token_algs[i]; i++) {
        json_array_append_new(algs, json_string(pr->id_token_algs[i]));
    }
    json_t *keys = json_array();
    for (int i = 0; i < stt.kids->nelts; i++) {
        json_array_append_new(keys, json_pack("{s:s, s:s}", "kid", APR_ARRAY_IDX(stt.kids, i, const char *), "kty",
                                              APR_ARRAY_IDX(stt.ktys, i, const char *)));
    }
    const aoidc_provider_meta_t *m = &stt.meta;
    json_t *endpoints = stt.have_meta
                            ? json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "authorization",
                                        str_or_null(m->authorization_endpoint), "token",
                                        str_or_null(m->token_endpoint), "userinfo", str_or_null(m->userinfo_endpoint),
                                        "end_session", str_or_null(m->end_session_endpoint), "jwks",
                                        str_or_null(m->jwks_uri), "introspection",
                                        str_or_null(m->introspection_endpoint))
                            : json_null();
    json_t *locs = json_array();
    for (int i = 0; pr->locations && i < pr->locations->nelts; i++) {
        json_array_append_new(locs, json_string(APR_ARRAY_IDX(pr->locations, i, const char *)));
    }
    /* deliberately absent: client_secret, secret_file */
    json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:o, s:o, s:o, s:o}", "name", pr->name, "issuer",
                     pr->issuer, "client_id", pr->client_id, "scope", pr->scope ? pr->scope : "", "token_auth",
                     pr->auth_method == AOIDC_AUTH_CLIENT_SECRET_POST ? "client_secret_post" : "client_secret_basic",
                     "id_token_algs", algs, "userinfo", pr->userinfo, "endpoints", endpoints, "keys", keys,
                     "discovery", fetch_json(stt.meta_fetched, stt.meta_tried, stt.meta_error), "jwks",
                     fetch_json(stt.jwks_tried && !*stt.jwks_error ? stt.jwks_fetched : 0, stt.jwks_tried,
                                stt.jwks_error));
    if (out) {
        /* issue 13: what the console shows of several providers */
        json_object_set_new(out, "display_name", json_string(pr->display_name ? pr->display_name : pr->name));
        json_object_set_new(out, "userinfo_mode", json_string(pr->userinfo == AOIDC_USERINFO_AUTO ? "auto"
                                                              : pr->userinfo == AOIDC_USERINFO_ON ? "on"
                                                                                                  : "off"));
        json_object_set_new(out, "locations", locs);
    }
    else {
        json_decref(locs);
    }
    return out;
}

const char *aoidc_node_snapshot_json(apr_pool_t *p, const aoidc_node_info_t *in)
{
    json_t *providers = json_array();
    for (int i = 0; in->providers && i < in->providers->nelts; i++) {
        json_t *pj = provider_json(p, APR_ARRAY_IDX(in->providers, i, aoidc_provider_t *));
        if (pj) {
            json_array_append_new(providers, pj);
        }
    }
    json_t *session = json_pack("{s:o, s:o, s:b, s:o, s:i, s:i, s:i, s:i}", "store", str_or_null(in->store),
                                "cookie_name", str_or_null(in->cookie_name), "cookie_secure", in->cookie_secure,
                                "cookie_samesite", str_or_null(in->cookie_samesite), "inactivity", in->inactivity,
                                "max_lifetime", in->max_lifetime, "touch_interval", in->touch_interval, "clock_skew",
                                in->clock_skew);
    json_t *uris = json_pack("{s:o, s:o, s:o}", "redirect", str_or_null(in->redirect_uri), "logout",
                             str_or_null(in->logout_uri), "backchannel_logout", str_or_null(in->backchannel_uri));
    json_t *o = json_pack("{s:s, s:s, s:I, s:i, s:o, s:o, s:o, s:o}", "node", in->node, "version",
                          in->version ? in->version : "", "published", (json_int_t)in->published, "pid", in->pid,
                          "key_id", str_or_null(in->key_id), "session", session, "uris", uris, "providers", providers);
    if (!o) {
        return NULL;
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!text) {
        return NULL;
    }
    const char *out = apr_pstrdup(p, text);
    free(text);
    return out;
}

/* Parse the index text into a JSON object of name -> time ({} when absent
 * or garbage). New reference. */
static json_t *index_parse(const char *val, apr_size_t len)
{
    json_error_t jerr;
    json_t *o = val ? json_loadb(val, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    json_t *nodes = json_is_object(o) ? json_object_get(o, "nodes") : NULL;
    json_t *out = json_is_object(nodes) ? json_deep_copy(nodes) : json_object();
    json_decref(o);
    return out;
}

typedef struct {
    const char *node;
    apr_int64_t now;
} index_add_t;

/* the index with this node heard of now, names not heard of within the TTL
 * dropped, then the longest silent beyond AOIDC_NODE_INDEX_MAX */
static apr_status_t index_with(void *baton, apr_pool_t *p, const char *old, apr_size_t oldlen, const void **val,
                               apr_size_t *len)
{
    index_add_t *ia = baton;
    json_t *nodes = index_parse(old, oldlen);
    json_object_set_new(nodes, ia->node, json_integer((json_int_t)ia->now));
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(nodes, tmp, k, v) {
        if (!json_is_integer(v) || json_integer_value(v) < ia->now - AOIDC_NODE_TTL) {
            json_object_del(nodes, k);
        }
    }
    while (json_object_size(nodes) > AOIDC_NODE_INDEX_MAX) {
        const char *oldest = NULL;
        json_int_t ot = 0;
        json_object_foreach(nodes, k, v) {
            if (!oldest || json_integer_value(v) < ot) {
                oldest = k;
                ot = json_integer_value(v);
            }
        }
        json_object_del(nodes, oldest);
    }
    json_t *o = json_pack("{s:o}", "nodes", nodes);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!text) {
        return APR_ENOMEM;
    }
    *len = strlen(text);
    *val = apr_pmemdup(p, text, *len + 1);
    free(text);
    return APR_SUCCESS;
}

static apr_status_t index_update(aoidc_store_t *st, apr_pool_t *p, const char *node, apr_int64_t now)
{
    index_add_t ia = {node, now};
    return aoidc_store_update(st, p, AOIDC_NODE_INDEX_KEY, AOIDC_NODE_TTL, NODE_CAS_RETRIES, index_with, &ia);
}

apr_status_t aoidc_node_publish(aoidc_store_t *st, apr_pool_t *p, const aoidc_node_info_t *in)
{
    const char *key = aoidc_node_key(p, in->node);
    if (!key) {
        return APR_EINVAL;
    }
    const char *json = aoidc_node_snapshot_json(p, in);
    if (!json) {
        return APR_ENOMEM;
    }
    if (st->set(st, key, json, strlen(json), AOIDC_NODE_TTL) != AOIDC_STORE_OK) {
        return APR_EGENERAL;
    }
    return index_update(st, p, in->node, in->published);
}

apr_status_t aoidc_node_read_index(aoidc_store_t *st, apr_pool_t *p, apr_array_header_t **names,
                                   apr_array_header_t **published)
{
    char *val = NULL;
    apr_size_t len = 0;
    *names = apr_array_make(p, 8, sizeof(const char *));
    *published = apr_array_make(p, 8, sizeof(apr_int64_t));
    aoidc_store_rc_t rc = st->get(st, p, AOIDC_NODE_INDEX_KEY, &val, &len, NULL);
    if (rc == AOIDC_STORE_MISSING) {
        return APR_SUCCESS;
    }
    if (rc != AOIDC_STORE_OK) {
        return APR_EGENERAL;
    }
    json_t *nodes = index_parse(val, len);
    const char *k;
    json_t *v;
    /* jansson keeps insertion order; the index is written with sorted keys */
    json_object_foreach(nodes, k, v) {
        if (name_ok(k) && json_is_integer(v)) {
            APR_ARRAY_PUSH(*names, const char *) = apr_pstrdup(p, k);
            APR_ARRAY_PUSH(*published, apr_int64_t) = (apr_int64_t)json_integer_value(v);
        }
    }
    json_decref(nodes);
    return APR_SUCCESS;
}

apr_status_t aoidc_node_read(aoidc_store_t *st, apr_pool_t *p, const char *node, const char **json)
{
    const char *key = aoidc_node_key(p, node);
    char *val;
    apr_size_t len;
    if (!key) {
        return APR_EINVAL;
    }
    aoidc_store_rc_t rc = st->get(st, p, key, &val, &len, NULL);
    if (rc == AOIDC_STORE_MISSING) {
        return APR_NOTFOUND;
    }
    if (rc != AOIDC_STORE_OK) {
        return APR_EGENERAL;
    }
    *json = val;
    return APR_SUCCESS;
}

/* Drop what changes without news: times and the process id. */
static void strip_volatile(json_t *j)
{
    static const char *const vol[] = {"published", "pid", "fetched", "tried", NULL};
    if (json_is_object(j)) {
        for (int i = 0; vol[i]; i++) {
            json_object_del(j, vol[i]);
        }
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            strip_volatile(v);
        }
    }
    else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            strip_volatile(v);
        }
    }
}

apr_status_t aoidc_node_publish_if_changed(aoidc_store_t *st, apr_pool_t *p, const aoidc_node_info_t *in,
                                           apr_int64_t max_age, int *written)
{
    const char *old = NULL, *cur = aoidc_node_snapshot_json(p, in);
    *written = 0;
    if (cur && aoidc_node_read(st, p, in->node, &old) == APR_SUCCESS) {
        json_error_t jerr;
        json_t *a = json_loads(old, 0, &jerr), *b = json_loads(cur, 0, &jerr);
        json_t *pub = json_object_get(a, "published");
        int fresh = json_is_integer(pub) && json_integer_value(pub) > in->published - max_age;
        strip_volatile(a);
        strip_volatile(b);
        int same = a && b && json_equal(a, b);
        json_decref(a);
        json_decref(b);
        if (fresh && same) {
            return APR_SUCCESS;
        }
    }
    *written = 1;
    return aoidc_node_publish(st, p, in);
}
