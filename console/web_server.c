/* The web console on libmicrohttpd (the only file that includes it).
 *
 * One route table for the HTML pages and the JSON API. Every request gets its
 * own APR pool (created in the URI-log callback, which also hands us the raw
 * URI with its query string, destroyed when MHD reports completion).
 * Every state change is a POST that needs a logged-in admin, a CSRF token
 * bound to the console session (form field "csrf" / JSON "csrf_token" /
 * header X-CSRF-Token) and, when the browser says where it comes from
 * (Origin, Sec-Fetch-Site), the same origin. Input is bounded and checked
 * before use; anything malformed is a 4xx. */
#include "web.h"

#include "aoidc_util.h"

#include <apr_file_io.h>
#include <apr_strings.h>
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

#define BODY_MAX (16 * 1024)
#define URI_MAX 4096

typedef struct {
    ocon_ctx_t *ctx;
    ocon_auth_t *auth;
    int tls;
    const char *listen_host; /* Host header values we accept */
    int port;
} srv_t;

typedef struct {
    apr_pool_t *pool;
    const char *uri;
    char *body;
    apr_size_t body_len;
    int body_too_big;
    int started;
} req_t;

/* What a handler sees. */
typedef struct {
    srv_t *srv;
    struct MHD_Connection *con;
    req_t *r;
    apr_pool_t *p;
    const char *method, *path, *query;
    const char *client;
    const char *sid, *admin, *csrf;
    json_t *jbody;           /* JSON body, when the content type was JSON */
    const char *form;        /* form body, when urlencoded */
    int api;
} call_t;

typedef struct {
    int status;
    const char *ctype;
    const char *body;
    apr_size_t len;
    apr_table_t *headers;
} resp_t;

/* ---------------------------------------------------------------- responses */

static resp_t *resp(call_t *c, int status, const char *ctype, const char *body, apr_size_t len)
{
    resp_t *r = apr_pcalloc(c->p, sizeof(*r));
    r->status = status;
    r->ctype = ctype;
    r->body = body;
    r->len = len;
    r->headers = apr_table_make(c->p, 4);
    return r;
}

static resp_t *json_resp(call_t *c, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    const char *body = apr_pstrcat(c->p, s ? s : "{}", "\n", NULL);
    free(s);
    return resp(c, status, "application/json", body, strlen(body));
}

static resp_t *error_resp(call_t *c, int status, const char *msg)
{
    if (c->api) {
        return json_resp(c, status, json_pack("{s:s, s:i}", "error", msg, "status", status));
    }
    apr_size_t len;
    const char *b = ocon_render_error(c->p, status, msg, &len);
    return resp(c, status, "text/html; charset=utf-8", b, len);
}

/* body: a NUL-terminated page (its length is taken here, not from the
 * renderer's out-parameter, which an argument list could read too early). */
static resp_t *html_resp(call_t *c, int status, const char *body)
{
    return resp(c, status, "text/html; charset=utf-8", body, strlen(body));
}

static resp_t *redirect(call_t *c, const char *location)
{
    resp_t *r = resp(c, 303, "text/plain", "", 0);
    apr_table_set(r->headers, "Location", location);
    return r;
}

static const char *cookie_header(call_t *c, const char *value, int max_age)
{
    return apr_psprintf(c->p, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s", OCON_COOKIE, value,
                        c->srv->tls ? "; Secure" : "", max_age < 0 ? "; Max-Age=0" : "");
}

static int rc_status(ocon_rc_t rc)
{
    switch (rc) {
    case OCON_OK:
        return 200;
    case OCON_BAD_INPUT:
        return 400;
    case OCON_NOT_FOUND:
        return 404;
    case OCON_DOWN:
        return 503;
    default:
        return 500;
    }
}

/* ---------------------------------------------------------------- input */

/* A parameter from the query string (or form body): ocon_param. */
static int param(call_t *c, const char *src, const char *name, const char **out)
{
    return ocon_param(c->p, src, name, out);
}

/* A member from the body: JSON string member, or form field. */
static int body_param(call_t *c, const char *name, const char **out)
{
    ocon_body_t b = {c->form, c->jbody};
    return ocon_body_param(c->p, &b, name, out);
}

static const char *header(call_t *c, const char *name)
{
    return MHD_lookup_connection_value(c->con, MHD_HEADER_KIND, name);
}

static const char *peer_ip(call_t *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char buf[INET6_ADDRSTRLEN] = "-";
    if (ci && ci->client_addr) {
        if (ci->client_addr->sa_family == AF_INET) {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, buf, sizeof(buf));
        }
        else if (ci->client_addr->sa_family == AF_INET6) {
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, buf, sizeof(buf));
        }
    }
    return apr_pstrdup(c->p, buf);
}

static MHD_RESULT xff_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    apr_array_header_t *fields = cls;
    if (key && value && !strcasecmp(key, "X-Forwarded-For")) {
        APR_ARRAY_PUSH(fields, const char *) = value;
    }
    return MHD_YES;
}

/* The client the login limit and the audit log key on (web_client.c): every
 * X-Forwarded-For field counts, as a proxy may add its own line. Only the last
 * OCON_XFF_HOPS_MAX fields can hold a hop that is walked, so only they are
 * joined (once: no cost quadratic in the number of lines). */
static const char *client_ip(call_t *c)
{
    const char *peer = peer_ip(c);
    const apr_array_header_t *proxies = c->srv->ctx->cfg->proxies;
    if (!proxies || proxies->nelts == 0) {
        return peer;
    }
    apr_array_header_t *fields = apr_array_make(c->p, 2, sizeof(const char *));
    MHD_get_connection_values(c->con, MHD_HEADER_KIND, xff_field, fields);
    if (fields->nelts == 0) {
        return ocon_client_addr(c->p, peer, NULL, proxies);
    }
    int first = fields->nelts > OCON_XFF_HOPS_MAX ? fields->nelts - OCON_XFF_HOPS_MAX : 0;
    apr_array_header_t *last = apr_array_make(c->p, fields->nelts - first, sizeof(const char *));
    for (int i = first; i < fields->nelts; i++) {
        APR_ARRAY_PUSH(last, const char *) = APR_ARRAY_IDX(fields, i, const char *);
    }
    return ocon_client_addr(c->p, peer, apr_array_pstrcat(c->p, last, ','), proxies);
}

/* Host must name this console (DNS rebinding), Origin and Sec-Fetch-Site, when
 * sent, must say same-origin. */
static int host_ok(call_t *c)
{
    const char *host = header(c, "Host");
    srv_t *s = c->srv;
    if (!host) {
        return 0;
    }
    const char *mine[] = {apr_psprintf(c->p, "%s:%d", s->listen_host, s->port),
                          apr_psprintf(c->p, "[%s]:%d", s->listen_host, s->port),
                          apr_psprintf(c->p, "localhost:%d", s->port), NULL};
    for (int i = 0; mine[i]; i++) {
        if (!strcasecmp(host, mine[i])) {
            return 1;
        }
    }
    return ocon_host_is_loopback(s->listen_host) ? 0 : 1; /* remote: behind a proxy that checks Host */
}

/* With Referrer-Policy: no-referrer, Chromium sends "Origin: null" on its own
 * form posts; it also sends Sec-Fetch-Site, which then decides. */
static int same_origin(call_t *c)
{
    const char *origin = header(c, "Origin"), *site = header(c, "Sec-Fetch-Site"), *host = header(c, "Host");
    if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0) {
        return 0;
    }
    if (origin && !(site && !strcmp(origin, "null"))) {
        const char *want = apr_pstrcat(c->p, c->srv->tls ? "https://" : "http://", host ? host : "", NULL);
        if (strcasecmp(origin, want) != 0) {
            return 0;
        }
    }
    return 1;
}

/* Parse the body by its content type. Returns 0, or an HTTP status. */
static int parse_body(call_t *c)
{
    const char *ct = header(c, "Content-Type");
    req_t *r = c->r;
    if (r->body_too_big) {
        return 413;
    }
    ocon_body_t b;
    int st = ocon_body_parse(c->p, ct, r->body, r->body_len, &b);
    c->form = b.form;
    c->jbody = b.json;
    return st;
}

/* ---------------------------------------------------------------- handlers */

typedef resp_t *(*handler_fn)(call_t *c, const char *arg);

enum { F_AUTH = 1, F_CSRF = 2, F_API = 4 };

static resp_t *need_params(call_t *c, const char *const *names)
{
    if (!ocon_only_params(c->query, names)) {
        return error_resp(c, 400, "unexpected query parameter");
    }
    return NULL;
}

static const char *const NO_PARAMS[] = {NULL};

/* Read the session filter from the query string (API: user = sub). */
static resp_t *read_filter(call_t *c, ocon_filter_t *f, int *page, int *per_page, ocon_sort_t *sort)
{
    static const char *const names[] = {"user", "sub", "email", "name", "provider", "sid", "q", "page", "per_page",
                                        "revoked", "sort", "scan", NULL};
    const char *pg = NULL, *pp = NULL, *sub2 = NULL, *dummy = NULL, *so = NULL, *scan = NULL;
    resp_t *bad = need_params(c, names);
    if (bad) {
        return bad;
    }
    memset(f, 0, sizeof(*f));
    if (param(c, c->query, "user", &f->sub) < 0 || param(c, c->query, "sub", &sub2) < 0 ||
        param(c, c->query, "email", &f->email) < 0 || param(c, c->query, "name", &f->name) < 0 ||
        param(c, c->query, "provider", &f->provider) < 0 || param(c, c->query, "sid", &f->sid) < 0 ||
        param(c, c->query, "q", &f->q) < 0 || param(c, c->query, "page", &pg) < 0 ||
        param(c, c->query, "per_page", &pp) < 0 || param(c, c->query, "revoked", &dummy) < 0 ||
        param(c, c->query, "sort", &so) < 0 || param(c, c->query, "scan", &scan) < 0) {
        return error_resp(c, 400, "malformed or repeated query parameter");
    }
    if (sub2) {
        if (f->sub) {
            return error_resp(c, 400, "give user or sub, not both");
        }
        f->sub = sub2;
    }
    *page = 1;
    *per_page = c->srv->ctx->cfg->per_page;
    if (pg && !ocon_param_int(pg, 1, 1000000, page)) {
        return error_resp(c, 400, "page: a number from 1");
    }
    if (pp && !ocon_param_int(pp, 1, OCON_PER_PAGE_MAX, per_page)) {
        return error_resp(c, 400, "per_page: out of range");
    }
    if (scan && strcmp(scan, "1") != 0) {
        return error_resp(c, 400, "scan: 1 or nothing");
    }
    /* q: a prefix, answered by the search index; a substring scan (bounded)
     * only when asked for with scan=1 */
    if (f->q && !scan) {
        f->prefix = f->q;
        f->q = NULL;
    }
    *sort = OCON_SORT_EXPIRES;
    if (so && !ocon_sort_parse(so, sort)) {
        return error_resp(c, 400, "sort: last_seen, created or expires");
    }
    return NULL;
}

static ocon_page_ctx_t page_ctx(call_t *c)
{
    ocon_page_ctx_t pc = {c->admin, c->csrf, NULL, NULL};
    const char *rv = NULL;
    int n;
    if (aoidc_query_param(c->p, c->query, "revoked", &rv) == 1 && ocon_param_int(rv, 0, 9999999, &n)) {
        pc.message = apr_psprintf(c->p, "Revoked %d session(s).", n);
    }
    return pc;
}

static resp_t *h_root(call_t *c, const char *arg)
{
    return redirect(c, c->admin ? "/sessions" : "/login");
}

static resp_t *h_css(call_t *c, const char *arg)
{
    resp_t *r = resp(c, 200, "text/css; charset=utf-8", ocon_css, strlen(ocon_css));
    return r;
}

static resp_t *h_login_form(call_t *c, const char *arg)
{
    apr_size_t len;
    resp_t *bad = need_params(c, NO_PARAMS);
    if (bad) {
        return bad;
    }
    if (c->admin) {
        return redirect(c, "/sessions");
    }
    const char *b = ocon_render_login(c->p, NULL, &len);
    return html_resp(c, 200, b);
}

/* Logins, failed logins and logouts go to the audit log (failed ones are
 * bounded by the failed-login limit; limited attempts are not written). */
static void audit_login(call_t *c, const char *admin, const char *action)
{
    if (ocon_audit(c->p, c->srv->ctx->cfg->audit_log, admin, action, NULL, 0, "web", c->client) != APR_SUCCESS) {
        fprintf(stderr, "oidc-console: could not write the audit log\n");
    }
}

static resp_t *do_login(call_t *c)
{
    const char *user = NULL, *password = NULL, *sid;
    apr_size_t len;
    if (body_param(c, "user", &user) < 0 || body_param(c, "password", &password) < 0) {
        /* a password may hold any printable character; it was only refused for length or controls */
        return error_resp(c, 400, "malformed login");
    }
    if (!user || !password) {
        return error_resp(c, 400, "user and password are required");
    }
    ocon_login_rc_t rc = ocon_auth_login(c->srv->auth, c->p, c->client, user, password, &sid);
    if (rc == OCON_LOGIN_OK || rc == OCON_LOGIN_BAD) {
        audit_login(c, user, rc == OCON_LOGIN_OK ? "login" : "login-failed");
    }
    if (rc == OCON_LOGIN_OK) {
        fprintf(stderr, "oidc-console: admin %s logged in from %s\n", ocon_audit_quote(c->p, user), c->client);
        c->sid = sid;
        c->admin = user;
        c->csrf = ocon_csrf_token(c->srv->auth, c->p, sid);
        resp_t *r = c->api ? json_resp(c, 200, json_pack("{s:s, s:s}", "admin", user, "csrf_token", c->csrf))
                           : redirect(c, "/sessions");
        apr_table_set(r->headers, "Set-Cookie", cookie_header(c, sid, 0));
        return r;
    }
    if (rc == OCON_LOGIN_LIMITED) {
        resp_t *r = c->api ? error_resp(c, 429, "too many failed logins; try again later")
                           : html_resp(c, 429, ocon_render_login(c->p, "Too many failed logins; try again later.", &len));
        apr_table_set(r->headers, "Retry-After", apr_itoa(c->p, c->srv->ctx->cfg->login_fail_window));
        return r;
    }
    if (rc == OCON_LOGIN_ERROR) {
        return error_resp(c, 500, "login unavailable");
    }
    fprintf(stderr, "oidc-console: failed login from %s\n", c->client);
    if (c->api) {
        return error_resp(c, 401, "wrong user or password");
    }
    return html_resp(c, 401, ocon_render_login(c->p, "Wrong user or password.", &len));
}

static resp_t *h_login(call_t *c, const char *arg)
{
    resp_t *bad = need_params(c, NO_PARAMS);
    return bad ? bad : do_login(c);
}

static resp_t *h_logout(call_t *c, const char *arg)
{
    ocon_auth_logout(c->srv->auth, c->sid);
    audit_login(c, c->admin, "logout");
    resp_t *r = c->api ? json_resp(c, 200, json_pack("{s:b}", "logged_out", 1)) : redirect(c, "/login");
    apr_table_set(r->headers, "Set-Cookie", cookie_header(c, "", -1));
    return r;
}

static resp_t *h_whoami(call_t *c, const char *arg)
{
    resp_t *bad = need_params(c, NO_PARAMS);
    return bad ? bad : json_resp(c, 200, json_pack("{s:s, s:s}", "admin", c->admin, "csrf_token", c->csrf));
}

static resp_t *h_sessions(call_t *c, const char *arg)
{
    ocon_filter_t f;
    ocon_page_t pg;
    int page = 1, per_page = 1;
    ocon_sort_t sort;
    apr_size_t len;
    resp_t *bad = read_filter(c, &f, &page, &per_page, &sort);
    if (bad) {
        return bad;
    }
    ocon_rc_t rc = ocon_sessions_find_sorted(c->srv->ctx, c->p, &f, sort, page, per_page, &pg);
    if (rc != OCON_OK) {
        return error_resp(c, rc_status(rc), ocon_rc_str(rc));
    }
    if (c->api) {
        return json_resp(c, 200, ocon_page_json(&pg));
    }
    ocon_page_ctx_t pc = page_ctx(c);
    return html_resp(c, 200, ocon_render_sessions(c->p, &pc, &f, &pg, &len));
}

static resp_t *find_one(call_t *c, const char *handle, ocon_session_t **out)
{
    ocon_filter_t f = {0};
    ocon_page_t pg;
    if (!ocon_handle_ok(handle)) {
        return error_resp(c, 400, "malformed session handle");
    }
    f.handle = handle;
    ocon_rc_t rc = ocon_sessions_find(c->srv->ctx, c->p, &f, 1, 1, &pg);
    if (rc != OCON_OK) {
        return error_resp(c, rc_status(rc), ocon_rc_str(rc));
    }
    if (pg.sessions->nelts == 0) {
        return error_resp(c, 404, "no such session");
    }
    *out = &APR_ARRAY_IDX(pg.sessions, 0, ocon_session_t);
    return NULL;
}

static resp_t *h_session(call_t *c, const char *handle)
{
    ocon_session_t *s;
    apr_size_t len;
    resp_t *bad = need_params(c, NO_PARAMS);
    if (!bad) {
        bad = find_one(c, handle, &s);
    }
    if (bad) {
        return bad;
    }
    if (c->api) {
        return json_resp(c, 200, ocon_session_json(s, 1));
    }
    ocon_page_ctx_t pc = page_ctx(c);
    return html_resp(c, 200, ocon_render_session(c->p, &pc, s, &len));
}

/* Revoke, audit, answer (JSON, or a redirect back to `back`). */
static resp_t *revoke_and_answer(call_t *c, apr_array_header_t *sessions, const char *action, const char *target,
                                 const char *back)
{
    const char *err;
    int count = 0;
    if (ocon_audit_check(c->p, c->srv->ctx->cfg->audit_log, &err) != APR_SUCCESS) {
        fprintf(stderr, "oidc-console: %s\n", err);
        return error_resp(c, 500, "the audit log cannot be written; nothing was revoked");
    }
    ocon_rc_t rc = ocon_sessions_revoke(c->srv->ctx, c->p, sessions, &count);
    if (ocon_audit(c->p, c->srv->ctx->cfg->audit_log, c->admin, action, target, count, "web", c->client) !=
        APR_SUCCESS) {
        fprintf(stderr, "oidc-console: could not write the audit log\n");
    }
    if (rc != OCON_OK) {
        return error_resp(c, rc_status(rc), ocon_rc_str(rc));
    }
    if (c->api) {
        json_t *h = json_array();
        for (int i = 0; i < sessions->nelts; i++) {
            json_array_append_new(h, json_string(APR_ARRAY_IDX(sessions, i, ocon_session_t).handle));
        }
        return json_resp(c, 200, json_pack("{s:i, s:i, s:o}", "revoked", count, "matched", sessions->nelts,
                                           "handles", h));
    }
    return redirect(c, apr_psprintf(c->p, "%s%srevoked=%d", back, strchr(back, '?') ? "&" : "?", count));
}

static resp_t *h_revoke_session(call_t *c, const char *handle)
{
    ocon_session_t *s;
    resp_t *bad = need_params(c, NO_PARAMS);
    if (!bad) {
        bad = find_one(c, handle, &s);
    }
    if (bad) {
        return bad;
    }
    apr_array_header_t *one = apr_array_make(c->p, 1, sizeof(ocon_session_t));
    APR_ARRAY_PUSH(one, ocon_session_t) = *s;
    return revoke_and_answer(c, one, "revoke-session", apr_pstrcat(c->p, "handle=", handle, NULL), "/sessions");
}

/* The page that asks before many sessions end: says how many. */
static resp_t *confirm_page(call_t *c, const char *title, const char *what, const char *note, int count,
                            const char *action, const char *const *fields, const char *back)
{
    apr_size_t len;
    ocon_page_ctx_t pc = page_ctx(c);
    ocon_confirm_t cf = {title, what, note, count, action, fields, back};
    return html_resp(c, 200, ocon_render_confirm(c->p, &pc, &cf, &len));
}

static resp_t *confirm_user(call_t *c, const ocon_filter_t *f)
{
    ocon_page_t pg;
    ocon_rc_t rc = ocon_sessions_find(c->srv->ctx, c->p, f, 1, 0, &pg);
    if (rc != OCON_OK) {
        return error_resp(c, rc_status(rc), ocon_rc_str(rc));
    }
    const char **fields = apr_pcalloc(c->p, 5 * sizeof(*fields));
    int n = 0;
    if (f->provider) {
        fields[n++] = "provider";
        fields[n++] = f->provider;
    }
    fields[n++] = "sub";
    fields[n++] = f->sub;
    return confirm_page(c, "Revoke all sessions of a user",
                        apr_pstrcat(c->p, "Every session of user ", f->sub, " at ",
                                    f->provider ? apr_pstrcat(c->p, "provider ", f->provider, NULL) : "any provider",
                                    ", on every node.", NULL),
                        f->provider ? "Sessions of this user that the directory lost end at their next request too."
                                    : NULL,
                        pg.sessions->nelts, "/users/revoke", fields,
                        f->provider ? apr_pstrcat(c->p, "/user?provider=", aoidc_url_encode(c->p, f->provider),
                                                  "&sub=", aoidc_url_encode(c->p, f->sub), NULL)
                                    : "/sessions");
}

/* GET /users/revoke?provider=&sub=: the confirmation page */
static resp_t *h_confirm_user(call_t *c, const char *arg)
{
    static const char *const names[] = {"provider", "sub", "user", NULL};
    ocon_filter_t f = {0};
    const char *user = NULL;
    if (!ocon_only_params(c->query, names) || param(c, c->query, "provider", &f.provider) < 0 ||
        param(c, c->query, "sub", &f.sub) < 0 || param(c, c->query, "user", &user) < 0 || (user && f.sub)) {
        return error_resp(c, 400, "malformed query");
    }
    f.sub = f.sub ? f.sub : user;
    if (!f.sub) {
        return error_resp(c, 400, "sub is required");
    }
    return confirm_user(c, &f);
}

static resp_t *h_revoke_user(call_t *c, const char *arg)
{
    ocon_filter_t f = {0};
    ocon_page_t pg;
    resp_t *bad = need_params(c, NO_PARAMS);
    if (bad) {
        return bad;
    }
    /* JSON {"provider","sub"} (or "user" for sub), or the same as form fields */
    const char *user = NULL, *fconfirm = NULL;
    if (body_param(c, "provider", &f.provider) < 0 || body_param(c, "sub", &f.sub) < 0 ||
        body_param(c, "user", &user) < 0) {
        return error_resp(c, 400, "malformed provider or sub");
    }
    if (user && f.sub) {
        return error_resp(c, 400, "give user or sub, not both");
    }
    if (user) {
        f.sub = user;
    }
    if (!f.sub) {
        return error_resp(c, 400, "sub is required");
    }
    if (c->form && param(c, c->form, "confirm", &fconfirm) < 0) {
        return error_resp(c, 400, "malformed confirm");
    }
    /* a form from a page acts only once the confirmation page was seen */
    if (!c->api && !(fconfirm && !strcmp(fconfirm, "yes"))) {
        return confirm_user(c, &f);
    }
    ocon_rc_t rc = ocon_revoke_epochs(c->srv->ctx, c->p, &f);
    if (rc == OCON_OK) {
        rc = ocon_sessions_find(c->srv->ctx, c->p, &f, 1, 0, &pg);
    }
    if (rc != OCON_OK) {
        return error_resp(c, rc_status(rc), ocon_rc_str(rc));
    }
    if (pg.sessions->nelts == 0 && c->api) {
        return error_resp(c, 404, "no session of that user");
    }
    const char *back = f.provider ? apr_pstrcat(c->p, "/user?provider=", aoidc_url_encode(c->p, f.provider),
                                                "&sub=", aoidc_url_encode(c->p, f.sub), NULL)
                                  : "/sessions";
    return revoke_and_answer(c, pg.sessions, "revoke-user", ocon_filter_describe(c->p, &f), back);
}

static resp_t *confirm_provider(call_t *c, const char *provider)
{
    ocon_filter_t f = {0};
    ocon_page_t pg;
    f.provider = provider;
    ocon_rc_t rc = ocon_sessions_find(c->srv->ctx, c->p, &f, 1, 1, &pg);
    if (rc != OCON_OK) {
        return error_resp(c, rc_status(rc), ocon_rc_str(rc));
    }
    const char **fields = apr_pcalloc(c->p, 3 * sizeof(*fields));
    fields[0] = "provider";
    fields[1] = provider;
    return confirm_page(c, "Revoke all sessions of a provider",
                        apr_pstrcat(c->p, "Every session of every user of provider ", provider, ", on every node.",
                                    NULL),
                        "Sessions of this provider that the directory lost end at their next request too; "
                        "its users must log in again.",
                        pg.total, "/providers/revoke", fields, "/providers");
}

/* GET /providers/revoke?provider=: the confirmation page */
static resp_t *h_confirm_provider(call_t *c, const char *arg)
{
    static const char *const names[] = {"provider", NULL};
    const char *provider = NULL;
    if (!ocon_only_params(c->query, names) || param(c, c->query, "provider", &provider) < 0) {
        return error_resp(c, 400, "malformed query");
    }
    if (!provider) {
        return error_resp(c, 400, "provider is required");
    }
    return confirm_provider(c, provider);
}

static resp_t *h_revoke_provider(call_t *c, const char *arg)
{
    ocon_filter_t f = {0};
    ocon_page_t pg;
    resp_t *bad = need_params(c, NO_PARAMS);
    if (bad) {
        return bad;
    }
    json_t *confirm = c->jbody ? json_object_get(c->jbody, "confirm") : NULL;
    const char *fconfirm = NULL;
    if (body_param(c, "provider", &f.provider) < 0 || !f.provider) {
        return error_resp(c, 400, "provider is required");
    }
    if (!c->jbody && param(c, c->form, "confirm", &fconfirm) < 0) {
        return error_resp(c, 400, "malformed confirm");
    }
    if (!json_is_true(confirm) && !(fconfirm && !strcmp(fconfirm, "yes"))) {
        if (!c->api) {
            return confirm_provider(c, f.provider);
        }
        return error_resp(c, 400, "revoking every session of a provider needs confirm");
    }
    ocon_rc_t rc = ocon_revoke_epochs(c->srv->ctx, c->p, &f);
    if (rc == OCON_OK) {
        rc = ocon_sessions_find(c->srv->ctx, c->p, &f, 1, 0, &pg);
    }
    if (rc != OCON_OK) {
        return error_resp(c, rc_status(rc), ocon_rc_str(rc));
    }
    return revoke_and_answer(c, pg.sessions, "revoke-provider", ocon_filter_describe(c->p, &f), "/providers");
}

static resp_t *h_user(call_t *c, const char *arg)
{
    static const char *const names[] = {"provider", "sub", "user", "revoked", NULL};
    ocon_filter_t f = {0};
    ocon_page_t pg;
    apr_size_t len;
    const char *user = NULL, *dummy;
    if (!ocon_only_params(c->query, names) || param(c, c->query, "provider", &f.provider) < 0 ||
        param(c, c->query, "sub", &f.sub) < 0 || param(c, c->query, "user", &user) < 0 ||
        param(c, c->query, "revoked", &dummy) < 0) {
        return error_resp(c, 400, "malformed query");
    }
    if (user && !f.sub) {
        f.sub = user;
    }
    if (!f.sub) {
        return error_resp(c, 400, "sub is required");
    }
    ocon_rc_t rc = ocon_sessions_find(c->srv->ctx, c->p, &f, 1, 0, &pg);
    if (rc != OCON_OK) {
        return error_resp(c, rc_status(rc), ocon_rc_str(rc));
    }
    ocon_page_ctx_t pc = page_ctx(c);
    return html_resp(c, 200, ocon_render_user(c->p, &pc, f.provider ? f.provider : "any provider", f.sub, &pg, &len));
}

static resp_t *h_providers(call_t *c, const char *arg)
{
    json_t *nodes;
    apr_size_t len;
    resp_t *bad = need_params(c, NO_PARAMS);
    if (bad) {
        return bad;
    }
    ocon_rc_t rc = ocon_nodes_load(c->srv->ctx, c->p, &nodes);
    if (rc != OCON_OK) {
        return error_resp(c, rc_status(rc), ocon_rc_str(rc));
    }
    json_t *provs = ocon_providers_from_nodes(c->srv->ctx, c->p, nodes, 1);
    json_decref(nodes);
    if (c->api) {
        return json_resp(c, 200, provs);
    }
    ocon_page_ctx_t pc = page_ctx(c);
    const char *b = ocon_render_providers(c->p, &pc, provs, &len);
    json_decref(provs);
    return html_resp(c, 200, b);
}

static resp_t *h_nodes(call_t *c, const char *arg)
{
    static const char *const names[] = {"all", NULL};
    json_t *nodes, *n;
    apr_size_t len;
    size_t i;
    const char *all = NULL;
    if (!ocon_only_params(c->query, names) || param(c, c->query, "all", &all) < 0 ||
        (all && strcmp(all, "1") != 0)) {
        return error_resp(c, 400, "unexpected query parameter");
    }
    ocon_rc_t rc = ocon_nodes_load(c->srv->ctx, c->p, &nodes);
    if (rc != OCON_OK) {
        return error_resp(c, rc_status(rc), ocon_rc_str(rc));
    }
    if (c->api) {
        json_array_foreach(json_object_get(nodes, "nodes"), i, n)
        {
            json_object_del(n, "flat");
        }
        return json_resp(c, 200, nodes);
    }
    ocon_page_ctx_t pc = page_ctx(c);
    const char *b = ocon_render_nodes(c->p, &pc, nodes, all != NULL, &len);
    json_decref(nodes);
    return html_resp(c, 200, b);
}

/* ---------------------------------------------------------------- routing */

typedef struct {
    const char *method;
    const char *prefix; /* path, or prefix before a handle when suffix is set */
    const char *suffix; /* NULL: exact path; "" : /prefix<handle>; "/revoke": /prefix<handle>/revoke */
    handler_fn fn;
    int flags;
} route_t;

static const route_t ROUTES[] = {
    {"GET", "/", NULL, h_root, 0},
    {"GET", "/static/console.css", NULL, h_css, 0},
    {"GET", "/login", NULL, h_login_form, 0},
    {"POST", "/login", NULL, h_login, 0},
    {"POST", "/logout", NULL, h_logout, F_AUTH | F_CSRF},
    {"GET", "/sessions", NULL, h_sessions, F_AUTH},
    {"GET", "/sessions/", "", h_session, F_AUTH},
    {"POST", "/sessions/", "/revoke", h_revoke_session, F_AUTH | F_CSRF},
    {"GET", "/user", NULL, h_user, F_AUTH},
    {"GET", "/users/revoke", NULL, h_confirm_user, F_AUTH},
    {"POST", "/users/revoke", NULL, h_revoke_user, F_AUTH | F_CSRF},
    {"GET", "/providers/revoke", NULL, h_confirm_provider, F_AUTH},
    {"POST", "/providers/revoke", NULL, h_revoke_provider, F_AUTH | F_CSRF},
    {"GET", "/providers", NULL, h_providers, F_AUTH},
    {"GET", "/nodes", NULL, h_nodes, F_AUTH},
    {"POST", "/api/login", NULL, h_login, F_API},
    {"POST", "/api/logout", NULL, h_logout, F_API | F_AUTH | F_CSRF},
    {"GET", "/api/whoami", NULL, h_whoami, F_API | F_AUTH},
    {"GET", "/api/sessions", NULL, h_sessions, F_API | F_AUTH},
    {"GET", "/api/sessions/", "", h_session, F_API | F_AUTH},
    {"POST", "/api/sessions/", "/revoke", h_revoke_session, F_API | F_AUTH | F_CSRF},
    {"POST", "/api/users/revoke", NULL, h_revoke_user, F_API | F_AUTH | F_CSRF},
    {"POST", "/api/providers/revoke", NULL, h_revoke_provider, F_API | F_AUTH | F_CSRF},
    {"GET", "/api/providers", NULL, h_providers, F_API | F_AUTH},
    {"GET", "/api/nodes", NULL, h_nodes, F_API | F_AUTH},
};

/* Does path match the route? *arg receives the handle part. */
static int route_match(apr_pool_t *p, const route_t *rt, const char *path, const char **arg)
{
    return ocon_route_match(p, path, rt->prefix, rt->suffix, arg);
}

static resp_t *dispatch(call_t *c)
{
    const route_t *hit = NULL;
    const char *arg = NULL;
    int path_known = 0;
    c->api = strncmp(c->path, "/api/", 5) == 0;
    for (apr_size_t i = 0; i < sizeof(ROUTES) / sizeof(ROUTES[0]); i++) {
        const char *a;
        if (route_match(c->p, &ROUTES[i], c->path, &a)) {
            path_known = 1;
            if (!strcmp(ROUTES[i].method, c->method) || (!strcmp(c->method, "HEAD") && !strcmp(ROUTES[i].method, "GET"))) {
                hit = &ROUTES[i];
                arg = a;
                break;
            }
        }
    }
    if (!hit) {
        return error_resp(c, path_known ? 405 : 404, path_known ? "method not allowed" : "not found");
    }
    if (!host_ok(c)) {
        return error_resp(c, 421, "this console does not answer to that Host");
    }
    int st = parse_body(c);
    if (st) {
        return error_resp(c, st, st == 413 ? "request body too large" : st == 415 ? "unsupported content type"
                                                                                 : "malformed body");
    }
    /* the console session */
    const char *cookie = MHD_lookup_connection_value(c->con, MHD_COOKIE_KIND, OCON_COOKIE);
    if (cookie && ocon_handle_ok(cookie)) {
        c->admin = ocon_auth_check(c->srv->auth, c->p, cookie);
        if (c->admin) {
            c->sid = cookie;
            c->csrf = ocon_csrf_token(c->srv->auth, c->p, cookie);
        }
    }
    if (!strcmp(c->method, "POST") && !same_origin(c)) {
        return error_resp(c, 403, "cross-origin request refused");
    }
    if ((hit->flags & F_AUTH) && !c->admin) {
        if (c->api) {
            return error_resp(c, 401, "log in first (POST /api/login)");
        }
        if (!strcmp(c->method, "GET")) {
            return redirect(c, "/login");
        }
        return error_resp(c, 401, "log in first");
    }
    if (hit->flags & F_CSRF) {
        const char *tok = header(c, "X-CSRF-Token");
        const char *ftok = NULL;
        if (!tok) {
            if (c->jbody) {
                json_t *v = json_object_get(c->jbody, "csrf_token");
                tok = json_is_string(v) ? json_string_value(v) : NULL;
            }
            else if (param(c, c->form, "csrf", &ftok) == 1) {
                tok = ftok;
            }
        }
        if (!ocon_csrf_ok(c->srv->auth, c->p, c->sid, tok)) {
            return error_resp(c, 403, "missing or wrong CSRF token");
        }
        /* the token is not a parameter of the action itself */
        if (c->jbody) {
            json_object_del(c->jbody, "csrf_token");
        }
    }
    return hit->fn(c, arg);
}

/* ---------------------------------------------------------------- MHD glue */

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *con)
{
    apr_pool_t *p;
    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS) {
        return NULL;
    }
    req_t *r = apr_pcalloc(p, sizeof(*r));
    r->pool = p;
    r->uri = uri ? apr_pstrndup(p, uri, URI_MAX + 1) : "";
    return r;
}

static void completed(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    req_t *r = *con_cls;
    if (r) {
        apr_pool_destroy(r->pool);
        *con_cls = NULL;
    }
}

static void add_security_headers(struct MHD_Response *m, int tls)
{
    MHD_add_response_header(m, "Content-Security-Policy",
                            "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
                            "form-action 'self'; frame-ancestors 'none'");
    MHD_add_response_header(m, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(m, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(m, "X-Frame-Options", "DENY");
    MHD_add_response_header(m, "Cache-Control", "no-store");
    MHD_add_response_header(m, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(m, "Cross-Origin-Resource-Policy", "same-origin");
    if (tls) {
        MHD_add_response_header(m, "Strict-Transport-Security", "max-age=31536000");
    }
}

static int add_hdr(void *rec, const char *k, const char *v)
{
    MHD_add_response_header(rec, k, v);
    return 1;
}

static MHD_RESULT queue(struct MHD_Connection *con, srv_t *s, const resp_t *r)
{
    struct MHD_Response *m = MHD_create_response_from_buffer(r->len, (void *)r->body, MHD_RESPMEM_MUST_COPY);
    if (!m) {
        return MHD_NO;
    }
    MHD_add_response_header(m, "Content-Type", r->ctype);
    add_security_headers(m, s->tls);
    apr_table_do(add_hdr, m, r->headers, NULL);
    MHD_RESULT ret = MHD_queue_response(con, (unsigned)r->status, m);
    MHD_destroy_response(m);
    return ret;
}

static MHD_RESULT access_handler(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    srv_t *s = cls;
    req_t *r = *con_cls;
    if (!r) {
        return MHD_NO;
    }
    if (!r->started) {
        r->started = 1;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->body_too_big) {
            if (r->body_len + *upload_data_size > BODY_MAX) {
                r->body_too_big = 1;
            }
            else {
                char *nb = apr_palloc(r->pool, r->body_len + *upload_data_size + 1);
                if (r->body_len) {
                    memcpy(nb, r->body, r->body_len);
                }
                memcpy(nb + r->body_len, upload_data, *upload_data_size);
                r->body_len += *upload_data_size;
                nb[r->body_len] = '\0';
                r->body = nb;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    call_t c = {0};
    c.srv = s;
    c.con = con;
    c.r = r;
    c.p = r->pool;
    c.method = method;
    c.api = 0;
    c.client = client_ip(&c);
    /* the raw URI: path and query as sent (MHD's url is already decoded) */
    const char *raw = r->uri;
    ocon_split_target(c.p, raw, &c.path, &c.query);
    resp_t *res;
    if (strlen(raw) > URI_MAX) {
        c.api = strncmp(c.path, "/api/", 5) == 0;
        res = error_resp(&c, 414, "URI too long");
    }
    else if (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "HEAD")) {
        c.api = strncmp(c.path, "/api/", 5) == 0;
        res = error_resp(&c, 405, "method not allowed");
    }
    else if (!ocon_path_ok(c.path)) {
        c.api = strncmp(c.path, "/api/", 5) == 0;
        res = error_resp(&c, 400, "malformed path");
    }
    else {
        res = dispatch(&c);
    }
    json_decref(c.jbody);
    return queue(con, s, res);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    fputs("oidc-console: libmicrohttpd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

int ocon_serve(ocon_ctx_t *ctx, apr_pool_t *p)
{
    const ocon_config_t *cfg = ctx->cfg;
    srv_t *s = apr_pcalloc(p, sizeof(*s));
    const char *host, *err;
    int port;
    struct addrinfo hints = {0}, *ai = NULL;
    sigset_t sigs;

    s->ctx = ctx;
    s->tls = cfg->tls_cert != NULL;
    if (ocon_split_listen(p, cfg->listen, &host, &port)) {
        fprintf(stderr, "oidc-console: bad listen address %s\n", cfg->listen);
        return OCON_EXIT_CONFIG;
    }
    s->listen_host = host;
    s->port = port;
    s->auth = ocon_auth_create(p, cfg, NULL);
    if (!s->auth) {
        fputs("oidc-console: random generator failed\n", stderr);
        return OCON_EXIT_FAILURE;
    }
    ocon_auth_persist(s->auth, ctx); /* logins survive a restart */
    ctx->index = ocon_index_create(p);
    if (ocon_audit_check(p, cfg->audit_log, &err) != APR_SUCCESS) {
        fprintf(stderr, "oidc-console: %s (revocations are audited)\n", err);
        return OCON_EXIT_CONFIG;
    }
    /* the htpasswd file must be readable now, not at the first login */
    if (ocon_htpasswd_check(p, cfg->admin_htpasswd, "-", "-", &err) < 0) {
        fprintf(stderr, "oidc-console: admin_htpasswd: %s\n", err);
        return OCON_EXIT_CONFIG;
    }
    hints.ai_flags = AI_PASSIVE | (strcmp(host, "localhost") ? AI_NUMERICHOST : 0);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(!strcmp(host, "localhost") ? "127.0.0.1" : host, apr_itoa(p, port), &hints, &ai) != 0 || !ai) {
        fprintf(stderr, "oidc-console: listen: %s is not an IP address\n", host);
        return OCON_EXIT_CONFIG;
    }
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    const char *cert = NULL, *key = NULL;
    if (s->tls) {
        const char *terr = ocon_config_check_tls(p, cfg, &cert, &key);
        if (terr) {
            fprintf(stderr, "oidc-console: %s\n", terr);
            freeaddrinfo(ai);
            return OCON_EXIT_CONFIG;
        }
        flags |= MHD_USE_TLS;
    }
    /* signals are taken by sigwait below; threads inherit the mask */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct MHD_OptionItem tls_opts[] = {
        {s->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)cert},
        {s->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)key},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, access_handler, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log, s, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)4, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)64,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        fprintf(stderr, "oidc-console: cannot listen on %s\n", cfg->listen);
        return OCON_EXIT_FAILURE;
    }
    if (ocon_index_start(ctx->index, ctx) != APR_SUCCESS) {
        fputs("oidc-console: cannot start the search index thread\n", stderr);
        ctx->index = NULL; /* prefix searches scan */
    }
    printf("READY %s://%s\n", s->tls ? "https" : "http", cfg->listen);
    fflush(stdout);
    fprintf(stderr, "oidc-console: listening on %s%s\n", cfg->listen, s->tls ? " (TLS)" : "");
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "oidc-console: signal %d, stopping\n", sig);
    MHD_stop_daemon(d);
    if (ctx->index) {
        ocon_index_destroy(ctx->index);
        ctx->index = NULL;
    }
    return OCON_EXIT_OK;
}
