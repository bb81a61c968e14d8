/* libFuzzer target for what oidc-console parses from its web clients: the
 * first byte picks the parser (X-Forwarded-For behind a trusted proxy, an
 * address literal, the trusted_proxies setting, query strings and form
 * bodies with the parameter checks web_server.c applies, the console cookie
 * value, the login form fields, the User-Agent summary, the sort and the
 * search prefix). Inputs are copied
 * into exact-size malloc'd buffers so that ASan sees any read past them. */
#include "console.h"
#include "web.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_addr_text(const char *s)
{
    ocon_addr_t a;
    /* whatever we return as a client is "-" or an address we can parse back */
    if (strcmp(s, "-") != 0 && !ocon_addr_parse(s, strlen(s), &a)) {
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    static apr_pool_t *gp;
    static apr_array_header_t *proxies;
    if (!init) {
        apr_initialize();
        apr_pool_create(&gp, NULL);
        if (ocon_proxies_parse(gp, "127.0.0.1 ::1 10.0.0.2", &proxies)) {
            __builtin_trap();
        }
        init = 1;
    }
    if (size < 1) {
        return 0;
    }
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    size_t n = size - 1;
    char *raw = malloc(n ? n : 1); /* the bytes alone, no NUL */
    memcpy(raw, data + 1, n);
    char *s = malloc(n + 1); /* NUL-terminated (cut at the first NUL, as headers are) */
    memcpy(s, data + 1, n);
    s[n] = '\0';
    switch (data[0] % 9) {
    case 0: {
        const char *c = ocon_client_addr(p, "127.0.0.1", s, proxies);
        check_addr_text(c);
        check_addr_text(ocon_client_addr(p, "::1", s, proxies));
        if (strcmp(ocon_client_addr(p, "203.0.113.1", s, proxies), "203.0.113.1") != 0) {
            __builtin_trap(); /* an untrusted peer's header never counts */
        }
        break;
    }
    case 1: {
        ocon_addr_t a;
        if (ocon_addr_parse(raw, n, &a)) {
            check_addr_text(ocon_addr_text(p, &a));
        }
        break;
    }
    case 2: {
        apr_array_header_t *l;
        if (!ocon_proxies_parse(p, s, &l) && l->nelts > OCON_PROXIES_MAX) {
            __builtin_trap();
        }
        break;
    }
    case 3: {
        /* a query string as read_filter reads it */
        static const char *const names[] = {"user", "sub", "email", "name", "provider", "sid", "q", "page",
                                            "per_page", "revoked", "sort", "scan", NULL};
        const char *v = NULL;
        int num;
        ocon_only_params(s, names);
        for (int i = 0; names[i]; i++) {
            if (ocon_param(p, s, names[i], &v) == 1 && (!v || !ocon_value_ok(v))) {
                __builtin_trap();
            }
        }
        if (ocon_param(p, s, "page", &v) == 1) {
            ocon_param_int(v, 1, 1000000, &num);
        }
        ocon_sort_t so;
        if (ocon_param(p, s, "sort", &v) == 1 && ocon_sort_parse(v, &so) && strcmp(ocon_sort_name(so), v) != 0) {
            __builtin_trap();
        }
        if (ocon_param(p, s, "q", &v) == 1) {
            /* the search prefix against a session whose texts are the raw input */
            ocon_session_t sess;
            memset(&sess, 0, sizeof(sess));
            sess.handle = s;
            sess.s.user = sess.s.sub = sess.email = sess.name = s;
            ocon_prefix_matches(&sess, v);
        }
        break;
    }
    case 4: {
        /* a login / revoke form body */
        const char *user = NULL, *password = NULL, *csrf = NULL, *confirm = NULL;
        ocon_param(p, s, "user", &user);
        ocon_param(p, s, "password", &password);
        ocon_param(p, s, "csrf", &csrf);
        ocon_param(p, s, "confirm", &confirm);
        break;
    }
    case 5:
        /* the console cookie value, and a session handle from the path */
        ocon_handle_ok(s);
        break;
    case 6: {
        const char *u = ocon_ua_summary(p, s);
        for (const char *c = u; *c; c++) {
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) {
                __builtin_trap(); /* nothing a terminal or a page would obey */
            }
        }
        if (strlen(u) > 64) {
            __builtin_trap();
        }
        break;
    }
    case 7: {
        static const char *const routes[][2] = {
            {"/sessions/", ""}, {"/sessions/", "/revoke"}, {"/api/sessions/", "/revoke"}, {"/login", NULL}};
        const char *path, *query, *arg;
        ocon_split_target(p, s, &path, &query);
        /* path '?' query is the target again, and the path holds no '?' */
        if (strchr(path, '?') || strlen(path) + (strchr(s, '?') ? 1 + strlen(query) : 0) != strlen(s)) {
            __builtin_trap();
        }
        if (ocon_path_ok(path)) {
            for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
                if (ocon_route_match(p, path, routes[i][0], routes[i][1], &arg) && arg &&
                    (!*arg || strchr(arg, '/'))) {
                    __builtin_trap(); /* a handle argument is one non-empty segment */
                }
            }
            if (strstr(path, "/..") || strchr(path, '%')) {
                __builtin_trap();
            }
        }
        break;
    }
    case 8: {
        /* a body: the next byte picks the content type, the rest is the body (no NUL) */
        static const char *const ctypes[] = {"application/json", "application/x-www-form-urlencoded",
                                             "application/json; charset=utf-8", "text/plain", NULL};
        if (n < 1) {
            break;
        }
        ocon_body_t b;
        const char *v;
        int st = ocon_body_parse(p, ctypes[(unsigned char)raw[0] % 5], raw + 1, n - 1, &b);
        if (st == 0) {
            static const char *const names[] = {"user", "password", "provider", "sub", "confirm", "csrf"};
            for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if (ocon_body_param(p, &b, names[i], &v) == 1 && !ocon_value_ok(v)) {
                    __builtin_trap();
                }
            }
        }
        else if (b.json || b.form) {
            __builtin_trap(); /* a refused body leaves nothing behind */
        }
        json_decref(b.json);
        break;
    }
    }
    free(raw);
    free(s);
    apr_pool_destroy(p);
    return 0;
}
