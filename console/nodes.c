/* Node configuration snapshots (aoidc:n:index, aoidc:n:<node>), published by
 * each Apache node. The console does not depend on their exact shape: it
 * flattens each snapshot into "path = value" pairs, and flags the paths whose
 * values differ between nodes (volatile members such as timestamps excluded). */
#include "console.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

#define NODE_NAME_MAX 100
#define NODES_MAX 256

ocon_rc_t ocon_read_json(ocon_ctx_t *ctx, apr_pool_t *p, const char *key, json_t **out)
{
    char *v;
    apr_size_t n;
    *out = NULL;
    aoidc_store_rc_t rc = ctx->store->get(ctx->store, p, key, &v, &n, NULL);
    if (rc == AOIDC_STORE_MISSING) {
        return OCON_OK;
    }
    if (rc == AOIDC_STORE_DOWN) {
        return OCON_DOWN;
    }
    if (rc != AOIDC_STORE_OK) {
        return OCON_FAILED;
    }
    if (n > 0 && (v[0] == '{' || v[0] == '[')) {
        *out = json_loadb(v, n, JSON_REJECT_DUPLICATES, NULL);
    }
    if (!*out) {
        unsigned char *pt;
        apr_size_t ptlen;
        if (aoidc_keys_open(p, &ctx->keys, AOIDC_KEY_SESSION, key, strlen(key), (const unsigned char *)v, n, &pt,
                            &ptlen, NULL) == APR_SUCCESS) {
            *out = json_loadb((const char *)pt, ptlen, JSON_REJECT_DUPLICATES, NULL);
        }
    }
    return *out ? OCON_OK : OCON_FAILED;
}

static int node_name_ok(const char *s)
{
    apr_size_t n = 0;
    if (!s || !*s) {
        return 0;
    }
    for (; *s; s++, n++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_' || *s == '.') ||
            n >= NODE_NAME_MAX) {
            return 0;
        }
    }
    return 1;
}

const char *ocon_metrics_url_check(const char *tmpl)
{
    if (strncmp(tmpl, "https://", 8) != 0 && strncmp(tmpl, "http://", 7) != 0) {
        return "must start with http:// or https://";
    }
    if (strlen(tmpl) > 1000) {
        return "too long";
    }
    for (const char *s = tmpl; *s; s++) {
        if (*s == '{' && strncmp(s, "{node}", 6) == 0) {
            s += 5;
            continue;
        }
        if (strchr(" \t\"'<>{}\\`", *s) || (unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e) {
            return "blanks, quotes, angle brackets, backslashes and braces (but {node}) are not allowed";
        }
    }
    return NULL;
}

const char *ocon_metrics_url(apr_pool_t *p, const char *tmpl, const char *node)
{
    if (!tmpl || !node_name_ok(node)) {
        return NULL;
    }
    apr_array_header_t *parts = apr_array_make(p, 4, sizeof(const char *));
    const char *s = tmpl, *at;
    while ((at = strstr(s, "{node}")) != NULL) {
        APR_ARRAY_PUSH(parts, const char *) = apr_pstrndup(p, s, (apr_size_t)(at - s));
        APR_ARRAY_PUSH(parts, const char *) = node;
        s = at + 6;
    }
    APR_ARRAY_PUSH(parts, const char *) = s;
    return apr_array_pstrcat(p, parts, '\0');
}

static void add_name(json_t *out, const char *name)
{
    size_t i;
    json_t *v;
    if (!node_name_ok(name) || json_array_size(out) >= NODES_MAX) {
        return;
    }
    json_array_foreach(out, i, v)
    {
        if (!strcmp(json_string_value(v), name)) {
            return;
        }
    }
    json_array_append_new(out, json_string(name));
}

json_t *ocon_index_names(json_t *index)
{
    json_t *out = json_array(), *v;
    size_t i;
    const char *k;
    if (json_is_object(index) && json_object_get(index, "nodes")) {
        index = json_object_get(index, "nodes");
    }
    if (json_is_array(index)) {
        json_array_foreach(index, i, v)
        {
            if (json_is_string(v)) {
                add_name(out, json_string_value(v));
            }
            else if (json_is_object(v)) {
                json_t *n = json_object_get(v, "node");
                if (!json_is_string(n)) {
                    n = json_object_get(v, "name");
                }
                if (json_is_string(n)) {
                    add_name(out, json_string_value(n));
                }
            }
        }
    }
    else if (json_is_object(index)) {
        json_object_foreach(index, k, v)
        {
            add_name(out, k);
        }
    }
    return out;
}

static int volatile_key(const char *k)
{
    static const char *const names[] = {"node",   "node_name", "name_of_node", "updated", "published", "time",
                                        "now",    "timestamp", "started",      "pid",     "uptime",    "generation",
                                        "serial", "seq",       "hostname",     "fetched", "tried", NULL};
    apr_size_t n = strlen(k);
    for (int i = 0; names[i]; i++) {
        if (!strcmp(k, names[i])) {
            return 1;
        }
    }
    return (n > 3 && !strcmp(k + n - 3, "_at")) || (n > 5 && !strcmp(k + n - 5, "_time")) ||
           (n > 3 && !strcmp(k + n - 3, "_ts"));
}

static void flatten(json_t *out, const char *prefix, json_t *v, int depth)
{
    char buf[512];
    const char *k;
    json_t *c;
    size_t i;
    if (depth > 16 || json_object_size(out) > 4096) {
        return;
    }
    if (json_is_object(v)) {
        json_object_foreach(v, k, c)
        {
            if (volatile_key(k)) {
                continue;
            }
            if ((size_t)snprintf(buf, sizeof(buf), "%s%s%s", prefix, *prefix ? "." : "", k) >= sizeof(buf)) {
                continue; /* a path this long would be cut and could meet another: left out */
            }
            flatten(out, buf, c, depth + 1);
        }
        if (json_object_size(v) == 0 && *prefix) {
            json_object_set_new(out, prefix, json_string("{}"));
        }
    }
    else if (json_is_array(v)) {
        json_array_foreach(v, i, c)
        {
            if ((size_t)snprintf(buf, sizeof(buf), "%s[%zu]", prefix, i) >= sizeof(buf)) {
                continue;
            }
            flatten(out, buf, c, depth + 1);
        }
        if (json_array_size(v) == 0 && *prefix) {
            json_object_set_new(out, prefix, json_string("[]"));
        }
    }
    else if (json_is_string(v)) {
        json_object_set_new(out, *prefix ? prefix : "value", json_string(json_string_value(v)));
    }
    else {
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        json_object_set_new(out, *prefix ? prefix : "value", json_string(s ? s : "?"));
        free(s);
    }
}

json_t *ocon_flatten(json_t *v)
{
    json_t *out = json_object();
    if (v && !json_is_null(v)) {
        flatten(out, "", v, 0);
    }
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

json_t *ocon_differing(json_t *flats)
{
    json_t *all = json_object(), *f, *out = json_array(), *v;
    size_t i, n = json_array_size(flats);
    const char *k;
    json_array_foreach(flats, i, f)
    {
        json_object_foreach(f, k, v)
        {
            json_object_set(all, k, json_true());
        }
    }
    if (n > 1) {
        json_object_foreach(all, k, v)
        {
            const char *first = NULL;
            int differ = 0;
            json_array_foreach(flats, i, f)
            {
                json_t *x = json_object_get(f, k);
                const char *s = x ? json_string_value(x) : NULL;
                if (i == 0) {
                    first = s;
                }
                else if ((!first) != (!s) || (first && s && strcmp(first, s) != 0)) {
                    differ = 1;
                }
            }
            if (differ) {
                json_array_append_new(out, json_string(k));
            }
        }
    }
    json_decref(all);
    /* jansson keeps insertion order only since 2.14: sort for stable output */
    size_t m = json_array_size(out);
    if (m > 1) {
        json_t **items = malloc(m * sizeof(*items));
        if (!items) {
            return out; /* unsorted rather than nothing */
        }
        for (i = 0; i < m; i++) {
            items[i] = json_incref(json_array_get(out, i));
        }
        qsort(items, m, sizeof(*items), cmp_str);
        json_array_clear(out);
        for (i = 0; i < m; i++) {
            json_array_append_new(out, items[i]);
        }
        free(items);
    }
    return out;
}

json_t *ocon_snapshot_providers(json_t *snapshot)
{
    json_t *out = json_object(), *provs = json_object_get(snapshot, "providers"), *v;
    size_t i;
    const char *k;
    if (json_is_array(provs)) {
        json_array_foreach(provs, i, v)
        {
            json_t *n = json_object_get(v, "name");
            if (!json_is_string(n)) {
                n = json_object_get(v, "provider");
            }
            if (json_is_string(n) && ocon_value_ok(json_string_value(n))) {
                json_object_set(out, json_string_value(n), v);
            }
        }
    }
    else if (json_is_object(provs)) {
        json_object_foreach(provs, k, v)
        {
            if (ocon_value_ok(k)) {
                json_object_set(out, k, v);
            }
        }
    }
    return out;
}

ocon_rc_t ocon_nodes_load(ocon_ctx_t *ctx, apr_pool_t *p, json_t **out)
{
    json_t *index = NULL;
    *out = NULL;
    ocon_rc_t rc = ocon_read_json(ctx, p, "aoidc:n:index", &index);
    if (rc == OCON_DOWN) {
        return rc;
    }
    json_t *names = ocon_index_names(index), *nodes = json_array(), *flats = json_array(), *name;
    size_t i;
    json_decref(index);
    json_array_foreach(names, i, name)
    {
        const char *node = json_string_value(name);
        json_t *snap = NULL;
        rc = ocon_read_json(ctx, p, apr_pstrcat(p, "aoidc:n:", node, NULL), &snap);
        if (rc == OCON_DOWN) {
            json_decref(names);
            json_decref(nodes);
            json_decref(flats);
            return rc;
        }
        json_t *flat = ocon_flatten(snap);
        json_array_append(flats, flat);
        json_t *entry = json_pack("{s:s, s:o, s:o, s:b}", "node", node, "snapshot", snap ? snap : json_null(),
                                  "flat", flat, "readable", rc == OCON_OK && snap != NULL);
        const char *murl = ocon_metrics_url(p, ctx->cfg->metrics_url, node);
        if (murl) {
            json_object_set_new(entry, "metrics_url", json_string(murl));
        }
        json_array_append_new(nodes, entry);
    }
    json_t *diff = ocon_differing(flats);
    json_decref(flats);
    json_decref(names);
    *out = json_pack("{s:o, s:o}", "nodes", nodes, "differing", diff);
    return OCON_OK;
}

/* issue 13: a provider's display name (the first node's, else its name) and
 * the locations that use it, per node, and whether every node agrees. */
void ocon_provider_usage(json_t *entry, const char *name, json_t *pnodes)
{
    json_t *by = json_object(), *cfg, *first = NULL, *v;
    const char *node, *display = NULL;
    int same = 1;
    size_t i;
    json_object_foreach(pnodes, node, cfg)
    {
        json_t *dn = json_object_get(cfg, "display_name"), *locs;
        if (!display && json_is_string(dn) && *json_string_value(dn)) {
            display = json_string_value(dn);
        }
        if (!json_is_array(json_object_get(cfg, "locations"))) {
            continue; /* a node from before the snapshot named them: unknown, not none */
        }
        locs = json_array();
        json_array_foreach(json_object_get(cfg, "locations"), i, v)
        {
            if (json_is_string(v) && json_array_size(locs) < 1000) {
                json_array_append(locs, v);
            }
        }
        if (!first) {
            first = locs;
        }
        else if (!json_equal(first, locs)) {
            same = 0;
        }
        json_object_set_new(by, node, locs);
    }
    json_object_set_new(entry, "display_name", json_string(display ? display : name));
    json_object_set_new(entry, "locations", by);
    json_object_set_new(entry, "locations_same", json_boolean(same));
}

json_t *ocon_providers_from_nodes(ocon_ctx_t *ctx, apr_pool_t *p, json_t *nodes, int count_sessions)
{
    json_t *by = json_object(), *n, *out = json_array();
    size_t i;
    const char *name;
    json_t *v;
    json_array_foreach(json_object_get(nodes, "nodes"), i, n)
    {
        json_t *provs = ocon_snapshot_providers(json_object_get(n, "snapshot"));
        const char *node = json_string_value(json_object_get(n, "node"));
        json_object_foreach(provs, name, v)
        {
            json_t *e = json_object_get(by, name);
            if (!e) {
                e = json_object();
                json_object_set_new(by, name, e);
            }
            json_object_set(e, node, v);
        }
        json_decref(provs);
    }
    if (ctx && ctx->cfg->providers) {
        char *last, *list = apr_pstrdup(p, ctx->cfg->providers);
        for (char *t = apr_strtok(list, " \t,", &last); t; t = apr_strtok(NULL, " \t,", &last)) {
            if (!json_object_get(by, t)) {
                json_object_set_new(by, t, json_object());
            }
        }
    }
    size_t nnodes = json_array_size(json_object_get(nodes, "nodes"));
    json_object_foreach(by, name, v)
    {
        json_t *flats = json_array(), *missing = json_array(), *cfg;
        const char *node;
        json_object_foreach(v, node, cfg)
        {
            json_array_append_new(flats, ocon_flatten(cfg));
        }
        json_array_foreach(json_object_get(nodes, "nodes"), i, n)
        {
            const char *nn = json_string_value(json_object_get(n, "node"));
            if (!json_object_get(v, nn)) {
                json_array_append_new(missing, json_string(nn));
            }
        }
        json_t *e = json_pack("{s:s, s:O, s:o, s:o}", "name", name, "nodes", v, "differing", ocon_differing(flats),
                              "missing_on", missing);
        ocon_provider_usage(e, name, v);
        if (count_sessions && ctx) {
            json_object_set_new(e, "sessions", json_integer(ocon_provider_session_count(ctx, p, name)));
        }
        (void)nnodes;
        json_array_append_new(out, e);
        json_decref(flats);
    }
    json_decref(by);
    return json_pack("{s:o}", "providers", out);
}
