/*
 * router.c — route table as a segment trie.  Each node has literal children and at most one
 * parameter child; matching tries the literal child first and falls back to the parameter
 * child only if the literal subtree cannot match the rest of the path (so /workflows/templates
 * beats /workflows/{id}, yet /a/{x}/c still matches /a/b/c when /a/b/... has no c).  The
 * method is chosen after the path: a path known with other methods is a 405, not a 404.
 */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rnode {
    char *lit;
    size_t litlen;
    struct rnode **kids;
    int nkids;
    struct rnode *param;
    const struct route *by_method[M_NROUTED];
    bool terminal;
    const char *pattern; /* path of the first route ending here (metrics label) */
    char allow[64];
};

static struct rnode *node_new(void)
{
    return xcalloc(1, sizeof(struct rnode));
}

static void node_free(struct rnode *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    node_free(n->param);
    free(n->lit);
    free(n);
}

static void warnf(router_warn_fn warn, void *arg, const char *fmt, const char *a, const char *b)
{
    char msg[512];
    if (!warn)
        return;
    snprintf(msg, sizeof(msg), fmt, a, b);
    warn(arg, msg);
}

bool router_function_ok(const char *s)
{
    int dots = 0;
    bool start = true;
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (c == '.') {
            if (start || ++dots > 1)
                return false;
            start = true;
            continue;
        }
        bool alpha = (c >= 'a' && c <= 'z') || c == '_';
        if (!(alpha || (!start && c >= '0' && c <= '9')))
            return false;
        start = false;
    }
    return dots == 1 && !start;
}

static bool seg_literal_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '{' || c == '}' || c == '%' || c == '?' || c == '#')
            return false;
    }
    return n > 0;
}

/* Parse "/a/{b}/c" into segments; false if malformed. */
static bool parse_path(struct route *r, const char *path)
{
    size_t n = strlen(path);
    if (n == 0 || path[0] != '/')
        return false;
    while (n > 1 && path[n - 1] == '/')
        n--;
    r->path = xstrndup(path, n);
    r->segs = xcalloc(ROUTE_MAX_SEGS, sizeof(struct route_seg));
    r->nsegs = 0;
    if (n == 1)
        return true;
    const char *p = path + 1, *e = path + n;
    int nparams = 0;
    while (p <= e) {
        const char *s = memchr(p, '/', (size_t)(e - p));
        if (!s)
            s = e;
        size_t l = (size_t)(s - p);
        if (r->nsegs == ROUTE_MAX_SEGS || l == 0)
            return false;
        struct route_seg *sg = &r->segs[r->nsegs++];
        if (p[0] == '{') {
            if (l < 3 || p[l - 1] != '}' || ++nparams > ROUTE_MAX_PARAMS)
                return false;
            for (size_t i = 1; i < l - 1; i++) {
                char c = p[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_'))
                    return false;
            }
            sg->param = true;
            sg->text = xstrndup(p + 1, l - 2);
            sg->len = l - 2;
        } else {
            if (!seg_literal_ok(p, l))
                return false;
            sg->text = xstrndup(p, l);
            sg->len = l;
        }
        p = s + 1;
    }
    return true;
}

static void route_free(struct route *r)
{
    free(r->path);
    free(r->function);
    free(r->summary);
    free(r->tag);
    for (int i = 0; i < r->nsegs; i++)
        free(r->segs[i].text);
    free(r->segs);
}

static struct rnode *insert(struct rnode *root, const struct route *r)
{
    struct rnode *n = root;
    for (int i = 0; i < r->nsegs; i++) {
        const struct route_seg *sg = &r->segs[i];
        if (sg->param) {
            if (!n->param)
                n->param = node_new();
            n = n->param;
            continue;
        }
        struct rnode *k = NULL;
        for (int j = 0; j < n->nkids; j++) {
            if (n->kids[j]->litlen == sg->len && memcmp(n->kids[j]->lit, sg->text, sg->len) == 0) {
                k = n->kids[j];
                break;
            }
        }
        if (!k) {
            k = node_new();
            k->lit = xstrndup(sg->text, sg->len);
            k->litlen = sg->len;
            n->kids = xrealloc(n->kids, sizeof(*n->kids) * (size_t)(n->nkids + 1));
            n->kids[n->nkids++] = k;
        }
        n = k;
    }
    return n;
}

static void fill_allow(struct rnode *n)
{
    if (n->terminal) {
        char *o = n->allow;
        size_t room = sizeof(n->allow);
        o[0] = 0;
        for (int m = 0; m < M_NROUTED; m++) {
            if (!n->by_method[m])
                continue;
            size_t l = strlen(o);
            snprintf(o + l, room - l, "%s%s", l ? ", " : "", http_method_name(m));
            if (m == M_GET) {
                l = strlen(o);
                snprintf(o + l, room - l, ", HEAD");
            }
        }
        size_t l = strlen(o);
        snprintf(o + l, room - l, "%sOPTIONS", l ? ", " : "");
    }
    for (int i = 0; i < n->nkids; i++)
        fill_allow(n->kids[i]);
    if (n->param)
        fill_allow(n->param);
}

struct route_table *router_build(const struct route_row *rows, int n, router_warn_fn warn,
                                 void *arg)
{
    struct route_table *t = xcalloc(1, sizeof(*t));
    t->refcount = 1;
    t->routes = xcalloc((size_t)(n > 0 ? n : 1), sizeof(struct route));
    t->root = node_new();
    for (int i = 0; i < n; i++) {
        const struct route_row *row = &rows[i];
        struct route *r = &t->routes[t->nroutes];
        memset(r, 0, sizeof(*r));
        const char *mname = row->method ? row->method : "";
        r->method = http_method_from(mname, strlen(mname));
        if (r->method >= M_NROUTED) {
            warnf(warn, arg, "route %s %s skipped: method must be GET/POST/PUT/PATCH/DELETE", mname,
                  row->path ? row->path : "");
            continue;
        }
        if (!row->path || !parse_path(r, row->path)) {
            warnf(warn, arg, "route %s %s skipped: malformed path", mname,
                  row->path ? row->path : "(null)");
            route_free(r);
            continue;
        }
        if (!router_function_ok(row->function)) {
            warnf(warn, arg, "route %s skipped: function \"%s\" is not a schema.name identifier",
                  r->path, row->function ? row->function : "(null)");
            route_free(r);
            continue;
        }
        char *end = NULL;
        long st = row->status ? strtol(row->status, &end, 10) : 0;
        if (!row->status || *end || st < 100 || st > 599) {
            warnf(warn, arg, "route %s skipped: status \"%s\" is not 100..599", r->path,
                  row->status ? row->status : "(null)");
            route_free(r);
            continue;
        }
        r->status = (int)st;
        /* only a GET may say so (the table checks it too): running a write twice is never safe */
        r->read_only = r->method == M_GET && row->read_only && strcmp(row->read_only, "t") == 0;
        r->stream = r->method != M_GET || !row->stream      ? STREAM_NONE
                    : strcmp(row->stream, "websocket") == 0 ? STREAM_WEBSOCKET
                    : strcmp(row->stream, "sse") == 0       ? STREAM_SSE
                                                            : STREAM_NONE;
        r->errors = row->error_style && strcmp(row->error_style, "original") == 0 ? ERRORS_ORIGINAL
                                                                                  : ERRORS_FLOV7;
        r->function = xstrdup(row->function);
        r->summary = xstrdup(row->summary ? row->summary : "");
        r->tag = xstrdup(row->tag ? row->tag : "");
        r->fn_id = router_function_id(r->function);
        struct rnode *leaf = insert(t->root, r);
        if (leaf->by_method[r->method]) {
            warnf(warn, arg, "route %s %s skipped: duplicate", mname, r->path);
            route_free(r);
            continue;
        }
        /* routes[] was sized for all rows up front, so &routes[i] stays valid */
        leaf->by_method[r->method] = r;
        if (!leaf->terminal)
            leaf->pattern = r->path;
        leaf->terminal = true;
        t->nroutes++;
    }
    fill_allow(t->root);
    return t;
}

void router_ref(struct route_table *t)
{
    t->refcount++;
}

void router_unref(struct route_table *t)
{
    if (!t || --t->refcount > 0)
        return;
    for (int i = 0; i < t->nroutes; i++)
        route_free(&t->routes[i]);
    free(t->routes);
    node_free(t->root);
    free(t);
}

struct seg_ref {
    size_t off, len; /* decoded, in buf */
};

static const struct rnode *walk(const struct rnode *n, const struct seg_ref *segs, int i, int nseg,
                                const char *buf)
{
    if (i == nseg)
        return n->terminal ? n : NULL;
    const struct seg_ref *s = &segs[i];
    for (int k = 0; k < n->nkids; k++) {
        const struct rnode *kid = n->kids[k];
        if (kid->litlen == s->len && memcmp(kid->lit, buf + s->off, s->len) == 0) {
            const struct rnode *r = walk(kid, segs, i + 1, nseg, buf);
            if (r)
                return r;
            break; /* literals are unique per node */
        }
    }
    if (n->param && s->len > 0)
        return walk(n->param, segs, i + 1, nseg, buf);
    return NULL;
}

int router_match(const struct route_table *t, int method, const char *path, size_t len,
                 struct route_match *m, struct sbuf *buf)
{
    struct seg_ref segs[ROUTE_MAX_SEGS];
    int nseg = 0;
    m->route = NULL;
    m->allow = NULL;
    m->pattern = NULL;
    m->nparams = 0;
    sbuf_reset(buf);
    if (len == 0 || path[0] != '/')
        return RM_BAD_PATH;
    if (len > 1 && path[len - 1] == '/')
        len--;
    if (len > 1) {
        const char *p = path + 1, *e = path + len;
        while (p <= e) {
            const char *s = memchr(p, '/', (size_t)(e - p));
            if (!s)
                s = e;
            if (nseg == ROUTE_MAX_SEGS)
                return RM_NOT_FOUND;
            segs[nseg].off = buf->len;
            if (!pct_decode(buf, p, (size_t)(s - p), false))
                return RM_BAD_PATH;
            segs[nseg].len = buf->len - segs[nseg].off;
            nseg++;
            p = s + 1;
        }
    }
    if (!t)
        return RM_NOT_FOUND;
    const struct rnode *n = walk(t->root, segs, 0, nseg, buf->data ? buf->data : "");
    if (!n)
        return RM_NOT_FOUND;
    m->allow = n->allow;
    m->pattern = n->pattern;
    int mm = method == M_HEAD ? M_GET : method;
    if (mm < 0 || mm >= M_NROUTED || !n->by_method[mm])
        return RM_BAD_METHOD;
    const struct route *r = n->by_method[mm];
    m->route = r;
    for (int i = 0; i < r->nsegs; i++) {
        if (!r->segs[i].param)
            continue;
        m->params[m->nparams].name = r->segs[i].text;
        m->params[m->nparams].off = segs[i].off;
        m->params[m->nparams].len = segs[i].len;
        m->nparams++;
    }
    return RM_OK;
}

static char **fn_names;
static int fn_count, fn_cap;

int router_function_id(const char *function)
{
    for (int i = 0; i < fn_count; i++) {
        if (strcmp(fn_names[i], function) == 0)
            return i;
    }
    if (fn_count == fn_cap) {
        fn_cap = fn_cap ? fn_cap * 2 : 64;
        fn_names = xrealloc(fn_names, sizeof(char *) * (size_t)fn_cap);
    }
    fn_names[fn_count] = xstrdup(function);
    return fn_count++;
}

const char *router_function_name(int id)
{
    return id >= 0 && id < fn_count ? fn_names[id] : NULL;
}

int router_function_count(void)
{
    return fn_count;
}

void router_shutdown(void)
{
    for (int i = 0; i < fn_count; i++)
        free(fn_names[i]);
    free(fn_names);
    fn_names = NULL;
    fn_count = fn_cap = 0;
}
