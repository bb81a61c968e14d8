/* oidc-console units: config and CLI parsing, HTML escaping, CSRF tokens,
 * htpasswd/bcrypt, console sessions and the login rate limit, snapshot
 * flattening and diffing, audit quoting. No store needed. */
#include "unit.h"
#include "console.h"
#include "mem_store.h"
#include "web.h"

#include "aoidc_directory.h"
#include "aoidc_util.h"

#include <apr_file_io.h>
#include <apr_md5.h>
#include <apr_time.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- config */

static void test_config_ok(void **state)
{
    apr_pool_t *p = *state;
    ocon_config_t c;
    const char *err = NULL;
    const char *text = "# comment\n\nstore_servers = 127.0.0.1:11211 10.0.0.2\n"
                       "crypto_key_file = \"/etc/key file\"\r\n  per_page=20\nallow_remote = yes\n"
                       "listen = [::1]:9000\n";
    assert_int_equal(ocon_config_parse(p, text, strlen(text), "t.conf", &c, &err), APR_SUCCESS);
    assert_string_equal(c.store_servers, "127.0.0.1:11211 10.0.0.2");
    assert_string_equal(c.crypto_key_file, "/etc/key file");
    assert_int_equal(c.per_page, 20);
    assert_int_equal(c.allow_remote, 1);
    assert_int_equal(c.session_window, 28800);
    assert_int_equal(c.store_timeout_ms, 500);
    assert_string_equal(c.listen, "[::1]:9000");
}

static void test_config_errors(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"crypto_key_file = /k\n", "store_servers is required"},
        {"store_servers = 127.0.0.1\n", "crypto_key_file is required"},
        {"store_servers = a\ncrypto_key_file = /k\nbogus = 1\n", ":3: unknown key 'bogus'"},
        {"store_servers = a\nstore_servers = b\ncrypto_key_file = /k\n", ":2: 'store_servers' given twice"},
        {"store_servers = a\ncrypto_key_file = /k\nper_page = 0\n", ":3: 'per_page' must be a number from 1 to 500"},
        {"store_servers = a\ncrypto_key_file = /k\nper_page = 12x\n", "'per_page' must be a number"},
        {"store_servers = a\ncrypto_key_file = /k\nper_page = 99999999999999999999\n", "must be a number"},
        {"store_servers = a\ncrypto_key_file = /k\nallow_remote = maybe\n", "yes or no"},
        {"store_servers = a\ncrypto_key_file = /k\nno equals sign\n", ":3: expected 'key = value'"},
        {"store_servers = a\ncrypto_key_file = /k\ntls_cert = /c\n", "tls_cert and tls_key go together"},
        {"store_servers = a\ncrypto_key_file = /k\nlisten = 127.0.0.1\n", "listen"},
        {"store_servers = a\ncrypto_key_file = /k\nlisten = 127.0.0.1:70000\n", "port"},
        {"store_servers = a\ncrypto_key_file = \n", "empty value"},
        {"store_servers = a\ncrypto_key_file = /k\nlogin_idle = 900\nlogin_max = 60\n", "login_idle"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ocon_config_t c;
        const char *err = NULL;
        assert_int_not_equal(ocon_config_parse(p, cases[i].text, strlen(cases[i].text), "t.conf", &c, &err),
                             APR_SUCCESS);
        if (!strstr(err, cases[i].needle)) {
            fail_msg("case %zu: '%s' does not contain '%s'", i, err, cases[i].needle);
        }
    }
    /* a NUL byte inside */
    ocon_config_t c;
    const char *err;
    assert_int_not_equal(ocon_config_parse(p, "a\0b", 3, "t.conf", &c, &err), APR_SUCCESS);
}

static void test_config_serve_checks(void **state)
{
    apr_pool_t *p = *state;
    ocon_config_t c;
    const char *err;
    const char *t1 = "store_servers = a\ncrypto_key_file = /k\n";
    assert_int_equal(ocon_config_parse(p, t1, strlen(t1), "t", &c, &err), APR_SUCCESS);
    assert_non_null(strstr(ocon_config_check_serve(p, &c), "admin_htpasswd"));
    const char *t2 = "store_servers = a\ncrypto_key_file = /k\nadmin_htpasswd = /h\nlisten = 0.0.0.0:80\n";
    assert_int_equal(ocon_config_parse(p, t2, strlen(t2), "t", &c, &err), APR_SUCCESS);
    assert_non_null(strstr(ocon_config_check_serve(p, &c), "allow_remote"));
    const char *t3 = "store_servers = a\ncrypto_key_file = /k\nadmin_htpasswd = /h\n";
    assert_int_equal(ocon_config_parse(p, t3, strlen(t3), "t", &c, &err), APR_SUCCESS);
    assert_null(ocon_config_check_serve(p, &c));
    assert_true(ocon_host_is_loopback("127.0.0.2"));
    assert_true(ocon_host_is_loopback("::1"));
    assert_false(ocon_host_is_loopback("10.0.0.1"));
}

/* ---------------------------------------------------------------- cli */

static int parse(apr_pool_t *p, ocon_cli_t *c, const char **err, ...)
{
    const char *argv[32] = {"oidc-console"};
    int argc = 1;
    va_list ap;
    va_start(ap, err);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
        argv[argc++] = a;
    }
    va_end(ap);
    return ocon_cli_parse(p, argc, argv, c, err);
}

static void test_cli_ok(void **state)
{
    apr_pool_t *p = *state;
    ocon_cli_t c;
    const char *err = NULL;
    assert_int_equal(parse(p, &c, &err, "--config", "/x.conf", "--json", "sessions", "--user", "alice",
                           "--provider=main", "--page", "3", "--per-page", "10", NULL),
                     0);
    assert_int_equal(c.cmd, OCON_CMD_SESSIONS);
    assert_string_equal(c.config, "/x.conf");
    assert_true(c.json);
    assert_string_equal(c.f.sub, "alice");
    assert_string_equal(c.f.provider, "main");
    assert_int_equal(c.page, 3);
    assert_int_equal(c.per_page, 10);

    assert_int_equal(parse(p, &c, &err, "revoke", "AAA", "BBB", NULL), 0);
    assert_int_equal(c.cmd, OCON_CMD_REVOKE);
    assert_int_equal(c.handles->nelts, 2);

    assert_int_equal(parse(p, &c, &err, "revoke", "--provider", "main", "--yes", NULL), 0);
    assert_int_equal(parse(p, &c, &err, "revoke", "--email", "a@b", NULL), 0);
    assert_int_equal(parse(p, &c, &err, "show", "--", "-handle-with-dash", NULL), 0);
    assert_string_equal(APR_ARRAY_IDX(c.handles, 0, const char *), "-handle-with-dash");
    assert_int_equal(parse(p, &c, &err, "--help", NULL), 0);
    assert_int_equal(c.cmd, OCON_CMD_HELP);
    assert_int_equal(parse(p, &c, &err, "nodes", NULL), 0);
    assert_int_equal(c.cmd, OCON_CMD_NODES);
}

static void test_cli_errors(void **state)
{
    apr_pool_t *p = *state;
    ocon_cli_t c;
    const char *err = NULL;
#define BAD(...) assert_int_equal(parse(p, &c, &err, __VA_ARGS__, NULL), -1)
    assert_int_equal(parse(p, &c, &err, NULL), -1);
    BAD("frobnicate");
    BAD("sessions", "--bogus");
    BAD("sessions", "--user");
    BAD("sessions", "--user", "a", "--user", "b");
    BAD("sessions", "--user", "");
    BAD("sessions", "--user", "a\nb");
    BAD("sessions", "--page", "0");
    BAD("sessions", "--page", "-1");
    BAD("sessions", "--page", "1x");
    BAD("sessions", "--per-page", "501");
    BAD("sessions", "extra");
    BAD("show");
    BAD("show", "a", "b");
    BAD("revoke");
    BAD("revoke", "--provider", "main");           /* needs --yes */
    BAD("revoke", "HANDLE", "--user", "alice");    /* both */
    BAD("revoke", "--search", "x");
    BAD("nodes", "--user", "x");
    BAD("dev-seed", "1000"); /* the seeder is a test program (tests/console/aoidc-seed), not a command */
    BAD("sessions", "--threads", "2");
    BAD("--json=1", "sessions");
#undef BAD
}

/* ---------------------------------------------------------------- html */

static void test_html_escape(void **state)
{
    apr_pool_t *p = *state;
    assert_string_equal(ocon_html_escape(p, "<script>alert('x')&\"</script>"),
                        "&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;&lt;/script&gt;");
    assert_string_equal(ocon_html_escape(p, "a\x01" "b\x7f" "c\td\n"), "abc\td\n");
    assert_string_equal(ocon_html_escape(p, "D\xc3\xb6rte"), "D\xc3\xb6rte");
    assert_string_equal(ocon_html_escape(p, NULL), "");
}

static void test_render_escapes_session(void **state)
{
    apr_pool_t *p = *state;
    ocon_page_t pg = {0};
    ocon_filter_t f = {0};
    ocon_page_ctx_t pc = {"adm<in", "tok\"en", NULL, NULL};
    apr_size_t len;
    pg.sessions = apr_array_make(p, 1, sizeof(ocon_session_t));
    ocon_session_t *s = &APR_ARRAY_PUSH(pg.sessions, ocon_session_t);
    memset(s, 0, sizeof(*s));
    s->handle = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    s->s.provider = "main";
    s->s.sub = "<img src=x onerror=alert(1)>";
    s->s.user = "\"><script>";
    s->email = "a'b@example.com";
    f.q = "<q>";
    const char *html = ocon_render_sessions(p, &pc, &f, &pg, &len);
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "adm<in"));
    assert_null(strstr(html, "tok\"en"));
    assert_null(strstr(html, "<q>"));
    assert_non_null(strstr(html, "&lt;img src=x onerror=alert(1)&gt;"));
    assert_non_null(strstr(html, "a&#39;b@example.com"));
    /* the user link carries the sub URL-encoded, then HTML-escaped */
    assert_non_null(strstr(html, "/user?provider=main&amp;sub=%3Cimg"));
    assert_int_equal(len, strlen(html));
}

/* Every count on the pages is rendered (apr_psprintf knows no %zu / %lld:
 * they came out literally). */
static void test_render_counts(void **state)
{
    apr_pool_t *p = *state;
    ocon_page_ctx_t pc = {"admin", "tok", NULL, NULL};
    apr_size_t len;
    json_t *provs = json_pack("{s:[{s:s, s:{s:{s:s}, s:{s:s}}, s:[], s:[], s:I}]}", "providers", "name", "main",
                              "nodes", "node-a", "issuer", "https://op", "node-b", "issuer", "https://op",
                              "differing", "missing_on", "sessions", (json_int_t)3);
    const char *html = ocon_render_providers(p, &pc, provs, &len);
    json_decref(provs);
    assert_non_null(strstr(html, "3 live session(s), configured on 2 node(s)."));
    assert_null(strstr(html, "%"));
    assert_non_null(strstr(html, "No problem."));
    /* a failed discovery on one node, a JWKS two days old on the other: both flagged */
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    provs = json_pack("{s:[{s:s, s:{s:{s:s, s:{s:I, s:I, s:s}, s:{s:I, s:I}}, s:{s:s, s:{s:I, s:I}, "
                      "s:{s:I, s:I}}}, s:[], s:[], s:I}]}",
                      "providers", "name", "main", "nodes", "node-a", "issuer", "https://op", "discovery", "fetched",
                      (json_int_t)(now - 600), "tried", (json_int_t)(now - 2), "error", "connection refused", "jwks",
                      "fetched", (json_int_t)(now - 600), "tried", (json_int_t)(now - 600), "node-b", "issuer",
                      "https://op", "discovery", "fetched", (json_int_t)(now - 60), "tried", (json_int_t)(now - 60),
                      "jwks", "fetched", (json_int_t)(now - 2 * 86400 - 10), "tried", (json_int_t)(now - 2 * 86400),
                      "differing", "missing_on", "sessions", (json_int_t)0);
    assert_non_null(provs);
    html = ocon_render_providers(p, &pc, provs, &len);
    json_decref(provs);
    assert_non_null(strstr(html, "<span class=\"flag\">failed</span> connection refused"));
    assert_non_null(strstr(html, "last try just now, last success 10 min ago"));
    assert_non_null(strstr(html, "<span class=\"flag\">stale</span>"));
    assert_non_null(strstr(html, "2 d ago"));
    assert_non_null(strstr(html, "2 problem(s) above."));
    json_t *nodes = json_pack("{s:[{s:s, s:b, s:{s:s, s:s}}, {s:s, s:b, s:{s:s, s:s}}], s:[s]}", "nodes", "node",
                              "node-a", "readable", 1, "flat", "session.inactivity", "3600", "version", "1",
                              "node", "node-b", "readable", 1, "flat", "session.inactivity", "600", "version", "1",
                              "differing", "session.inactivity");
    html = ocon_render_nodes(p, &pc, nodes, 0, &len);
    json_decref(nodes);
    assert_non_null(strstr(html, "2 node(s), 1 differing setting(s)."));
    assert_null(strstr(html, "%"));
    /* only the differing setting, highlighted, unless all */
    assert_non_null(strstr(html, "<tr class=\"differs\">"));
    assert_non_null(strstr(html, "session.inactivity"));
    assert_null(strstr(html, ">version<"));
    assert_non_null(strstr(html, "href=\"/nodes?all=1\""));
    nodes = json_pack("{s:[{s:s, s:b, s:{s:s, s:s}}, {s:s, s:b, s:{s:s, s:s}}], s:[s]}", "nodes", "node", "node-a",
                      "readable", 1, "flat", "session.inactivity", "3600", "version", "1", "node", "node-b",
                      "readable", 1, "flat", "session.inactivity", "600", "version", "1", "differing",
                      "session.inactivity");
    html = ocon_render_nodes(p, &pc, nodes, 1, &len);
    json_decref(nodes);
    assert_non_null(strstr(html, ">version<"));
    assert_true(strstr(html, "session.inactivity") < strstr(html, ">version<")); /* differing first */
}

/* metrics_url: checked at load, {node} filled in, a link on the Nodes page
 * only when configured */
static void test_metrics_url(void **state)
{
    apr_pool_t *p = *state;
    ocon_config_t c;
    const char *err = NULL;
    const char *text = "store_servers = a\ncrypto_key_file = /k\n"
                       "metrics_url = https://{node}:8443/m?x={node}\n";
    assert_int_equal(ocon_config_parse(p, text, strlen(text), "t.conf", &c, &err), APR_SUCCESS);
    assert_string_equal(ocon_metrics_url(p, c.metrics_url, "web-1.example.com"),
                        "https://web-1.example.com:8443/m?x=web-1.example.com");
    assert_string_equal(ocon_metrics_url(p, "http://m.example/", "n"), "http://m.example/");
    assert_null(ocon_metrics_url(p, NULL, "n"));
    assert_null(ocon_metrics_url(p, c.metrics_url, "a\"b"));
    assert_null(ocon_metrics_url(p, c.metrics_url, ""));
    static const char *const bad[] = {"javascript:alert(1)", "ftp://x/", "https://x/\"", "https://x/<b>",
                                      "https://{host}/", "https://x/ y", "https://x/{node", "//x/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *conf =
            apr_pstrcat(p, "store_servers = a\ncrypto_key_file = /k\nmetrics_url = ", bad[i], "\n", NULL);
        assert_int_not_equal(ocon_config_parse(p, conf, strlen(conf), "t.conf", &c, &err), APR_SUCCESS);
        if (!strstr(err, "metrics_url")) {
            fail_msg("'%s': %s", bad[i], err);
        }
    }
    ocon_page_ctx_t pc = {.admin = "root", .csrf = "x"};
    apr_size_t len;
    json_t *nodes = json_pack("{s:[{s:s, s:b, s:{}, s:s}, {s:s, s:b, s:{}}], s:[]}", "nodes", "node", "node-a",
                              "readable", 1, "flat", "metrics_url", "https://node-a/m?a=1&b=2", "node",
                              "node-b", "readable", 1, "flat", "differing");
    const char *html = ocon_render_nodes(p, &pc, nodes, 0, &len);
    json_decref(nodes);
    assert_non_null(strstr(html, "<th>Metrics</th>"));
    assert_non_null(strstr(html, "<a href=\"https://node-a/m?a=1&amp;b=2\">https://node-a/m?a=1&amp;b=2</a>"));
    nodes = json_pack("{s:[{s:s, s:b, s:{}}], s:[]}", "nodes", "node", "node-a", "readable", 1, "flat",
                      "differing");
    html = ocon_render_nodes(p, &pc, nodes, 0, &len);
    json_decref(nodes);
    assert_null(strstr(html, "Metrics"));
}

static void test_age_text(void **state)
{
    apr_pool_t *p = *state;
    assert_string_equal(ocon_age_text(p, 0, 1000), "never");
    assert_string_equal(ocon_age_text(p, 998, 1000), "just now");
    assert_string_equal(ocon_age_text(p, 1000 - 42, 1000), "42 s ago");
    assert_string_equal(ocon_age_text(p, 100000 - 300, 100000), "5 min ago");
    assert_string_equal(ocon_age_text(p, 100000 - 3 * 3600 - 5, 100000), "3 h ago");
    assert_string_equal(ocon_age_text(p, 1000000 - 2 * 86400, 1000000), "2 d ago");
    assert_string_equal(ocon_age_text(p, 100000 + 600, 100000), "in 10 min");
}

static void test_prefix_matches(void **state)
{
    ocon_session_t s;
    memset(&s, 0, sizeof(s));
    s.handle = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    s.s.user = "alice";
    s.s.sub = "248289761001";
    s.email = "Alice@Example.com";
    s.name = "Alice  Liddell";
    assert_true(ocon_prefix_matches(&s, "AL"));
    assert_true(ocon_prefix_matches(&s, "2482"));
    assert_true(ocon_prefix_matches(&s, "alice@ex"));
    assert_true(ocon_prefix_matches(&s, "lidd"));      /* a word of the name */
    assert_true(ocon_prefix_matches(&s, "alice  l")); /* the name from its start */
    assert_false(ocon_prefix_matches(&s, "lice"));    /* a substring is not a prefix */
    assert_false(ocon_prefix_matches(&s, "AAAA"));    /* nor is the handle */
    s.name = NULL;
    s.email = NULL;
    assert_false(ocon_prefix_matches(&s, "lidd"));
}

/* ---------------------------------------------------------------- search index */

static const char *add_session(ocon_ctx_t *ctx, apr_pool_t *p, apr_int64_t now, const char *sub, const char *email,
                               const char *name)
{
    aoidc_claim_t *claims = apr_pcalloc(p, 2 * sizeof(*claims));
    claims[0].name = "email";
    claims[0].value = email;
    claims[1].name = "name";
    claims[1].value = name;
    aoidc_session_t s;
    memset(&s, 0, sizeof(s));
    s.created = s.last_seen = now - 10;
    s.expires = s.access_token_exp = now + 3600;
    s.provider = "main";
    s.sub = s.user = sub;
    s.node = "n";
    s.id_token = "x";
    s.nclaims = 2;
    s.claims = claims;
    const char *key = aoidc_session_store_key(p, &ctx->keys, aoidc_random_token(p, AOIDC_SESSION_ID_BYTES));
    unsigned char *rec;
    apr_size_t len;
    assert_int_equal(aoidc_session_encode(p, &ctx->keys, key, &s, &rec, &len), APR_SUCCESS);
    assert_int_equal(ctx->store->set(ctx->store, key, rec, len, 3600), AOIDC_STORE_OK);
    assert_int_equal(aoidc_dir_add(ctx->store, &ctx->keys, p, aoidc_dir_handle(key), &s), APR_SUCCESS);
    return aoidc_dir_handle(key);
}

static const char *one(apr_array_header_t *hits)
{
    return hits->nelts == 1 ? APR_ARRAY_IDX(hits, 0, aoidc_dir_entry_t).id : NULL;
}

static void test_search_index(void **state)
{
    apr_pool_t *p = *state;
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    ocon_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.session_window = 28800;
    ocon_ctx_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.pool = p;
    ctx.cfg = &cfg;
    ctx.store = mem_store_create(p, now);
    aoidc_keys_derive((const unsigned char *)"0123456789abcdef0123456789abcdef", 32, &ctx.keys);
    const char *alice = add_session(&ctx, p, now, "alice", "alice@example.com", "Alice Liddell");
    const char *bob = add_session(&ctx, p, now, "bob", "bob@example.com", "Bob Builder");
    apr_array_header_t *hits;
    int trunc;
    ocon_index_t *ix = ocon_index_create(p);
    assert_int_equal(ocon_index_find(ix, &ctx, p, "ali", &hits, &trunc), 0); /* not built yet */
    assert_int_equal(ocon_index_rebuild(ix, &ctx), OCON_OK);
    assert_int_equal(ocon_index_find(ix, &ctx, p, "ALI", &hits, &trunc), 1);
    assert_string_equal(one(hits), alice);
    assert_int_equal(ocon_index_find(ix, &ctx, p, "lidd", &hits, &trunc), 1); /* a word of the name */
    assert_string_equal(one(hits), alice);
    assert_int_equal(ocon_index_find(ix, &ctx, p, "alice l", &hits, &trunc), 1); /* the name from its start */
    assert_string_equal(one(hits), alice);
    assert_int_equal(ocon_index_find(ix, &ctx, p, "b", &hits, &trunc), 1); /* user, email, name: once */
    assert_string_equal(one(hits), bob);
    assert_int_equal(ocon_index_find(ix, &ctx, p, "lice", &hits, &trunc), 1);
    assert_int_equal(hits->nelts, 0);
    assert_false(trunc);
    /* a login after the build: found by the next search */
    const char *carol = add_session(&ctx, p, now, "carol", "carol@example.com", "Carol Danvers");
    assert_int_equal(ocon_index_find(ix, &ctx, p, "danv", &hits, &trunc), 1);
    assert_string_equal(one(hits), carol);
    /* the listing: through the index when there is one, a scan otherwise, same answer */
    ocon_filter_t f;
    memset(&f, 0, sizeof(f));
    f.prefix = "Car";
    ocon_page_t pg;
    ctx.index = ix;
    assert_int_equal(ocon_sessions_find(&ctx, p, &f, 1, 10, &pg), OCON_OK);
    assert_true(pg.via_index);
    assert_int_equal(pg.sessions->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(pg.sessions, 0, ocon_session_t).s.sub, "carol");
    ctx.index = NULL;
    assert_int_equal(ocon_sessions_find(&ctx, p, &f, 1, 10, &pg), OCON_OK);
    assert_false(pg.via_index);
    assert_int_equal(pg.sessions->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(pg.sessions, 0, ocon_session_t).s.sub, "carol");
    /* a revoked session is in the index until the rebuild, but not in the answer */
    ctx.index = ix;
    apr_array_header_t *rv = apr_array_make(p, 1, sizeof(ocon_session_t));
    APR_ARRAY_PUSH(rv, ocon_session_t) = APR_ARRAY_IDX(pg.sessions, 0, ocon_session_t);
    int count;
    assert_int_equal(ocon_sessions_revoke(&ctx, p, rv, &count), OCON_OK);
    assert_int_equal(ocon_sessions_find(&ctx, p, &f, 1, 10, &pg), OCON_OK);
    assert_int_equal(pg.sessions->nelts, 0);
    assert_int_equal(ocon_index_rebuild(ix, &ctx), OCON_OK);
    assert_int_equal(ocon_index_find(ix, &ctx, p, "car", &hits, &trunc), 1);
    assert_int_equal(hits->nelts, 0);
    ocon_index_destroy(ix);
    assert_int_equal(ocon_index_find(ix, &ctx, p, "car", &hits, &trunc), 0);
}

static void test_handle_ok(void **state)
{
    assert_true(ocon_handle_ok("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_"));
    assert_false(ocon_handle_ok("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_false(ocon_handle_ok("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/"));
    assert_false(ocon_handle_ok("../../../../../../../../../../../../../etc/p"));
    assert_false(ocon_handle_ok(NULL));
}

static void test_ua_summary(void **state)
{
    apr_pool_t *p = *state;
    static const char *cases[][2] = {
        {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
         "Safari/537.36 Edg/120.0.2210.91", "Edge 120 on Windows"},
        {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 "
         "Safari/605.1.15", "Safari 17 on macOS"},
        {"Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
         "Chrome 120 on Android"},
        {"curl/7.88.1", "curl 7"},
        {"python-requests/2.28.1", "python-requests 2"},
        {"", ""},
        {"weird\x1b[31m agent", "weird?[31m agent"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_string_equal(ocon_ua_summary(p, cases[i][0]), cases[i][1]);
    }
    assert_string_equal(ocon_ua_summary(p, NULL), "");
    char longua[300];
    memset(longua, 'x', sizeof(longua) - 1);
    longua[sizeof(longua) - 1] = '\0';
    assert_int_equal(strlen(ocon_ua_summary(p, longua)), 48);
}

/* ---------------------------------------------------------------- client input */

/* a malloc'd copy of exactly strlen(s) bytes (+NUL when nul): ASan sees any read past it */
static char *exact(const char *s, int nul)
{
    size_t n = strlen(s);
    char *b = malloc(n + (nul ? 1 : 0) + (n == 0 && !nul));
    memcpy(b, s, n + (nul ? 1 : 0));
    return b;
}

static void test_addr_parse(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *in, *want; /* want NULL: refused */
    } cases[] = {
        {"1.2.3.4", "1.2.3.4"},        {" 1.2.3.4\t", "1.2.3.4"},    {"::1", "::1"},
        {"[::1]", "::1"},              {"::ffff:10.0.0.1", "10.0.0.1"}, {"2001:DB8::1", "2001:db8::1"},
        {"", NULL},                    {"[]", NULL},                  {"1.2.3.4:80", NULL},
        {"1.2.3", NULL},               {"unknown", NULL},             {"[1.2.3.4", NULL},
        {"1.2.3.4 5.6.7.8", NULL},     {"fe80::1%eth0", NULL},
        {"1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee:ffff:0000", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *b = exact(cases[i].in, 0); /* no NUL: the length bounds the parse */
        ocon_addr_t a;
        int ok = ocon_addr_parse(b, strlen(cases[i].in), &a);
        free(b);
        if (cases[i].want) {
            assert_int_equal(ok, 1);
            assert_string_equal(ocon_addr_text(p, &a), cases[i].want);
        }
        else {
            assert_int_equal(ok, 0);
        }
    }
}

static void test_proxies_parse(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *l;
    assert_null(ocon_proxies_parse(p, "127.0.0.1 ::1, 10.0.0.2", &l));
    assert_int_equal(l->nelts, 3);
    assert_null(ocon_proxies_parse(p, NULL, &l));
    assert_int_equal(l->nelts, 0);
    assert_non_null(ocon_proxies_parse(p, "127.0.0.1 proxy.example", &l));
    assert_non_null(ocon_proxies_parse(p, "10.0.0.0/8", &l));
    const char *many = "";
    for (int i = 0; i <= OCON_PROXIES_MAX; i++) {
        many = apr_psprintf(p, "%s 10.0.0.%d", many, i);
    }
    assert_non_null(ocon_proxies_parse(p, many, &l));
    /* the config key */
    ocon_config_t cfg;
    const char *err;
    const char *text = "store_servers = a\ncrypto_key_file = /k\ntrusted_proxies = 127.0.0.1 ::1\n";
    assert_int_equal(ocon_config_parse(p, text, strlen(text), "t", &cfg, &err), APR_SUCCESS);
    assert_int_equal(cfg.proxies->nelts, 2);
    text = "store_servers = a\ncrypto_key_file = /k\ntrusted_proxies = localhost\n";
    assert_int_equal(ocon_config_parse(p, text, strlen(text), "t", &cfg, &err), APR_EINVAL);
    assert_non_null(strstr(err, "trusted_proxies"));
}

static void test_client_addr(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *proxies;
    assert_null(ocon_proxies_parse(p, "127.0.0.1 ::1 10.0.0.2", &proxies));
    static const struct {
        const char *peer, *xff, *want;
    } cases[] = {
        /* no proxy in front: the header is ignored */
        {"203.0.113.9", "1.1.1.1", "203.0.113.9"},
        {"203.0.113.9", NULL, "203.0.113.9"},
        /* a trusted proxy: the right-most untrusted entry */
        {"127.0.0.1", "198.51.100.7", "198.51.100.7"},
        {"127.0.0.1", "6.6.6.6, 198.51.100.7", "198.51.100.7"},   /* a spoofed left part does not count */
        {"127.0.0.1", "6.6.6.6,198.51.100.7, 10.0.0.2", "198.51.100.7"}, /* through two proxies */
        {"::1", "2001:db8::7", "2001:db8::7"},
        {"::ffff:127.0.0.1", "::ffff:198.51.100.7", "198.51.100.7"},
        {"127.0.0.1", "[2001:db8::7]", "2001:db8::7"},
        /* garbage stops the walk at the hop to its right */
        {"127.0.0.1", "", "127.0.0.1"},
        {"127.0.0.1", "unknown", "127.0.0.1"},
        {"127.0.0.1", "198.51.100.7, garbage", "127.0.0.1"},
        {"127.0.0.1", "garbage, 10.0.0.2", "10.0.0.2"},
        {"127.0.0.1", "198.51.100.7,,10.0.0.2", "10.0.0.2"},
        {"127.0.0.1", ",", "127.0.0.1"},
        /* every hop a proxy: the left-most */
        {"127.0.0.1", "10.0.0.2, ::1", "10.0.0.2"},
        {"garbage", "1.1.1.1", "-"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *peer = exact(cases[i].peer, 1), *xff = cases[i].xff ? exact(cases[i].xff, 1) : NULL;
        assert_string_equal(ocon_client_addr(p, peer, xff, proxies), cases[i].want);
        free(peer);
        free(xff);
    }
    /* more hops than are walked: stops at the last hop walked, never the client's own left part */
    const char *longx = "6.6.6.6";
    for (int i = 0; i < 40; i++) {
        longx = apr_pstrcat(p, longx, ", 10.0.0.2", NULL);
    }
    assert_string_equal(ocon_client_addr(p, "127.0.0.1", longx, proxies), "10.0.0.2");
    assert_string_equal(ocon_client_addr(p, "127.0.0.1", "1.1.1.1", NULL), "127.0.0.1");
}

static void test_params(void **state)
{
    apr_pool_t *p = *state;
    static const char *const names[] = {"user", "page", NULL};
    const char *v;
    int n = 0;
    char *b = exact("user=al%20ice&page=2", 1);
    assert_true(ocon_only_params(b, names));
    assert_int_equal(ocon_param(p, b, "user", &v), 1);
    assert_string_equal(v, "al ice");
    assert_int_equal(ocon_param(p, b, "sub", &v), 0);
    free(b);
    b = exact("user=a&user=b", 1);
    assert_int_equal(ocon_param(p, b, "user", &v), -1);
    free(b);
    b = exact("user=%0a", 1);
    assert_int_equal(ocon_param(p, b, "user", &v), -1);
    free(b);
    b = exact("user=", 1);
    assert_int_equal(ocon_param(p, b, "user", &v), 0);
    free(b);
    assert_false(ocon_only_params("user=a&evil=1", names));
    assert_true(ocon_only_params("", names));
    assert_true(ocon_only_params("user=a&&", names));
    const char *flood = "user=a";
    for (int i = 0; i < OCON_PARAMS_MAX; i++) {
        flood = apr_pstrcat(p, flood, "&page=1", NULL);
    }
    assert_false(ocon_only_params(flood, names));
    assert_true(ocon_param_int("12", 1, 100, &n));
    assert_int_equal(n, 12);
    assert_false(ocon_param_int("0", 1, 100, &n));
    assert_false(ocon_param_int("-1", 1, 100, &n));
    assert_false(ocon_param_int("+1", 1, 100, &n));
    assert_false(ocon_param_int(" 1", 1, 100, &n));
    assert_false(ocon_param_int("1x", 1, 100, &n));
    assert_false(ocon_param_int("99999999999999999999", 1, 100, &n));
    assert_false(ocon_param_int(NULL, 1, 100, &n));
}

static void test_body(void **state)
{
    apr_pool_t *p = *state;
    ocon_body_t b;
    const char *v;
    const char *json = "{\"user\":\"admin\",\"n\":1}";
    char *raw = malloc(strlen(json)); /* no NUL: the length bounds the parse */
    memcpy(raw, json, strlen(json));
    assert_int_equal(ocon_body_parse(p, "application/json", raw, strlen(json), &b), 0);
    free(raw);
    assert_int_equal(ocon_body_param(p, &b, "user", &v), 1);
    assert_string_equal(v, "admin");
    assert_int_equal(ocon_body_param(p, &b, "n", &v), -1); /* not a string */
    assert_int_equal(ocon_body_param(p, &b, "x", &v), 0);
    json_decref(b.json);
    assert_int_equal(ocon_body_parse(p, "application/x-www-form-urlencoded", "user=a%20b", 10, &b), 0);
    assert_int_equal(ocon_body_param(p, &b, "user", &v), 1);
    assert_string_equal(v, "a b");
    assert_int_equal(ocon_body_parse(p, "application/json", "{\"a\":1,\"a\":2}", 13, &b), 400);
    assert_null(b.json);
    assert_int_equal(ocon_body_parse(p, "application/json", "[1]", 3, &b), 400);
    assert_int_equal(ocon_body_parse(p, "application/json", "{}\0", 3, &b), 400);
    assert_int_equal(ocon_body_parse(p, "text/plain", "x", 1, &b), 415);
    assert_int_equal(ocon_body_parse(p, NULL, "x", 1, &b), 415);
    assert_int_equal(ocon_body_parse(p, NULL, "", 0, &b), 0);
    assert_null(b.form);
}

static void test_target_and_routes(void **state)
{
    apr_pool_t *p = *state;
    const char *path, *query, *arg;
    char *b = exact("/sessions?user=a?b", 1);
    ocon_split_target(p, b, &path, &query);
    assert_string_equal(path, "/sessions");
    assert_string_equal(query, "user=a?b");
    free(b);
    ocon_split_target(p, "/login", &path, &query);
    assert_string_equal(path, "/login");
    assert_string_equal(query, "");
    assert_true(ocon_path_ok("/sessions/abc"));
    assert_false(ocon_path_ok("sessions"));
    assert_false(ocon_path_ok("/sessions/%2e%2e"));
    assert_false(ocon_path_ok("/sessions//x"));
    assert_false(ocon_path_ok("/sessions/../etc"));
    assert_false(ocon_path_ok("/.hidden"));
    assert_true(ocon_route_match(p, "/sessions/H/revoke", "/sessions/", "/revoke", &arg));
    assert_string_equal(arg, "H");
    assert_false(ocon_route_match(p, "/sessions//revoke", "/sessions/", "/revoke", &arg));
    assert_false(ocon_route_match(p, "/sessions/a/b/revoke", "/sessions/", "/revoke", &arg));
    assert_false(ocon_route_match(p, "/sessions/", "/sessions/", "", &arg));
    assert_true(ocon_route_match(p, "/login", "/login", NULL, &arg));
    assert_null(arg);
    assert_false(ocon_route_match(p, "/login/", "/login", NULL, &arg));
}

/* ---------------------------------------------------------------- auth */

static apr_int64_t fake_now_v = 1000000;
static apr_int64_t fake_now(void)
{
    return fake_now_v;
}

static const char *write_htpasswd(apr_pool_t *p, const char *user, const char *password)
{
    char hash[128];
    unsigned char salt[16] = "0123456789abcdef";
    char *path = apr_psprintf(p, "/tmp/ocon-test-htpasswd-%ld", (long)getpid());
    assert_int_equal(apr_bcrypt_encode(password, 5, salt, sizeof(salt), hash, sizeof(hash)), APR_SUCCESS);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "# admins\nplain:secret\napr:$apr1$abc$0000000000000000000000\n%s:%s\n", user, hash);
    fclose(f);
    return path;
}

static void test_htpasswd(void **state)
{
    apr_pool_t *p = *state;
    const char *err = NULL;
    const char *path = write_htpasswd(p, "admin", "s3cret pw");
    assert_int_equal(ocon_htpasswd_check(p, path, "admin", "s3cret pw", &err), 1);
    assert_int_equal(ocon_htpasswd_check(p, path, "admin", "wrong", &err), 0);
    assert_int_equal(ocon_htpasswd_check(p, path, "adm", "s3cret pw", &err), 0);
    assert_int_equal(ocon_htpasswd_check(p, path, "nobody", "x", &err), 0);
    /* plaintext and MD5 entries are refused even with the right password */
    assert_int_equal(ocon_htpasswd_check(p, path, "plain", "secret", &err), 0);
    assert_int_equal(ocon_htpasswd_check(p, "/nonexistent/htpasswd", "admin", "x", &err), -1);
    assert_non_null(err);
    unlink(path);
}

static void test_login_sessions_csrf(void **state)
{
    apr_pool_t *p = *state;
    ocon_config_t cfg;
    const char *err, *sid = NULL, *sid2 = NULL;
    const char *text = "store_servers = a\ncrypto_key_file = /k\nlogin_idle = 60\nlogin_max = 120\n"
                       "login_fail_max = 3\nlogin_fail_window = 100\n";
    assert_int_equal(ocon_config_parse(p, text, strlen(text), "t", &cfg, &err), APR_SUCCESS);
    cfg.admin_htpasswd = write_htpasswd(p, "admin", "pw");
    ocon_auth_t *a = ocon_auth_create(p, &cfg, fake_now);
    assert_non_null(a);

    assert_int_equal(ocon_auth_login(a, p, "1.2.3.4", "admin", "pw", &sid), OCON_LOGIN_OK);
    assert_non_null(sid);
    assert_int_equal(strlen(sid), 43);
    assert_string_equal(ocon_auth_check(a, p, sid), "admin");
    assert_null(ocon_auth_check(a, p, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_null(ocon_auth_check(a, p, "garbage"));
    assert_null(ocon_auth_check(a, p, NULL));

    /* CSRF: bound to the console session */
    assert_int_equal(ocon_auth_login(a, p, "1.2.3.4", "admin", "pw", &sid2), OCON_LOGIN_OK);
    const char *t1 = ocon_csrf_token(a, p, sid), *t2 = ocon_csrf_token(a, p, sid2);
    assert_string_not_equal(t1, t2);
    assert_true(ocon_csrf_ok(a, p, sid, t1));
    assert_false(ocon_csrf_ok(a, p, sid, t2));
    assert_false(ocon_csrf_ok(a, p, sid, NULL));
    assert_false(ocon_csrf_ok(a, p, sid, ""));
    assert_false(ocon_csrf_ok(a, p, NULL, t1));

    /* idle timeout, then absolute lifetime */
    fake_now_v += 59;
    assert_non_null(ocon_auth_check(a, p, sid));
    fake_now_v += 59;
    assert_non_null(ocon_auth_check(a, p, sid));
    fake_now_v += 3;
    assert_null(ocon_auth_check(a, p, sid)); /* 121 s > login_max */
    assert_null(ocon_auth_check(a, p, sid2)); /* idle since login */

    /* logout */
    assert_int_equal(ocon_auth_login(a, p, "1.2.3.4", "admin", "pw", &sid), OCON_LOGIN_OK);
    ocon_auth_logout(a, sid);
    assert_null(ocon_auth_check(a, p, sid));

    /* rate limit: 3 failures, then 429 even with the right password; other clients unaffected */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ocon_auth_login(a, p, "6.6.6.6", "admin", "nope", &sid), OCON_LOGIN_BAD);
    }
    assert_int_equal(ocon_auth_login(a, p, "6.6.6.6", "admin", "pw", &sid), OCON_LOGIN_LIMITED);
    assert_int_equal(ocon_auth_login(a, p, "7.7.7.7", "admin", "pw", &sid), OCON_LOGIN_OK);
    fake_now_v += 101;
    assert_int_equal(ocon_auth_login(a, p, "6.6.6.6", "admin", "pw", &sid), OCON_LOGIN_OK);
    /* a client name longer than the table keeps is limited as well (it used to get a
     * fresh record at every try) */
    char longname[200];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ocon_auth_login(a, p, longname, "admin", "nope", &sid), OCON_LOGIN_BAD);
    }
    assert_int_equal(ocon_auth_login(a, p, longname, "admin", "pw", &sid), OCON_LOGIN_LIMITED);

    /* malformed user names never reach the file */
    assert_int_equal(ocon_auth_login(a, p, "8.8.8.8", "ad:min", "pw", &sid), OCON_LOGIN_BAD);
    assert_int_equal(ocon_auth_login(a, p, "8.8.8.8", "", "pw", &sid), OCON_LOGIN_BAD);
    unlink(cfg.admin_htpasswd);
}

/* A validator that counts its calls and remembers the cost of the last hash;
 * slow enough that parallel logins overlap. */
static int validations;
static char last_cost[8];
static int validate_delay_ms;
static pthread_mutex_t validate_lock = PTHREAD_MUTEX_INITIALIZER;

static apr_status_t counting_validate(const char *password, const char *hash)
{
    pthread_mutex_lock(&validate_lock);
    validations++;
    apr_cpystrn(last_cost, hash, sizeof(last_cost)); /* "$2y$05$" */
    pthread_mutex_unlock(&validate_lock);
    if (validate_delay_ms) {
        apr_sleep(apr_time_from_msec(validate_delay_ms));
    }
    return apr_password_validate(password, hash);
}

static ocon_auth_t *counted_auth(apr_pool_t *p, ocon_config_t *cfg, const char *htpasswd, int fail_max)
{
    const char *err;
    const char *text = "store_servers = a\ncrypto_key_file = /k\n";
    assert_int_equal(ocon_config_parse(p, text, strlen(text), "t", cfg, &err), APR_SUCCESS);
    cfg->admin_htpasswd = htpasswd;
    cfg->login_fail_max = fail_max;
    ocon_auth_t *a = ocon_auth_create(p, cfg, fake_now);
    assert_non_null(a);
    ocon_auth_set_validator(a, counting_validate);
    validations = 0;
    validate_delay_ms = 0;
    return a;
}

/* An unknown admin name costs one bcrypt validation at the file's cost, as a
 * wrong password does: the answer time does not tell which names exist. */
static void test_login_unknown_admin_same_work(void **state)
{
    apr_pool_t *p = *state;
    ocon_config_t cfg;
    const char *sid;
    char hash[128];
    unsigned char salt[16] = "0123456789abcdef";
    const char *path = apr_psprintf(p, "/tmp/ocon-test-htpasswd-cost-%ld", (long)getpid());
    assert_int_equal(apr_bcrypt_encode("pw", 6, salt, sizeof(salt), hash, sizeof(hash)), APR_SUCCESS);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "plain:secret\nadmin:%s\n", hash);
    fclose(f);
    ocon_auth_t *a = counted_auth(p, &cfg, path, 1000);

    assert_int_equal(ocon_auth_login(a, p, "1.1.1.1", "admin", "wrong", &sid), OCON_LOGIN_BAD);
    assert_int_equal(validations, 1);
    assert_string_equal(last_cost, "$2y$06$");
    struct {
        const char *user, *password;
    } bad[] = {{"nobody", "wrong"}, {"plain", "secret"}, {"ad:min", "pw"}, {"", "pw"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        validations = 0;
        last_cost[0] = '\0';
        assert_int_equal(ocon_auth_login(a, p, "1.1.1.1", bad[i].user, bad[i].password, &sid), OCON_LOGIN_BAD);
        assert_int_equal(validations, 1);
        assert_string_equal(last_cost, "$2y$06$"); /* the dummy has the cost of the real entries */
    }
    validations = 0;
    assert_int_equal(ocon_auth_login(a, p, "1.1.1.1", "admin", "pw", &sid), OCON_LOGIN_OK);
    assert_int_equal(validations, 1);
    unlink(path);
}

typedef struct {
    ocon_auth_t *a;
    ocon_login_rc_t rc;
} login_job_t;

static void *login_thread(void *arg)
{
    login_job_t *j = arg;
    apr_pool_t *p;
    const char *sid;
    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    j->rc = ocon_auth_login(j->a, p, "6.6.6.6", "admin", "nope", &sid);
    apr_pool_destroy(p);
    return NULL;
}

/* Parallel wrong passwords from one client: at most login_fail_max of them
 * reach a bcrypt validation, the rest are limited at once. */
static void test_login_limit_parallel(void **state)
{
    apr_pool_t *p = *state;
    ocon_config_t cfg;
    enum { N = 12, LIMIT = 3 };
    ocon_auth_t *a = counted_auth(p, &cfg, write_htpasswd(p, "admin", "pw"), LIMIT);
    validate_delay_ms = 100;
    pthread_t t[N];
    login_job_t jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i].a = a;
        assert_int_equal(pthread_create(&t[i], NULL, login_thread, &jobs[i]), 0);
    }
    int bad = 0, limited = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        bad += jobs[i].rc == OCON_LOGIN_BAD;
        limited += jobs[i].rc == OCON_LOGIN_LIMITED;
    }
    assert_int_equal(validations, LIMIT);
    assert_int_equal(bad, LIMIT);
    assert_int_equal(limited, N - LIMIT);
    unlink(cfg.admin_htpasswd);
}

/* ---------------------------------------------------------------- snapshots */

static void test_index_names(void **state)
{
    static const char *const shapes[] = {
        "[\"node-a\", \"node-b\", \"node-a\"]",
        "{\"nodes\": [{\"node\": \"node-a\"}, {\"name\": \"node-b\"}]}",
        "{\"node-a\": 1700000000, \"node-b\": 1700000001}",
        "{\"nodes\": {\"node-a\": {}, \"node-b\": {}}}",
        "[\"node-a\", \"bad name\", \"node-b\", \"x/../y\", 42]",
    };
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        json_t *idx = json_loads(shapes[i], 0, NULL);
        json_t *names = ocon_index_names(idx);
        assert_int_equal(json_array_size(names), 2);
        assert_string_equal(json_string_value(json_array_get(names, 0)), "node-a");
        assert_string_equal(json_string_value(json_array_get(names, 1)), "node-b");
        json_decref(names);
        json_decref(idx);
    }
    json_t *none = ocon_index_names(NULL);
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);
}

static void test_flatten_differing(void **state)
{
    json_t *a = json_loads("{\"node\":\"node-a\",\"published_at\":1,\"version\":\"0.1\",\"inactivity\":3600,"
                           "\"providers\":[{\"name\":\"main\",\"issuer\":\"http://op\",\"scopes\":[\"openid\",\"email\"]}]}",
                           0, NULL);
    json_t *b = json_loads("{\"node\":\"node-b\",\"published_at\":2,\"version\":\"0.1\",\"inactivity\":1800,"
                           "\"providers\":[{\"name\":\"main\",\"issuer\":\"http://op\",\"scopes\":[\"openid\"]}]}",
                           0, NULL);
    json_t *fa = ocon_flatten(a), *fb = ocon_flatten(b);
    assert_null(json_object_get(fa, "node"));
    assert_null(json_object_get(fa, "published_at"));
    assert_string_equal(json_string_value(json_object_get(fa, "inactivity")), "3600");
    assert_string_equal(json_string_value(json_object_get(fa, "providers[0].scopes[1]")), "email");
    json_t *flats = json_pack("[O,O]", fa, fb);
    json_t *d = ocon_differing(flats);
    assert_int_equal(json_array_size(d), 2);
    assert_string_equal(json_string_value(json_array_get(d, 0)), "inactivity");
    assert_string_equal(json_string_value(json_array_get(d, 1)), "providers[0].scopes[1]");
    json_t *provs = ocon_snapshot_providers(a);
    assert_non_null(json_object_get(provs, "main"));
    json_decref(provs);
    /* one node: nothing differs */
    json_t *one = json_pack("[O]", fa), *d1 = ocon_differing(one);
    assert_int_equal(json_array_size(d1), 0);
    json_decref(d1);
    json_decref(one);
    json_decref(d);
    json_decref(flats);
    json_decref(fa);
    json_decref(fb);
    json_decref(a);
    json_decref(b);
    /* two paths that differ only past what a flattened name can hold: left out, not cut
     * to one name (a node's snapshot is provider text) */
    char key[600];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    json_t *deep = json_object(), *inner = json_object();
    json_object_set_new(inner, "x", json_string("1"));
    json_object_set_new(inner, "y", json_string("2"));
    json_object_set_new(deep, key, inner);
    json_object_set_new(deep, "short", json_string("kept"));
    json_t *fd = ocon_flatten(deep);
    assert_int_equal(json_object_size(fd), 1);
    assert_string_equal(json_string_value(json_object_get(fd, "short")), "kept");
    json_decref(fd);
    json_decref(deep);
}

/* issue 13 point 8: display name and locations per provider, from the snapshots */
static json_t *two_node_snapshots(apr_pool_t *p, const char *locs_b)
{
    const char *js = apr_pstrcat(
        p,
        "{\"nodes\":[{\"node\":\"node-a\",\"snapshot\":{\"providers\":["
        "{\"name\":\"two\",\"display_name\":\"Partners <b>&</b> \\\"Co\\\" <script>x</script>\","
        "\"userinfo_mode\":\"auto\",\"locations\":[\"<Location /both/>\",\"<Location /two-app/>\"]},"
        "{\"name\":\"main\",\"locations\":[]}]}},"
        "{\"node\":\"node-b\",\"snapshot\":{\"providers\":["
        "{\"name\":\"two\",\"display_name\":\"Partners <b>&</b> \\\"Co\\\" <script>x</script>\","
        "\"userinfo_mode\":\"auto\",\"locations\":",
        locs_b, "},{\"name\":\"main\",\"locations\":[]}]}}]}", NULL);
    json_t *j = json_loads(js, 0, NULL);
    assert_non_null(j);
    return j;
}

static json_t *provider_named(json_t *provs, const char *name)
{
    json_t *pv;
    size_t i;
    json_array_foreach(json_object_get(provs, "providers"), i, pv)
    {
        if (!strcmp(json_string_value(json_object_get(pv, "name")), name)) {
            return pv;
        }
    }
    fail_msg("no provider %s", name);
    return NULL;
}

static void test_provider_usage(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    ocon_page_ctx_t pc = {"admin", "csrf", NULL, NULL};
    /* every node agrees: one list, naming the nodes */
    json_t *nodes = two_node_snapshots(p, "[\"<Location /both/>\",\"<Location /two-app/>\"]");
    json_t *provs = ocon_providers_from_nodes(NULL, p, nodes, 0), *two = provider_named(provs, "two");
    assert_string_equal(json_string_value(json_object_get(two, "display_name")),
                        "Partners <b>&</b> \"Co\" <script>x</script>");
    assert_true(json_is_true(json_object_get(two, "locations_same")));
    json_t *la = json_object_get(json_object_get(two, "locations"), "node-a");
    assert_int_equal(json_array_size(la), 2);
    assert_string_equal(json_string_value(json_array_get(la, 1)), "<Location /two-app/>");
    /* no display name: the name */
    assert_string_equal(json_string_value(json_object_get(provider_named(provs, "main"), "display_name")), "main");
    const char *html = ocon_render_providers(p, &pc, provs, &len);
    assert_non_null(strstr(html, "<h2>Partners &lt;b&gt;&amp;&lt;/b&gt; &quot;Co&quot; &lt;script&gt;x&lt;/script&gt; "
                                 "<small class=\"provider-name\"><code>two</code></small></h2>"));
    assert_null(strstr(html, "<script>"));
    assert_null(strstr(html, "<b>"));
    assert_non_null(strstr(html, "<p class=\"locations\">Used by <code>&lt;Location /both/&gt;</code>, "
                                 "<code>&lt;Location /two-app/&gt;</code> on node-a, node-b</p>"));
    assert_non_null(strstr(html, "Used by <span class=\"none\">no location</span> on node-a, node-b"));
    assert_non_null(strstr(html, "<dt>Userinfo at login</dt><dd>auto</dd>"));
    assert_null(strstr(html, "locations-differ"));
    json_decref(provs);
    json_decref(nodes);
    /* the nodes differ: a row per node, flagged */
    nodes = two_node_snapshots(p, "[\"<Location /both/>\"]");
    provs = ocon_providers_from_nodes(NULL, p, nodes, 0);
    two = provider_named(provs, "two");
    assert_true(json_is_false(json_object_get(two, "locations_same")));
    html = ocon_render_providers(p, &pc, provs, &len);
    assert_non_null(strstr(html, "<p class=\"flag locations-differ\">"));
    assert_non_null(strstr(html, "<tr><th>node-a</th><td><code>&lt;Location /both/&gt;</code>, "
                                 "<code>&lt;Location /two-app/&gt;</code></td></tr>"));
    assert_non_null(strstr(html, "<tr><th>node-b</th><td><code>&lt;Location /both/&gt;</code></td></tr>"));
    json_decref(provs);
    json_decref(nodes);
    /* a node that does not publish locations (an older module): unknown there, not "no location" */
    nodes = json_loads("{\"nodes\":[{\"node\":\"old\",\"snapshot\":{\"providers\":[{\"name\":\"main\"}]}}]}", 0,
                       NULL);
    provs = ocon_providers_from_nodes(NULL, p, nodes, 0);
    json_t *mainp = provider_named(provs, "main");
    assert_int_equal(json_object_size(json_object_get(mainp, "locations")), 0);
    html = ocon_render_providers(p, &pc, provs, &len);
    assert_null(strstr(html, "Used by"));
    assert_null(strstr(html, "no location"));
    json_decref(provs);
    json_decref(nodes);
}

static void test_term_safe(void **state)
{
    apr_pool_t *p = *state;
    assert_string_equal(ocon_term_safe(p, "Employees"), "Employees");
    assert_string_equal(ocon_term_safe(p, "D\xc3\xb6rte \xe2\x82\xac"), "D\xc3\xb6rte \xe2\x82\xac");
    assert_string_equal(ocon_term_safe(p, "a\x1b[2Jb\x7f\\c\n"), "a\\x1b[2Jb\\x7f\\\\c\\x0a");
    assert_string_equal(ocon_term_safe(p, "x\xc2\x9b" "31m"), "x\\u009b31m");                   /* C1 CSI */
    assert_string_equal(ocon_term_safe(p, "\xe2\x80\xae" "gpj.exe\xe2\x81\xa9"), "\\u202egpj.exe\\u2069"); /* bidi */
    assert_string_equal(ocon_term_safe(p, "\xe2\x80\xa9"), "\xe2\x80\xa9"); /* not a reordering one */
    assert_string_equal(ocon_term_safe(p, "cut\xc2"), "cut\xc2");             /* a cut sequence stays bytes */
    assert_string_equal(ocon_term_safe(p, NULL), "-");
    /* the worst case for the output size: every byte a control */
    char in[301];
    memset(in, 0x01, 300);
    in[300] = '\0';
    assert_int_equal(strlen(ocon_term_safe(p, in)), 1200);
    for (int i = 0; i < 300; i += 2) {
        in[i] = '\xc2';
        in[i + 1] = '\x85';
    }
    assert_int_equal(strlen(ocon_term_safe(p, in)), 900);
}

static void test_audit(void **state)
{
    apr_pool_t *p = *state;
    const char *err;
    assert_string_equal(ocon_audit_quote(p, "a\"b\\c\nd"), "\"a\\\"b\\\\c\\x0ad\"");
    ocon_filter_t f = {0};
    assert_string_equal(ocon_filter_describe(p, &f), "all");
    f.provider = "main";
    f.sub = "alice";
    assert_string_equal(ocon_filter_describe(p, &f), "provider=main sub=alice");
    char *path = apr_psprintf(p, "/tmp/ocon-test-audit-%ld", (long)getpid());
    unlink(path);
    assert_int_equal(ocon_audit_check(p, path, &err), APR_SUCCESS);
    assert_int_equal(ocon_audit(p, path, "adm\nin", "revoke-user", "provider=main sub=alice", 2, "cli", "-"),
                     APR_SUCCESS);
    FILE *fp = fopen(path, "r");
    char line[512];
    assert_non_null(fgets(line, sizeof(line), fp));
    assert_non_null(strstr(line, "admin=\"adm\\x0ain\" action=revoke-user target=\"provider=main sub=alice\" count=2 via=cli"));
    assert_null(fgets(line, sizeof(line), fp)); /* one line: the newline was escaped */
    fclose(fp);
    unlink(path);
    assert_int_not_equal(ocon_audit_check(p, "/nonexistent/dir/audit.log", &err), APR_SUCCESS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        UNIT_TEST(test_config_ok),       UNIT_TEST(test_config_errors),     UNIT_TEST(test_config_serve_checks),
        UNIT_TEST(test_cli_ok),          UNIT_TEST(test_cli_errors),        UNIT_TEST(test_html_escape),
        UNIT_TEST(test_render_escapes_session), UNIT_TEST(test_handle_ok),  UNIT_TEST(test_htpasswd),
        UNIT_TEST(test_login_sessions_csrf),    UNIT_TEST(test_index_names), UNIT_TEST(test_flatten_differing),
        UNIT_TEST(test_audit),           UNIT_TEST(test_login_unknown_admin_same_work),
        UNIT_TEST(test_login_limit_parallel),    UNIT_TEST(test_ua_summary),
        UNIT_TEST(test_addr_parse),      UNIT_TEST(test_proxies_parse),     UNIT_TEST(test_client_addr),
        UNIT_TEST(test_params),          UNIT_TEST(test_target_and_routes),
        UNIT_TEST(test_body),            UNIT_TEST(test_render_counts),   UNIT_TEST(test_metrics_url),   UNIT_TEST(test_age_text), UNIT_TEST(test_prefix_matches), UNIT_TEST(test_search_index),
        UNIT_TEST(test_provider_usage), UNIT_TEST(test_term_safe),
    };
    return UNIT_RUN("console", tests);
}
