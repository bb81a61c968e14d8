/* aoidc-seed: fill a store with synthetic sessions, for tests and the
 * benchmark only (tests/e2e/test_88_console_window.py,
 * tests/bench/console_bench.py). A test program, built but never installed:
 * it writes session records with the store's key, so it has no place beside
 * an operator's tools.
 *
 *   aoidc-seed [--config FILE] COUNT [--users U] [--provider P] [--threads T]
 *              [--fresh] [--ids-file FILE] [--record-bytes B]
 *
 * The config is the console's (store_servers, crypto_key_file,
 * session_window); FILE defaults to $OIDC_CONSOLE_CONFIG. Prints one JSON line
 * {"seeded", "failed", "users", "provider", "seconds", "record_bytes"}
 * (record_bytes: the mean length of a session record as stored).
 *
 * --fresh: every session was last seen now (its creation time stays spread
 * over the window), so that a module serves it without a write-back and its
 * session cache keeps it (tests/bench/run_bench.py --memory).
 * --ids-file: write each session id (the cookie value) to FILE, one a line,
 * mode 0600 (they are live credentials of the test store).
 * --record-bytes: pad the ID token so that a record is about B bytes as
 * stored (default: a 300-byte ID token), e.g. the size of a real login's.
 *
 * Records and directory entries are written through the same API the module
 * uses (aoidc_session_encode + set, aoidc_dir_add). To avoid CAS contention,
 * thread t owns the users u with u % T == t and the time buckets b with
 * b % T == t, so no two threads ever update the same list. */
#include "console.h"

#include "aoidc_directory.h"
#include "aoidc_util.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AOIDC_SEED_FILLER_MAX 60000

typedef struct {
    ocon_ctx_t *ctx;
    long count, users;
    int threads, t;
    const char *provider;
    apr_int64_t now;
    int fresh;
    long record_target; /* 0: the 300-byte ID token */
    FILE *ids; /* NULL: not written; shared, one fprintf per line */
    long written, failed;
    apr_uint64_t record_bytes;
} seed_job_t;

static void *seed_thread(void *arg)
{
    seed_job_t *j = arg;
    apr_pool_t *p, *sp;
    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    apr_pool_create(&sp, p);
    long nbuckets = (long)(j->ctx->cfg->session_window * 9 / 10) / AOIDC_DIR_BUCKET;
    long per_thread = nbuckets / j->threads;
    if (per_thread < 1) {
        per_thread = 1;
    }
    apr_int64_t b0 = j->now / AOIDC_DIR_BUCKET;
    /* the ID token: 300 bytes, or sized once (on the first record) so that
     * the records come to about record_target bytes (a byte of ID token is
     * a byte of record: the plaintext is sealed as it is) */
    char *filler = apr_palloc(p, AOIDC_SEED_FILLER_MAX + 1);
    long flen = 300;
    int sized = !j->record_target;
    memset(filler, 'x', AOIDC_SEED_FILLER_MAX);
    filler[flen] = '\0';
    for (long i = 0; i < j->count; i++) {
        long u = i % j->users;
        if (u % j->threads != j->t) {
            continue;
        }
        apr_pool_clear(sp);
        long k = j->t + j->threads * (((i / j->users) + (u / j->threads)) % per_thread);
        apr_int64_t bucket = b0 - 1 - k;
        aoidc_claim_t claims[4] = {
            {"email", apr_psprintf(sp, "user%07ld@bench.example", u)},
            {"name", apr_psprintf(sp, "Bench User %07ld", u)},
            {"groups", "staff"},
            {"preferred_username", apr_psprintf(sp, "user%07ld", u)},
        };
        aoidc_session_t s = {0};
        s.created = bucket * AOIDC_DIR_BUCKET + (i % AOIDC_DIR_BUCKET);
        s.last_seen = j->fresh ? j->now : s.created;
        s.expires = j->now + 7200 + (i % 3600);
        s.access_token_exp = s.expires;
        s.provider = j->provider;
        s.sub = apr_psprintf(sp, "user%07ld", u);
        s.user = s.sub;
        s.sid = apr_psprintf(sp, "sid-%ld", i);
        s.id_token = filler;
        s.access_token = "bench-access-token-0123456789abcdef0123456789abcdef";
        s.refresh_token = "bench-refresh-token-0123456789abcdef0123456789abcdef";
        s.node = "bench";
        s.client_ip = "192.0.2.1";
        s.user_agent = "aoidc-seed";
        s.nclaims = 4;
        s.claims = claims;
        const char *id = aoidc_random_token(sp, AOIDC_SESSION_ID_BYTES);
        const char *key = aoidc_session_store_key(sp, &j->ctx->keys, id);
        unsigned char *rec;
        apr_size_t reclen;
        if (id && !sized && aoidc_session_encode(sp, &j->ctx->keys, key, &s, &rec, &reclen) == APR_SUCCESS) {
            filler[flen] = 'x';
            flen += j->record_target - (long)reclen;
            flen = flen < 1 ? 1 : flen > AOIDC_SEED_FILLER_MAX ? AOIDC_SEED_FILLER_MAX : flen;
            filler[flen] = '\0';
            sized = 1;
        }
        if (!id || aoidc_session_encode(sp, &j->ctx->keys, key, &s, &rec, &reclen) != APR_SUCCESS ||
            j->ctx->store->set(j->ctx->store, key, rec, reclen, (long)(s.expires - j->now)) != AOIDC_STORE_OK ||
            aoidc_dir_add(j->ctx->store, &j->ctx->keys, sp, aoidc_dir_handle(key), &s) != APR_SUCCESS) {
            j->failed++;
            continue;
        }
        if (j->ids && fprintf(j->ids, "%s\n", id) < 0) {
            j->failed++;
            continue;
        }
        j->written++;
        j->record_bytes += reclen;
    }
    apr_pool_destroy(p);
    return NULL;
}

static int seed(ocon_ctx_t *ctx, apr_pool_t *p, long count, long users, int threads, const char *provider,
                int fresh, long record_target, FILE *ids)
{
    seed_job_t *jobs = apr_pcalloc(p, sizeof(*jobs) * (apr_size_t)threads);
    pthread_t *tids = apr_pcalloc(p, sizeof(*tids) * (apr_size_t)threads);
    apr_time_t t0 = apr_time_now();
    long written = 0, failed = 0;
    apr_uint64_t record_bytes = 0;
    if (users > count) {
        users = count;
    }
    for (int t = 0; t < threads; t++) {
        jobs[t] = (seed_job_t){ctx, count, users, threads, t, provider, apr_time_sec(t0), fresh,
                               record_target, ids, 0, 0, 0};
        if (pthread_create(&tids[t], NULL, seed_thread, &jobs[t]) != 0) {
            fprintf(stderr, "aoidc-seed: thread creation failed\n");
            return OCON_EXIT_FAILURE;
        }
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
        written += jobs[t].written;
        failed += jobs[t].failed;
        record_bytes += jobs[t].record_bytes;
    }
    double secs = (double)(apr_time_now() - t0) / APR_USEC_PER_SEC;
    json_t *j = json_pack("{s:I, s:I, s:I, s:s, s:f, s:I}", "seeded", (json_int_t)written, "failed",
                          (json_int_t)failed, "users", (json_int_t)users, "provider", provider, "seconds", secs,
                          "record_bytes", (json_int_t)(written ? record_bytes / (apr_uint64_t)written : 0));
    json_dumpf(j, stdout, 0);
    fputc('\n', stdout);
    json_decref(j);
    return failed ? OCON_EXIT_FAILURE : OCON_EXIT_OK;
}

static int number(const char *v, long min, long max, long *out)
{
    char *end;
    if (!v || !(*v >= '0' && *v <= '9')) {
        return 0;
    }
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < min || n > max) {
        return 0;
    }
    *out = n;
    return 1;
}

static int usage(const char *why)
{
    fprintf(stderr, "aoidc-seed: %s\nusage: aoidc-seed [--config FILE] COUNT [--users U] [--provider P] "
                    "[--threads T] [--fresh] [--ids-file FILE] [--record-bytes B]\n", why);
    return OCON_EXIT_USAGE;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *p;
    const char *config = getenv("OIDC_CONSOLE_CONFIG"), *provider = "bench", *err = NULL, *ids_path = NULL;
    long count = 0, users = 0, threads = 4, record_target = 0;
    int fresh = 0;
    if (apr_app_initialize(&argc, &argv, NULL) != APR_SUCCESS || apr_pool_create(&p, NULL) != APR_SUCCESS) {
        fputs("aoidc-seed: APR initialisation failed\n", stderr);
        return OCON_EXIT_FAILURE;
    }
    atexit(apr_terminate);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--config") || !strcmp(a, "-c")) {
            if (!v) {
                return usage("--config needs a file");
            }
            config = v;
            i++;
        }
        else if (!strcmp(a, "--users")) {
            if (!number(v, 1, 10000000, &users)) {
                return usage("--users: a number from 1");
            }
            i++;
        }
        else if (!strcmp(a, "--threads")) {
            if (!number(v, 1, 64, &threads)) {
                return usage("--threads: 1..64");
            }
            i++;
        }
        else if (!strcmp(a, "--provider")) {
            if (!v || !ocon_value_ok(v)) {
                return usage("--provider needs a name");
            }
            provider = v;
            i++;
        }
        else if (!strcmp(a, "--fresh")) {
            fresh = 1;
        }
        else if (!strcmp(a, "--record-bytes")) {
            if (!number(v, 512, AOIDC_SEED_FILLER_MAX, &record_target)) {
                return usage("--record-bytes: 512..60000");
            }
            i++;
        }
        else if (!strcmp(a, "--ids-file")) {
            if (!v || !*v) {
                return usage("--ids-file needs a file");
            }
            ids_path = v;
            i++;
        }
        else if (!count && number(a, 1, 10000000, &count)) {
            continue;
        }
        else {
            return usage(apr_psprintf(p, "unexpected argument '%s'", a));
        }
    }
    if (!count) {
        return usage("COUNT (1..10000000) is required");
    }
    if (!config || !*config) {
        return usage("--config FILE (or $OIDC_CONSOLE_CONFIG) is required");
    }
    if (!users) {
        users = count / 4 ? count / 4 : 1;
    }
    ocon_config_t *cfg = apr_pcalloc(p, sizeof(*cfg));
    ocon_ctx_t ctx;
    if (ocon_config_load(p, config, cfg, &err) != APR_SUCCESS ||
        ocon_ctx_open(p, cfg, (int)threads + 1, &ctx, &err) != OCON_EXIT_OK) {
        fprintf(stderr, "aoidc-seed: %s\n", err);
        return OCON_EXIT_CONFIG;
    }
    if (ocon_store_probe(&ctx, p) == OCON_DOWN) {
        fprintf(stderr, "aoidc-seed: session store unreachable (%s)\n", cfg->store_servers);
        return OCON_EXIT_STORE;
    }
    FILE *ids = NULL;
    if (ids_path) {
        int fd = open(ids_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || !(ids = fdopen(fd, "w"))) {
            fprintf(stderr, "aoidc-seed: %s: %s\n", ids_path, strerror(errno));
            if (fd >= 0) {
                close(fd);
            }
            return OCON_EXIT_FAILURE;
        }
    }
    int rc = seed(&ctx, p, count, users, (int)threads, provider, fresh, record_target, ids);
    if (ids && fclose(ids) != 0) {
        fprintf(stderr, "aoidc-seed: %s: %s\n", ids_path, strerror(errno));
        rc = OCON_EXIT_FAILURE;
    }
    fflush(stdout);
    apr_pool_destroy(p);
    return rc;
}
