/* The audit log: one line per revocation, appended with a single write(2) on
 * an O_APPEND descriptor so that concurrent writers (CLI and web console)
 * never interleave within a line. */
#include "console.h"

#include <apr_strings.h>
#include <apr_time.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

const char *ocon_audit_quote(apr_pool_t *p, const char *v)
{
    if (!v) {
        return "-";
    }
    static const char hex[] = "0123456789abcdef";
    apr_size_t n = strlen(v);
    /* at most 4 bytes per input byte ("\\xHH"), two quotes and the NUL */
    char *out = apr_palloc(p, n * 4 + 3), *o = out;
    *o++ = '"';
    for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
        if (*c == '"' || *c == '\\') {
            *o++ = '\\';
            *o++ = (char)*c;
        }
        else if (*c < 0x20 || *c == 0x7f) {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
        else {
            *o++ = (char)*c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

const char *ocon_filter_describe(apr_pool_t *p, const ocon_filter_t *f)
{
    const char *s = "";
    if (f->handle) {
        s = apr_pstrcat(p, s, " handle=", f->handle, NULL);
    }
    if (f->provider) {
        s = apr_pstrcat(p, s, " provider=", f->provider, NULL);
    }
    if (f->sub) {
        s = apr_pstrcat(p, s, " sub=", f->sub, NULL);
    }
    if (f->email) {
        s = apr_pstrcat(p, s, " email=", f->email, NULL);
    }
    if (f->name) {
        s = apr_pstrcat(p, s, " name=", f->name, NULL);
    }
    if (f->sid) {
        s = apr_pstrcat(p, s, " sid=", f->sid, NULL);
    }
    return *s ? s + 1 : "all";
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
}

apr_status_t ocon_audit_check(apr_pool_t *p, const char *path, const char **err)
{
    if (!path) {
        *err = "audit_log is not set";
        return APR_EINVAL;
    }
    int fd = open_log(path);
    if (fd < 0) {
        apr_status_t rv = APR_FROM_OS_ERROR(errno);
        *err = apr_psprintf(p, "audit_log %s: %s", path, strerror(errno));
        return rv;
    }
    close(fd);
    return APR_SUCCESS;
}

apr_status_t ocon_audit(apr_pool_t *p, const char *path, const char *admin, const char *action,
                        const char *target, int count, const char *via, const char *client)
{
    if (!path) {
        return APR_EINVAL;
    }
    const char *line = apr_psprintf(p, "%s admin=%s action=%s target=%s count=%d via=%s client=%s\n",
                                    ocon_time_iso(p, apr_time_sec(apr_time_now())), ocon_audit_quote(p, admin),
                                    action, ocon_audit_quote(p, target), count, via, ocon_audit_quote(p, client));
    int fd = open_log(path);
    if (fd < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    apr_size_t len = strlen(line);
    ssize_t w = write(fd, line, len);
    apr_status_t rv = (w == (ssize_t)len) ? APR_SUCCESS : APR_FROM_OS_ERROR(errno ? errno : EIO);
    if (close(fd) != 0 && rv == APR_SUCCESS) {
        rv = APR_FROM_OS_ERROR(errno);
    }
    return rv;
}
