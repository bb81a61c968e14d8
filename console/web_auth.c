/* Admin authentication for the web console: htpasswd (bcrypt only, checked
 * with APR-util's apr_password_validate), opaque console sessions (kept in
 * the session store by `serve`, admin_store.c, so that a restart logs nobody
 * out; in memory otherwise), CSRF synchronizer tokens, and a per-client
 * limit on failed logins.
 *
 * Every login attempt that passes the limit costs exactly one bcrypt
 * validation at the cost of the file's entries, whether the admin exists or
 * not (a dummy hash of that cost stands in), so timing does not tell which
 * admin names exist. The attempt is counted as a failure before the
 * validation starts (and forgiven when it succeeds), so parallel requests
 * cannot run more validations than the limit allows. */
#include "web.h"

#include "aoidc_crypto.h"
#include "aoidc_util.h"

#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_md5.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <pthread.h>
#include <string.h>

typedef struct {
    unsigned char id_hash[32]; /* SHA-256 of the cookie value: the table never holds the cookie */
    const char *admin;         /* malloc'd copy lives in the auth pool slot buffer */
    char admin_buf[OCON_USER_MAX + 1];
    apr_int64_t created, last;
    int used;
} csess_t;

typedef struct {
    char client[64];
    int fails;
    apr_int64_t window_start;
    int used;
} cfail_t;

struct ocon_auth {
    const ocon_config_t *cfg;
    apr_int64_t (*now)(void);
    unsigned char csrf_key[AOIDC_KEY_LEN];
    ocon_validate_fn validate;
    ocon_ctx_t *persist; /* logins kept in its store (ocon_auth_persist), else in sessions[] */
    char dummy_hash[64]; /* bcrypt of a random password at dummy_cost: equal work for unknown users */
    int dummy_cost;
    pthread_mutex_t lock;
    csess_t sessions[OCON_SESSIONS_MAX];
    cfail_t fails[OCON_CLIENTS_MAX];
};

static apr_int64_t wall_now(void)
{
    return (apr_int64_t)apr_time_sec(apr_time_now());
}

static apr_status_t bcrypt_validate(const char *password, const char *hash)
{
    return apr_password_validate(password, hash);
}

void ocon_auth_set_validator(ocon_auth_t *a, ocon_validate_fn fn)
{
    a->validate = fn ? fn : bcrypt_validate;
}

/* A bcrypt hash of a random password at cost (4..31) into out (64 bytes). */
static apr_status_t make_dummy(apr_pool_t *p, int cost, char *out, apr_size_t outlen)
{
    unsigned char salt[16], pw[16];
    if (aoidc_random(salt, sizeof(salt)) != APR_SUCCESS || aoidc_random(pw, sizeof(pw)) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    return apr_bcrypt_encode(aoidc_b64url_encode(p, pw, sizeof(pw)), (unsigned)cost, salt, sizeof(salt), out,
                             outlen);
}

/* The dummy hash for cost, copied into out; regenerated (outside the lock)
 * when the file's cost changed since the last time. */
static apr_status_t dummy_hash(ocon_auth_t *a, apr_pool_t *p, int cost, char *out, apr_size_t outlen)
{
    pthread_mutex_lock(&a->lock);
    int have = a->dummy_cost == cost;
    if (have) {
        apr_cpystrn(out, a->dummy_hash, outlen);
    }
    pthread_mutex_unlock(&a->lock);
    if (have) {
        return APR_SUCCESS;
    }
    apr_status_t rv = make_dummy(p, cost, out, outlen);
    if (rv == APR_SUCCESS) {
        pthread_mutex_lock(&a->lock);
        apr_cpystrn(a->dummy_hash, out, sizeof(a->dummy_hash));
        a->dummy_cost = cost;
        pthread_mutex_unlock(&a->lock);
    }
    return rv;
}

ocon_auth_t *ocon_auth_create(apr_pool_t *p, const ocon_config_t *cfg, apr_int64_t (*now_fn)(void))
{
    ocon_auth_t *a = apr_pcalloc(p, sizeof(*a));
    a->cfg = cfg;
    a->now = now_fn ? now_fn : wall_now;
    a->validate = bcrypt_validate;
    pthread_mutex_init(&a->lock, NULL);
    if (aoidc_random(a->csrf_key, sizeof(a->csrf_key)) != APR_SUCCESS) {
        return NULL;
    }
    /* the dummy at the file's cost now, so that the first unknown name costs no extra
     * hash; remade at a login if the file's cost changed (or could not be read here) */
    const char *hash, *err;
    int cost;
    char tmp[64];
    if (cfg->admin_htpasswd && ocon_htpasswd_lookup(p, cfg->admin_htpasswd, "", &hash, &cost, &err) >= 0) {
        dummy_hash(a, p, cost, tmp, sizeof(tmp));
    }
    return a;
}

void ocon_auth_persist(ocon_auth_t *a, ocon_ctx_t *ctx)
{
    static const char label[] = "oidc-console csrf key v1";
    unsigned char k[32];
    a->persist = ctx;
    /* a restart must not invalidate the forms of open pages: a key derived
     * from the crypto key, not a random one */
    aoidc_hmac_sha256(ctx->keys.session, label, sizeof(label) - 1, k);
    pthread_mutex_lock(&a->lock);
    memcpy(a->csrf_key, k, sizeof(a->csrf_key) < sizeof(k) ? sizeof(a->csrf_key) : sizeof(k));
    pthread_mutex_unlock(&a->lock);
}

/* Seconds a stored login lives from now: to its idle or absolute end. */
static long persist_ttl(const ocon_auth_t *a, apr_int64_t created, apr_int64_t now)
{
    apr_int64_t idle = a->cfg->login_idle, left = created + a->cfg->login_max - now;
    return (long)(idle < left ? idle : left);
}

/* A stored login's idle clock is refreshed at most this often (seconds); the
 * idle timeout is then met within this much after a restart. */
static apr_int64_t persist_touch(const ocon_auth_t *a)
{
    return a->cfg->login_idle / 6 > 0 ? a->cfg->login_idle / 6 : 1;
}

static int is_bcrypt(const char *h)
{
    return !strncmp(h, "$2y$", 4) || !strncmp(h, "$2a$", 4) || !strncmp(h, "$2b$", 4);
}

/* The cost of a bcrypt hash ("$2y$10$..."), or 0 when it is not one. */
static int bcrypt_cost(const char *h)
{
    if (!is_bcrypt(h) || !apr_isdigit(h[4]) || !apr_isdigit(h[5]) || h[6] != '$') {
        return 0;
    }
    int cost = (h[4] - '0') * 10 + (h[5] - '0');
    return cost >= 4 && cost <= 31 ? cost : 0;
}

int ocon_htpasswd_lookup(apr_pool_t *p, const char *path, const char *user, const char **hash, int *cost,
                         const char **err)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char ebuf[128];
    *hash = NULL;
    *cost = OCON_DUMMY_COST;
    apr_status_t rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
        if (rv == APR_SUCCESS && fi.size > OCON_HTPASSWD_MAX) {
            apr_file_close(f);
            *err = apr_psprintf(p, "%s: larger than %d bytes", path, OCON_HTPASSWD_MAX);
            return -1;
        }
    }
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "%s: %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return -1;
    }
    apr_size_t n = (apr_size_t)fi.size;
    char *buf = apr_palloc(p, n + 1);
    rv = apr_file_read_full(f, buf, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        *err = apr_psprintf(p, "%s: %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return -1;
    }
    buf[n] = '\0';
    const char *found = NULL;
    int first_cost = 0;
    apr_size_t ulen = strlen(user);
    char *last;
    for (char *line = apr_strtok(buf, "\r\n", &last); line; line = apr_strtok(NULL, "\r\n", &last)) {
        const char *colon = strchr(line, ':');
        if (!first_cost && colon) {
            first_cost = bcrypt_cost(colon + 1);
        }
        if (strncmp(line, user, ulen) == 0 && line[ulen] == ':' && !found) {
            found = line + ulen + 1;
        }
    }
    if (found && bcrypt_cost(found)) {
        *hash = found;
        *cost = bcrypt_cost(found);
        return 1;
    }
    if (first_cost) {
        *cost = first_cost;
    }
    return 0;
}

int ocon_htpasswd_check(apr_pool_t *p, const char *path, const char *user, const char *password, const char **err)
{
    const char *hash;
    int cost;
    int rc = ocon_htpasswd_lookup(p, path, user, &hash, &cost, err);
    if (rc <= 0) {
        return rc;
    }
    return apr_password_validate(password, hash) == APR_SUCCESS;
}

static int user_ok(const char *u)
{
    apr_size_t n = 0;
    if (!u || !*u) {
        return 0;
    }
    for (; *u; u++, n++) {
        if ((unsigned char)*u < 0x21 || *u == ':' || *u == 0x7f || n >= OCON_USER_MAX) {
            return 0;
        }
    }
    return 1;
}

/* The failure record of a client, or NULL; expired records are dropped. */
static cfail_t *fail_find(ocon_auth_t *a, const char *client, apr_int64_t now)
{
    for (int i = 0; i < OCON_CLIENTS_MAX; i++) {
        cfail_t *c = &a->fails[i];
        if (c->used && now - c->window_start >= a->cfg->login_fail_window) {
            c->used = 0;
        }
        if (c->used && !strcmp(c->client, client)) {
            return c;
        }
    }
    return NULL;
}

/* The failure record of a client, created (evicting the oldest) if needed. */
static cfail_t *fail_slot(ocon_auth_t *a, const char *client, apr_int64_t now)
{
    cfail_t *c = fail_find(a, client, now), *oldest = &a->fails[0];
    if (c) {
        return c;
    }
    for (int i = 0; i < OCON_CLIENTS_MAX && !c; i++) {
        if (!a->fails[i].used) {
            c = &a->fails[i];
        }
        else if (a->fails[i].window_start < oldest->window_start) {
            oldest = &a->fails[i];
        }
    }
    if (!c) {
        c = oldest;
    }
    memset(c, 0, sizeof(*c));
    apr_cpystrn(c->client, client, sizeof(c->client));
    c->window_start = now;
    c->used = 1;
    return c;
}

/* Under the lock: refuse when the client is at its limit, else count this
 * attempt as a failure now, before any validation runs. */
static int fail_reserve(ocon_auth_t *a, const char *client, apr_int64_t now)
{
    pthread_mutex_lock(&a->lock);
    cfail_t *c = fail_slot(a, client, now);
    int ok = c->fails < a->cfg->login_fail_max;
    if (ok) {
        c->fails++;
    }
    pthread_mutex_unlock(&a->lock);
    return ok;
}

/* The attempt did not fail after all (success, or our own error). */
static void fail_forgive(ocon_auth_t *a, const char *client, apr_int64_t now, int success)
{
    pthread_mutex_lock(&a->lock);
    cfail_t *c = fail_find(a, client, now);
    if (c && success) {
        c->used = 0; /* success clears the client's failures */
    }
    else if (c && c->fails > 0) {
        c->fails--;
    }
    pthread_mutex_unlock(&a->lock);
}

ocon_login_rc_t ocon_auth_login(ocon_auth_t *a, apr_pool_t *p, const char *client, const char *user,
                                const char *password, const char **sid)
{
    apr_int64_t now = a->now();
    const char *err = NULL, *hash = NULL;
    char dummy[64];
    int cost = OCON_DUMMY_COST, found = 0;
    char bounded[sizeof(((cfail_t *)0)->client)];
    *sid = NULL;
    /* the failure table keeps this many bytes of a client's address: count
     * under exactly that key, or a longer one would never find its record
     * and escape the limit (two clients that share the prefix share it) */
    apr_cpystrn(bounded, client ? client : "-", sizeof(bounded));
    client = bounded;
    if (!fail_reserve(a, client, now)) {
        return OCON_LOGIN_LIMITED;
    }
    int well_formed = user_ok(user) && password && strlen(password) <= OCON_PASSWORD_MAX;
    found = ocon_htpasswd_lookup(p, a->cfg->admin_htpasswd, well_formed ? user : "", &hash, &cost, &err);
    if (found < 0) {
        fprintf(stderr, "oidc-console: admin_htpasswd: %s\n", err);
        fail_forgive(a, client, now, 0);
        return OCON_LOGIN_ERROR;
    }
    if (!found || !well_formed) {
        /* unknown admin, or not a bcrypt entry: the same work against a dummy of the file's cost */
        if (dummy_hash(a, p, cost, dummy, sizeof(dummy)) != APR_SUCCESS) {
            fail_forgive(a, client, now, 0);
            return OCON_LOGIN_ERROR;
        }
        a->validate(password && well_formed ? password : "x", dummy);
        return OCON_LOGIN_BAD;
    }
    if (a->validate(password, hash) != APR_SUCCESS) {
        return OCON_LOGIN_BAD;
    }
    fail_forgive(a, client, now, 1);
    if (a->persist) {
        unsigned char raw[OCON_SID_BYTES];
        if (aoidc_random(raw, sizeof(raw)) != APR_SUCCESS) {
            return OCON_LOGIN_ERROR;
        }
        const char *id = aoidc_b64url_encode(p, raw, sizeof(raw));
        ocon_admin_rec_t rec = {user, now, now};
        if (ocon_admin_put(a->persist, p, id, &rec, persist_ttl(a, now, now)) != APR_SUCCESS) {
            fprintf(stderr, "oidc-console: could not keep the login in the session store\n");
            return OCON_LOGIN_ERROR;
        }
        *sid = id;
        return OCON_LOGIN_OK;
    }
    pthread_mutex_lock(&a->lock);
    csess_t *slot = NULL;
    for (int i = 0; i < OCON_SESSIONS_MAX; i++) {
        csess_t *s = &a->sessions[i];
        if (s->used && (now - s->last >= a->cfg->login_idle || now - s->created >= a->cfg->login_max)) {
            s->used = 0;
        }
        if (!s->used && !slot) {
            slot = s;
        }
    }
    if (!slot) {
        pthread_mutex_unlock(&a->lock);
        return OCON_LOGIN_ERROR;
    }
    unsigned char raw[OCON_SID_BYTES];
    if (aoidc_random(raw, sizeof(raw)) != APR_SUCCESS) {
        pthread_mutex_unlock(&a->lock);
        return OCON_LOGIN_ERROR;
    }
    const char *id = aoidc_b64url_encode(p, raw, sizeof(raw));
    memset(slot, 0, sizeof(*slot));
    aoidc_sha256(id, strlen(id), slot->id_hash);
    apr_cpystrn(slot->admin_buf, user, sizeof(slot->admin_buf));
    slot->created = slot->last = now;
    slot->used = 1;
    pthread_mutex_unlock(&a->lock);
    *sid = id;
    return OCON_LOGIN_OK;
}

static int sid_ok(const char *sid)
{
    return sid && strlen(sid) == 43 && aoidc_session_id_ok(sid);
}

const char *ocon_auth_check(ocon_auth_t *a, apr_pool_t *p, const char *sid)
{
    unsigned char h[32];
    const char *admin = NULL;
    apr_int64_t now = a->now();
    if (!sid_ok(sid)) {
        return NULL;
    }
    if (a->persist) {
        ocon_admin_rec_t rec;
        if (ocon_admin_get(a->persist, p, sid, &rec) != 1) {
            return NULL;
        }
        if (now - rec.last >= a->cfg->login_idle || now - rec.created >= a->cfg->login_max || rec.last > now + 60) {
            ocon_admin_del(a->persist, p, sid);
            return NULL;
        }
        if (now - rec.last >= persist_touch(a)) {
            rec.last = now;
            ocon_admin_put(a->persist, p, sid, &rec, persist_ttl(a, rec.created, now));
        }
        return rec.admin;
    }
    aoidc_sha256(sid, strlen(sid), h);
    pthread_mutex_lock(&a->lock);
    for (int i = 0; i < OCON_SESSIONS_MAX; i++) {
        csess_t *s = &a->sessions[i];
        if (!s->used || !aoidc_ct_equal(s->id_hash, 32, h, 32)) {
            continue;
        }
        if (now - s->last >= a->cfg->login_idle || now - s->created >= a->cfg->login_max) {
            s->used = 0;
            break;
        }
        s->last = now;
        admin = apr_pstrdup(p, s->admin_buf);
        break;
    }
    pthread_mutex_unlock(&a->lock);
    return admin;
}

void ocon_auth_logout(ocon_auth_t *a, const char *sid)
{
    unsigned char h[32];
    if (!sid_ok(sid)) {
        return;
    }
    if (a->persist) {
        apr_pool_t *p;
        if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) == APR_SUCCESS) {
            ocon_admin_del(a->persist, p, sid);
            apr_pool_destroy(p);
        }
        return;
    }
    aoidc_sha256(sid, strlen(sid), h);
    pthread_mutex_lock(&a->lock);
    for (int i = 0; i < OCON_SESSIONS_MAX; i++) {
        if (a->sessions[i].used && aoidc_ct_equal(a->sessions[i].id_hash, 32, h, 32)) {
            memset(&a->sessions[i], 0, sizeof(a->sessions[i]));
        }
    }
    pthread_mutex_unlock(&a->lock);
}

const char *ocon_csrf_token(ocon_auth_t *a, apr_pool_t *p, const char *sid)
{
    unsigned char mac[32];
    const char *in = apr_pstrcat(p, "oidc-console csrf v1:", sid ? sid : "", NULL);
    aoidc_hmac_sha256(a->csrf_key, in, strlen(in), mac);
    return aoidc_b64url_encode(p, mac, sizeof(mac));
}

int ocon_csrf_ok(ocon_auth_t *a, apr_pool_t *p, const char *sid, const char *token)
{
    if (!sid_ok(sid) || !token || strlen(token) > 100) {
        return 0;
    }
    const char *want = ocon_csrf_token(a, p, sid);
    return aoidc_ct_equal(want, strlen(want), token, strlen(token));
}
