/*
 * http.c — pure HTTP/1.1 helpers.  The scanner and checker below exist because http_parser
 * accepts shapes that enable request smuggling behind a proxy (bare LF line ends, whitespace
 * before the colon, Content-Length together with Transfer-Encoding, lists of lengths...).  We
 * look at the raw bytes first and refuse anything ambiguous with 400; http_parser then does
 * the actual parse (URL, fields, chunked decoding) of a block we know to be unambiguous.
 */
#include "http.h"
#include "errors.h"

#include <stdlib.h>
#include <string.h>

void head_scan_init(struct head_scan *s)
{
    s->pos = 0;
    s->lead = 0;
    s->prev_cr = false;
    s->line_empty = true;
    s->started = false;
}

#define MAX_LEADING_EMPTY_LINES 8

/* Word-at-a-time byte tests (exact for "any byte in the word"): header blocks are mostly long
 * runs of ordinary bytes, a JWT alone being ~500 of them. */
#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t has_zero(uint64_t v)
{
    return (v - ONES) & ~v & HIGHS;
}

static inline uint64_t has_less(uint64_t v, unsigned n)
{
    return (v - ONES * n) & ~v & HIGHS;
}

static inline uint64_t load64(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* Bytes the scanner must look at; everything else only marks the line non-empty. */
static const unsigned char scan_special[256] = {[0] = 1, ['\r'] = 1, ['\n'] = 1};

int head_scan(struct head_scan *s, const char *buf, size_t len, size_t *end, int *err)
{
    size_t i = s->pos;
    while (i < len) {
        if (!s->prev_cr) {
            size_t j = i;
            while (j + 8 <= len) {
                uint64_t w = load64(buf + j);
                if (has_zero(w) | has_zero(w ^ (ONES * '\r')) | has_zero(w ^ (ONES * '\n')))
                    break;
                j += 8;
            }
            while (j < len && !scan_special[(unsigned char)buf[j]])
                j++;
            if (j > i) {
                s->line_empty = false;
                s->started = true;
                i = j;
                if (i == len)
                    break;
            }
        }
        unsigned char c = (unsigned char)buf[i++];
        if (s->prev_cr) {
            s->prev_cr = false;
            if (c != '\n') {
                *err = FDE_BARE_CR;
                return HS_BAD;
            }
            if (s->line_empty) {
                if (!s->started) {
                    s->lead = i;
                    if (s->lead > 2 * MAX_LEADING_EMPTY_LINES) {
                        *err = FDE_LEADING_EMPTY_LINES;
                        return HS_BAD;
                    }
                    continue;
                }
                s->pos = i;
                *end = i;
                return HS_DONE;
            }
            s->line_empty = true;
            continue;
        }
        if (c == '\r') {
            s->prev_cr = true;
            continue;
        }
        if (c == '\n') {
            *err = FDE_BARE_LF;
            return HS_BAD;
        }
        *err = FDE_NUL_IN_HEAD;
        return HS_BAD;
    }
    s->pos = len;
    return HS_MORE;
}

/* RFC 9110 5.6.2 token characters, as a table: checked for every byte of every field name */
static bool tchar_table[256];

static void init_tchar(void)
{
    for (int c = 0; c < 256; c++)
        tchar_table[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
    tchar_table[0] = false;
}

static inline bool is_tchar(unsigned char c)
{
    return tchar_table[c];
}

static void bad(struct head_info *hi, int err)
{
    if (hi->err == FDE_NONE)
        hi->err = err;
}

void head_check(const char *blk, size_t n, struct head_info *hi)
{
    if (!tchar_table['a'])
        init_tchar();
    memset(hi, 0, sizeof(*hi));
    const char *p = blk, *end = blk + n;
    const char *eol = memchr(p, '\r', n);
    if (!eol) {
        bad(hi, FDE_REQUEST_LINE);
        return;
    }
    /* request-line = method SP request-target SP HTTP-version (one SP each) */
    const char *q = p;
    while (q < eol && is_tchar((unsigned char)*q))
        q++;
    if (q == p || q >= eol || *q != ' ') {
        bad(hi, FDE_REQUEST_LINE);
        return;
    }
    const char *t = ++q;
    while (q < eol && (unsigned char)*q > 0x20 && (unsigned char)*q < 0x7f)
        q++;
    if (q == t || q >= eol || *q != ' ') {
        bad(hi, FDE_REQUEST_LINE);
        return;
    }
    const char *v = ++q;
    size_t vl = (size_t)(eol - v);
    if (vl == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' &&
        v[7] >= '0' && v[7] <= '9') {
        hi->major = (unsigned)(v[5] - '0');
        hi->minor = (unsigned)(v[7] - '0');
        if (hi->major != 1) {
            bad(hi, FDE_HTTP_VERSION);
            return;
        }
    } else if (vl == 6 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '2' && v[5] <= '9') {
        bad(hi, FDE_HTTP_VERSION);
        return;
    } else {
        bad(hi, FDE_REQUEST_LINE);
        return;
    }

    int hosts = 0, tes = 0;
    p = eol + 2;
    while (p < end) {
        eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol || eol == p)
            break; /* the empty line ending the block */
        if (*p == ' ' || *p == '\t') {
            bad(hi, FDE_LINE_FOLDING);
            return;
        }
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon) {
            bad(hi, FDE_FIELD_NO_COLON);
            return;
        }
        if (colon == p) {
            bad(hi, FDE_FIELD_EMPTY_NAME);
            return;
        }
        if (colon[-1] == ' ' || colon[-1] == '\t') {
            bad(hi, FDE_FIELD_SPACE_COLON);
            return;
        }
        for (const char *c = p; c < colon; c++) {
            if (!is_tchar((unsigned char)*c)) {
                bad(hi, FDE_FIELD_NAME_CHAR);
                return;
            }
        }
        const char *val = colon + 1, *ve = eol;
        while (val < ve && (*val == ' ' || *val == '\t'))
            val++;
        while (ve > val && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        const char *c = val;
        while (c + 8 <= ve && !(has_less(load64(c), 0x20) | has_zero(load64(c) ^ (ONES * 0x7f))))
            c += 8; /* no control character in these 8 bytes */
        for (; c < ve; c++) {
            unsigned char ch = (unsigned char)*c;
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
                bad(hi, FDE_FIELD_VALUE_CHAR);
                return;
            }
        }
        if (++hi->nfields > HTTP_MAX_FIELDS) {
            bad(hi, FDE_TOO_MANY_FIELDS);
            return;
        }
        size_t nl = (size_t)(colon - p), vlen = (size_t)(ve - val);
        if (str_ieq(p, nl, "content-length")) {
            if (hi->has_cl) {
                bad(hi, FDE_CL_REPEATED);
                return;
            }
            hi->has_cl = true;
            if (vlen == 0 || vlen > 18) {
                bad(hi, FDE_CL_INVALID);
                return;
            }
            uint64_t cl = 0;
            for (size_t i = 0; i < vlen; i++) {
                if (val[i] < '0' || val[i] > '9') {
                    bad(hi, FDE_CL_INVALID);
                    return;
                }
                cl = cl * 10 + (uint64_t)(val[i] - '0');
            }
            hi->content_length = cl;
        } else if (str_ieq(p, nl, "transfer-encoding")) {
            if (tes++) {
                bad(hi, FDE_TE_REPEATED);
                return;
            }
            if (!str_ieq(val, vlen, "chunked")) {
                bad(hi, FDE_TE_UNSUPPORTED);
                return;
            }
            hi->chunked = true;
        } else if (str_ieq(p, nl, "host")) {
            hosts++;
        }
        p = eol + 2;
    }
    if (hi->has_cl && hi->chunked) {
        bad(hi, FDE_CL_AND_TE);
        return;
    }
    if (hi->chunked && hi->minor == 0) {
        bad(hi, FDE_TE_HTTP10);
        return;
    }
    if (hosts > 1) {
        bad(hi, FDE_HOST_REPEATED);
        return;
    }
    if (hosts == 0 && hi->minor >= 1) {
        bad(hi, FDE_HOST_MISSING);
        return;
    }
}

void http_request_init(struct http_request *r)
{
    memset(r, 0, sizeof(*r));
    sbuf_init(&r->body);
    for (int k = 0; k < H_NKNOWN; k++)
        r->known[k] = -1;
}

void http_request_reset(struct http_request *r)
{
    r->method_str = NULL;
    r->method = M_OTHER;
    r->url = NULL;
    r->url_len = 0;
    r->nhdr = 0;
    r->major = r->minor = 0;
    r->keep_alive = r->headers_done = r->complete = r->chunked = false;
    r->expect_continue = r->has_body = false;
    for (int k = 0; k < H_NKNOWN; k++) {
        r->known[k] = -1;
        r->nknown[k] = 0;
    }
    /* a connection that once received a large body should not keep holding it */
    sbuf_trim(&r->body, 65536);
}

void http_request_free(struct http_request *r)
{
    free(r->hdrs);
    sbuf_free(&r->body);
    r->hdrs = NULL;
    r->hdr_cap = r->nhdr = 0;
}

void http_request_add_header(struct http_request *r, const char *name, size_t nlen)
{
    if (r->nhdr == r->hdr_cap) {
        r->hdr_cap = r->hdr_cap ? r->hdr_cap * 2 : 16;
        r->hdrs = xrealloc(r->hdrs, sizeof(*r->hdrs) * (size_t)r->hdr_cap);
    }
    struct http_hdr *h = &r->hdrs[r->nhdr++];
    h->name = name;
    h->nlen = (uint32_t)nlen;
    h->value = "";
    h->vlen = 0;
}

const struct http_hdr *http_find(const struct http_request *r, const char *name)
{
    for (int i = 0; i < r->nhdr; i++) {
        if (str_ieq(r->hdrs[i].name, r->hdrs[i].nlen, name))
            return &r->hdrs[i];
    }
    return NULL;
}

static const char *const known_names[H_NKNOWN] = {
    "authorization", "x-api-key",  "cookie", "origin",
    "x-request-id",  "user-agent", "expect", "host",
};

int http_known_name(const char *name, size_t n)
{
    /* the length and first letter rule out almost every field at once */
    for (int k = 0; k < H_NKNOWN; k++) {
        const char *kn = known_names[k];
        if ((name[0] | 0x20) == kn[0] && strlen(kn) == n && str_ieq(name, n, kn))
            return k;
    }
    return -1;
}

void http_index(struct http_request *r)
{
    for (int k = 0; k < H_NKNOWN; k++) {
        r->known[k] = -1;
        r->nknown[k] = 0;
    }
    for (int i = 0; i < r->nhdr; i++) {
        int k = http_known_name(r->hdrs[i].name, r->hdrs[i].nlen);
        if (k < 0)
            continue;
        if (r->known[k] < 0)
            r->known[k] = (short)i;
        if (r->nknown[k] < 255)
            r->nknown[k]++;
    }
}

int http_count(const struct http_request *r, const char *name)
{
    int n = 0;
    for (int i = 0; i < r->nhdr; i++)
        n += str_ieq(r->hdrs[i].name, r->hdrs[i].nlen, name);
    return n;
}

static const char *const method_names[] = {"GET",    "POST", "PUT",    "PATCH",
                                           "DELETE", "HEAD", "OPTIONS"};

int http_method_from(const char *s, size_t n)
{
    for (int i = 0; i < M_OTHER; i++) {
        if (strlen(method_names[i]) == n && memcmp(method_names[i], s, n) == 0)
            return i;
    }
    return M_OTHER;
}

const char *http_method_name(int m)
{
    if (m < 0 || m >= M_OTHER)
        return "OTHER";
    return method_names[m];
}

const char *http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: break;
    }
    if (status >= 200 && status < 300)
        return "OK";
    if (status >= 400 && status < 500)
        return "Client Error";
    if (status >= 500 && status < 600)
        return "Server Error";
    return "Unknown";
}

bool http_split_target(const char *t, size_t n, const char **path, size_t *plen, const char **query,
                       size_t *qlen)
{
    const char *e = t + n;
    if (n == 0)
        return false;
    if (t[0] != '/') {
        /* absolute-form: scheme "://" authority path */
        size_t skip;
        if (n > 7 && str_ieq(t, 7, "http://"))
            skip = 7;
        else if (n > 8 && str_ieq(t, 8, "https://"))
            skip = 8;
        else
            return false;
        const char *s = memchr(t + skip, '/', n - skip);
        const char *qm = memchr(t + skip, '?', n - skip);
        if (!s || (qm && qm < s)) {
            static const char root[] = "/";
            *path = root;
            *plen = 1;
            if (qm) {
                *query = qm + 1;
                *qlen = (size_t)(e - qm - 1);
            } else {
                *query = NULL;
                *qlen = 0;
            }
            return true;
        }
        t = s;
        n = (size_t)(e - s);
    }
    const char *hash = memchr(t, '#', n);
    if (hash)
        e = hash;
    const char *qm = memchr(t, '?', (size_t)(e - t));
    *path = t;
    if (qm) {
        *plen = (size_t)(qm - t);
        *query = qm + 1;
        *qlen = (size_t)(e - qm - 1);
    } else {
        *plen = (size_t)(e - t);
        *query = NULL;
        *qlen = 0;
    }
    return true;
}
