/* oidc-console units: config and CLI parsing, HTML escaping, CSRF tokens,
 * htpasswd/bcrypt, console sessions and the login rate limit, snapshot
 * flattening and diffing, audit quoting. No store needed. */
#include "unit.h"
#include "console.h"
#include "web.h"

#include <apr_file_io.h>
#include <apr_md5.h>
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
        {"store_servers = a\ncrypto_key_file = /k\nper_page = 0\n", ":3: 'per_page' must be a number"},
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
    assert_int_equal(parse(p, &c, &err, "dev-seed", "1000", "--threads", "2", NULL), 0);
    assert_int_equal(c.seed_count, 1000);
    assert_int_equal(c.seed_users, 250);
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
    BAD("dev-seed");
    BAD("dev-seed", "0");
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

static void test_handle_ok(void **state)
{
    assert_true(ocon_handle_ok("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_"));
    assert_false(ocon_handle_ok("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_false(ocon_handle_ok("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/"));
    assert_false(ocon_handle_ok("../../../../../../../../../../../../../etc/p"));
    assert_false(ocon_handle_ok(NULL));
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

    /* malformed user names never reach the file */
    assert_int_equal(ocon_auth_login(a, p, "8.8.8.8", "ad:min", "pw", &sid), OCON_LOGIN_BAD);
    assert_int_equal(ocon_auth_login(a, p, "8.8.8.8", "", "pw", &sid), OCON_LOGIN_BAD);
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
        UNIT_TEST(test_audit),
    };
    return UNIT_RUN("console", tests);
}
