/*
 * http.c — fuzz target: a byte stream read the way conn.c reads it.  The head scanner runs on
 * a growing window (the first input byte picks the read size), head_check judges the block,
 * httpread.c feeds it and then the body to http_parser, and pipelined requests follow.
 *
 * Besides memory safety it checks that the strict checker (http.c) and http_parser agree on
 * every block the checker lets through — same number of fields, same version, same framing —
 * since a disagreement between the two is what request smuggling is made of; and that every
 * pointer the callbacks keep lies inside the header block.
 */
#include "errors.h"
#include "http.h"
#include "httpread.h"

#include "fuzz.h"

#define MAX_HEADER    8192 /* the test harness's max-header-bytes */
#define MAX_BODY      65536
#define MAX_PIPELINED 16

static bool inside(const char *p, size_t n, const char *blk, size_t blen)
{
    return p >= blk && p + n <= blk + blen;
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* What the callbacks recorded, against the block and against head_check's reading of it. */
static void check_head(const struct http_request *req, const struct http_reader *rd,
                       const char *blk, size_t blen, const struct head_info *hi)
{
    FUZZ_CHECK(req->url && req->url_len > 0 && inside(req->url, req->url_len, blk, blen));
    FUZZ_CHECK(req->nhdr == hi->nfields);
    FUZZ_CHECK(req->major == hi->major && req->minor == hi->minor);
    for (int i = 0; i < req->nhdr; i++) {
        const struct http_hdr *h = &req->hdrs[i];
        FUZZ_CHECK(h->nlen > 0 && inside(h->name, h->nlen, blk, blen));
        for (uint32_t k = 0; k < h->nlen; k++)
            FUZZ_CHECK(is_tchar((unsigned char)h->name[k]));
        FUZZ_CHECK(h->vlen == 0 || inside(h->value, h->vlen, blk, blen));
        for (uint32_t k = 0; k < h->vlen; k++)
            FUZZ_CHECK(h->value[k] != '\r' && h->value[k] != '\n' && h->value[k] != 0);
        FUZZ_CHECK(h->vlen == 0 || (h->value[h->vlen - 1] != ' ' && h->value[h->vlen - 1] != '\t'));
    }
    /* framing: what the checker decided is what http_parser will do with the bytes after */
    if (hi->chunked)
        FUZZ_CHECK(rd->parser.flags & F_CHUNKED);
    else if (hi->has_cl && hi->content_length > 0)
        FUZZ_CHECK(!req->complete && rd->parser.content_length == hi->content_length);
    else
        FUZZ_CHECK(req->complete);
    FUZZ_CHECK(req->has_body == (hi->chunked || hi->content_length > 0));
}

/* What dispatch.c asks of a complete request. */
static void use_request(const struct http_request *req)
{
    const char *path, *query;
    size_t plen, qlen;
    if (http_split_target(req->url, req->url_len, &path, &plen, &query, &qlen)) {
        FUZZ_CHECK(plen > 0 && path[0] == '/');
        FUZZ_CHECK(!query || qlen <= req->url_len);
    }
    for (int k = 0; k < H_NKNOWN; k++) {
        const struct http_hdr *h = http_known(req, (enum http_known)k);
        FUZZ_CHECK(!h || http_known_name(h->name, h->nlen) == k);
    }
    FUZZ_CHECK(req->method >= 0 && req->method <= M_OTHER && req->method_str);
    (void)http_find(req, "sec-websocket-key");
    (void)http_count(req, "authorization");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = 1 + data[0] % 97, n = size - 1;
    char *buf = fuzz_copy(data + 1, n);
    struct http_request req;
    http_request_init(&req);
    size_t pos = 0;
    for (int k = 0; k < MAX_PIPELINED && pos < n; k++) {
        /* the head: scanned on a window that grows by one read at a time, as input arrives */
        struct head_scan s;
        head_scan_init(&s);
        size_t avail = n - pos, have = step < avail ? step : avail, end = 0;
        int err = 0, r;
        for (;;) {
            r = head_scan(&s, buf + pos, have, &end, &err);
            if (r != HS_MORE || have == avail || have - s.lead > MAX_HEADER)
                break;
            have = have + step < avail ? have + step : avail;
        }
        if (r == HS_BAD)
            FUZZ_CHECK(fd_error_status(err) == 400);
        if (r != HS_DONE)
            break;
        FUZZ_CHECK(end <= have && s.lead < end);
        if (end - s.lead > MAX_HEADER)
            break;
        /* conn.c copies the block out of the input: an exact-size copy makes an overread
         * visible */
        size_t blen = end - s.lead;
        char *blk = fuzz_cstr((const uint8_t *)buf + pos + s.lead, blen);
        pos += end;
        struct head_info hi;
        head_check(blk, blen, &hi);
        if (hi.err) {
            FUZZ_CHECK(fd_error(hi.err) != NULL);
            free(blk);
            break;
        }
        http_request_reset(&req);
        struct http_reader rd;
        const char *details;
        err = http_read_head(&rd, &req, blk, blen, &hi, MAX_BODY, &details);
        if (err == FDE_NONE)
            check_head(&req, &rd, blk, blen, &hi);
        /* the body, in reads of the same size */
        while (err == FDE_NONE && !req.complete && pos < n) {
            size_t piece = step < n - pos ? step : n - pos, used = 0;
            err = http_read_body(&rd, buf + pos, piece, &used, &details);
            FUZZ_CHECK(used <= piece);
            if (err == FDE_NONE && used < piece)
                FUZZ_CHECK(req.complete); /* else conn.c would wait for bytes it already has */
            pos += used;
        }
        if (err != FDE_NONE) {
            FUZZ_CHECK(fd_error(err) != NULL);
            free(blk);
            break;
        }
        FUZZ_CHECK(req.body.len <= MAX_BODY);
        bool go_on = req.complete && req.keep_alive;
        if (req.complete)
            use_request(&req);
        free(blk);
        if (!go_on)
            break;
    }
    http_request_free(&req);
    free(buf);
    return 0;
}
