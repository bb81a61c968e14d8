/* Store helpers shared by every backend. */
#include "aoidc_store.h"
#include "aoidc_util.h"

#include <apr_lib.h>
#include <apr_time.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *aoidc_store_rc_str(aoidc_store_rc_t rc)
{
    switch (rc) {
    case AOIDC_STORE_OK:
        return "ok";
    case AOIDC_STORE_MISSING:
        return "missing";
    case AOIDC_STORE_EXISTS:
        return "exists";
    case AOIDC_STORE_DOWN:
        return "down";
    case AOIDC_STORE_ERROR:
        break;
    }
    return "error";
}

int aoidc_store_usable(aoidc_store_t *s, apr_pool_t *p)
{
    return s && (!s->usable || s->usable(s, p));
}

int aoidc_store_settled(aoidc_store_t *s)
{
    return s && (!s->settled || s->settled(s));
}

void aoidc_store_mget(aoidc_store_t *s, apr_pool_t *p, aoidc_store_item_t *items, int n)
{
    if (n <= 0) {
        return;
    }
    if (s->mget) {
        s->mget(s, p, items, n);
        return;
    }
    for (int i = 0; i < n; i++) {
        items[i].val = NULL;
        items[i].len = 0;
        items[i].rc = s->get(s, p, items[i].key, &items[i].val, &items[i].len, NULL);
    }
}

void aoidc_store_backoff(int attempt)
{
    unsigned char b = 0;
    (void)aoidc_random(&b, 1);
    apr_sleep((apr_interval_time_t)(1000 * attempt + (b & 0x3ff)));
}

apr_status_t aoidc_store_write_back(aoidc_store_t *st, const char *key, const void *val, apr_size_t len, long ttl,
                                    int existed, uint64_t cas)
{
    aoidc_store_rc_t rc = !existed ? st->add(st, key, val, len, ttl)
                          : cas    ? st->cas(st, key, val, len, ttl, cas)
                                   : st->set(st, key, val, len, ttl);
    return rc == AOIDC_STORE_OK                                        ? APR_SUCCESS
           : rc == AOIDC_STORE_EXISTS || rc == AOIDC_STORE_MISSING ? APR_EAGAIN
                                                                       : APR_EGENERAL;
}

apr_status_t aoidc_store_update(aoidc_store_t *st, apr_pool_t *p, const char *key, long ttl, int retries,
                                aoidc_store_update_fn fn, void *baton)
{
    for (int attempt = 0; attempt < retries; attempt++) {
        char *old = NULL;
        apr_size_t oldlen = 0;
        uint64_t cas = 0;
        aoidc_store_rc_t rc = st->get(st, p, key, &old, &oldlen, &cas);
        if (rc != AOIDC_STORE_OK && rc != AOIDC_STORE_MISSING) {
            return APR_EGENERAL;
        }
        const void *val = NULL;
        apr_size_t len = 0;
        apr_status_t rv = fn(baton, p, rc == AOIDC_STORE_OK ? old : NULL, oldlen, &val, &len);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        rv = aoidc_store_write_back(st, key, val, len, ttl, rc == AOIDC_STORE_OK, cas);
        if (rv != APR_EAGAIN) {
            return rv;
        }
        aoidc_store_backoff(attempt);
    }
    return APR_EAGAIN;
}

int aoidc_store_metadump_line(apr_pool_t *p, const char *line, apr_size_t n, const char **key, long long *exp)
{
    apr_size_t i = 4;
    if (n < 5 || memcmp(line, "key=", 4) != 0) {
        return 0;
    }
    while (i < n && line[i] != ' ') {
        i++;
    }
    /* the key, percent-decoded (memcached's encoding never has '+') */
    char *k = memchr(line + 4, '+', i - 4) ? NULL : aoidc_url_decode(p, line + 4, i - 4);
    if (!k || !*k || strlen(k) > AOIDC_STORE_KEY_MAX) {
        return 0;
    }
    /* exp=N among the fields that follow */
    while (i < n) {
        while (i < n && line[i] == ' ') {
            i++;
        }
        if (n - i > 4 && memcmp(line + i, "exp=", 4) == 0) {
            i += 4;
            int neg = line[i] == '-';
            i += (apr_size_t)neg;
            long long v = 0;
            apr_size_t digits = 0;
            for (; i < n && line[i] >= '0' && line[i] <= '9' && digits < 18; i++, digits++) {
                v = v * 10 + (line[i] - '0');
            }
            if (digits == 0 || (i < n && line[i] != ' ')) {
                return 0;
            }
            *key = k;
            *exp = neg ? -v : v;
            return 1;
        }
        while (i < n && line[i] != ' ') {
            i++;
        }
    }
    return 0;
}

/* Parse "host[:port]" into host and port. Returns 0 on success. */
static int parse_server(apr_pool_t *p, const char *spec, char **host, unsigned *port)
{
    const char *colon = strrchr(spec, ':');
    *port = 11211;
    if (colon && strchr(spec, ']') == NULL && strchr(spec, ':') != colon) {
        return -1; /* bare IPv6 without brackets */
    }
    if (colon && (!strchr(spec, ']') || colon > strchr(spec, ']'))) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (*end != '\0' || v < 1 || v > 65535 || colon[1] == '\0') {
            return -1;
        }
        *port = (unsigned)v;
        *host = apr_pstrmemdup(p, spec, (apr_size_t)(colon - spec));
    }
    else {
        *host = apr_pstrdup(p, spec);
    }
    int v6 = **host == '[';
    if (v6) {
        apr_size_t n = strlen(*host);
        if (n < 3 || (*host)[n - 1] != ']') {
            return -1;
        }
        *host = apr_pstrmemdup(p, *host + 1, n - 2);
    }
    /* a host name or an address, nothing else ("127.0.0.1;11211" is a typo,
     * not a host to resolve at the first request) */
    for (const char *c = *host; *c; c++) {
        int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' ||
                 (v6 ? *c == ':' : *c == '-');
        if (!ok) {
            return -1;
        }
    }
    return **host ? 0 : -1;
}

const char *aoidc_store_servers_parse(apr_pool_t *p, const char *list, aoidc_store_servers_t *out)
{
    char *last, *copy = apr_pstrdup(p, list);
    long replicas = -1;
    memset(out, 0, sizeof(*out));
    for (char *tok = apr_strtok(copy, " \t,", &last); tok; tok = apr_strtok(NULL, " \t,", &last)) {
        if (strncmp(tok, "replicas=", 9) == 0) {
            char *end;
            replicas = strtol(tok + 9, &end, 10);
            if (tok[9] == '\0' || *end != '\0' || replicas < 0 || replicas >= AOIDC_STORE_SERVERS_MAX) {
                return apr_psprintf(p, "'%s': replicas= takes a number from 0 to %d", tok,
                                    AOIDC_STORE_SERVERS_MAX - 1);
            }
            continue;
        }
        char *host;
        unsigned port;
        if (parse_server(p, tok, &host, &port) != 0) {
            return apr_psprintf(p, "'%s' is not host[:port]", tok);
        }
        if (out->n == AOIDC_STORE_SERVERS_MAX) {
            return apr_psprintf(p, "more than %d memcached servers", AOIDC_STORE_SERVERS_MAX);
        }
        const char *name = strchr(host, ':') ? apr_psprintf(p, "[%s]:%u", host, port)
                                             : apr_psprintf(p, "%s:%u", host, port);
        for (int i = 0; i < out->n; i++) {
            if (strcasecmp(out->name[i], name) == 0) {
                return apr_psprintf(p, "server %s is listed twice", name);
            }
        }
        out->host[out->n] = host;
        out->port[out->n] = port;
        out->name[out->n++] = name;
    }
    if (out->n == 0) {
        return "no memcached server given";
    }
    if (replicas < 0) {
        replicas = out->n > 1 ? 1 : 0;
    }
    if (replicas >= out->n) {
        return apr_psprintf(p, "replicas=%ld needs at least %ld servers (each copy on its own server)", replicas,
                            replicas + 1);
    }
    out->replicas = (int)replicas;
    return NULL;
}

/* FNV-1a over the server name and the key, then a 64-bit finaliser
 * (splitmix64) so that nearby names still spread. */
static uint64_t weight(const char *server, const char *key)
{
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *c = (const unsigned char *)server; *c; c++) {
        h = (h ^ (uint64_t)apr_tolower(*c)) * 1099511628211ULL;
    }
    h = (h ^ 0xffu) * 1099511628211ULL; /* separator: "ab"+"c" differs from "a"+"bc" */
    for (const unsigned char *c = (const unsigned char *)key; *c; c++) {
        h = (h ^ *c) * 1099511628211ULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

void aoidc_store_order(const aoidc_store_servers_t *sv, const char *key, int *order)
{
    uint64_t w[AOIDC_STORE_SERVERS_MAX];
    int idx[AOIDC_STORE_SERVERS_MAX];
    int copies = sv->replicas + 1;
    for (int i = 0; i < sv->n; i++) {
        w[i] = weight(sv->name[i], key);
        idx[i] = i;
    }
    /* partial selection sort: the copies heaviest, ties by name order */
    for (int c = 0; c < copies && c < sv->n; c++) {
        int best = c;
        for (int j = c + 1; j < sv->n; j++) {
            if (w[idx[j]] > w[idx[best]] ||
                (w[idx[j]] == w[idx[best]] && strcmp(sv->name[idx[j]], sv->name[idx[best]]) < 0)) {
                best = j;
            }
        }
        int t = idx[c];
        idx[c] = idx[best];
        idx[best] = t;
        order[c] = idx[c];
    }
}
