/*
 * query.c — fuzz target: what frontd does with a request target before the database sees it
 * (util.c, http.c): splitting path and query, percent-decoding, the query string turned into
 * the JSON object passed as flov7.args' second argument, JSON string escaping, request ids;
 * and the header values of a WebSocket handshake (wsproto.c).
 *
 * Checked beyond memory safety: a query string frontd accepts becomes one JSON object of
 * strings, which json-c parses back whole; pct_decode never grows its
 * input and is the identity on strings without '%' (and '+' in a query); JSON_STRICT fails
 * exactly on invalid UTF-8, and a string it writes parses back to exactly the bytes given;
 * a text frame's UTF-8 check (wsproto.c) agrees with the JSON escaper's; a bearer
 * subprotocol's token lies inside the header value; an accepted key gives a 28-character
 * accept value.
 */
#include "errors.h"
#include "http.h"
#include "util.h"
#include "wsproto.h"

#include "fuzz.h"

#include <json.h>

static void check_json_string(const char *s, size_t n)
{
    struct sbuf b;
    sbuf_init(&b);
    bool strict = json_add_string(&b, s, n, JSON_STRICT);
    bool valid = true;
    for (size_t i = 0; i < n;) {
        int k = utf8_seq_len((const unsigned char *)s + i, n - i);
        FUZZ_CHECK(k >= 0 && k <= 4);
        if (k == 0) {
            valid = false;
            break;
        }
        i += (size_t)k;
    }
    FUZZ_CHECK(strict == valid);
    FUZZ_CHECK(utf8_valid(s, n) == valid);
    if (strict) {
        json_object *o = json_tokener_parse(sbuf_cstr(&b));
        FUZZ_CHECK(o && json_object_is_type(o, json_type_string));
        FUZZ_CHECK((size_t)json_object_get_string_len(o) == n &&
                   memcmp(json_object_get_string(o), s, n) == 0);
        json_object_put(o);
    }
    /* the lenient forms never fail, and always give a JSON string */
    sbuf_reset(&b);
    FUZZ_CHECK(json_add_string(&b, s, n, JSON_REPLACE));
    json_object *o = json_tokener_parse(sbuf_cstr(&b));
    FUZZ_CHECK(o && json_object_is_type(o, json_type_string));
    json_object_put(o);
    sbuf_reset(&b);
    FUZZ_CHECK(json_add_string(&b, s, n, JSON_LOWER | JSON_REPLACE));
    sbuf_free(&b);
}

static void check_websocket(const char *v, size_t n)
{
    const char *tok = NULL;
    size_t tl = 0;
    if (ws_protocol_bearer(v, n, &tok, &tl))
        FUZZ_CHECK(tl > 0 && tok >= v && tok + tl <= v + n);
    if (ws_key_valid(v, n)) {
        char accept[29];
        ws_accept_value(v, n, accept);
        FUZZ_CHECK(strlen(accept) == 28);
    }
    (void)header_has_token(v, n, "upgrade");
    (void)header_has_token(v, n, "websocket");
}

static void check_query(const char *q, size_t n)
{
    struct sbuf out;
    sbuf_init(&out);
    int err = query_to_json(&out, q, n);
    if (err != FDE_NONE) {
        FUZZ_CHECK(fd_error_status(err) == 400);
        sbuf_free(&out);
        return;
    }
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, out.data, (int)out.len);
    FUZZ_CHECK(o && json_tokener_get_error(tok) == json_tokener_success &&
               json_tokener_get_parse_end(tok) == out.len);
    FUZZ_CHECK(json_object_is_type(o, json_type_object));
    /* (names are not checked here: json-c hands them over as C strings, cut at a %00) */
    json_object_object_foreach(o, key, val)
    {
        (void)key;
        FUZZ_CHECK(json_object_is_type(val, json_type_string));
    }
    json_object_put(o);
    json_tokener_free(tok);
    sbuf_free(&out);
}

static void check_decode(const char *s, size_t n, bool plus)
{
    struct sbuf out;
    sbuf_init(&out);
    sbuf_addlit(&out, "x"); /* appends: what was there stays */
    bool ok = pct_decode(&out, s, n, plus);
    FUZZ_CHECK(out.len >= 1 && out.data[0] == 'x' && out.data[out.len] == 0);
    if (ok) {
        FUZZ_CHECK(out.len - 1 <= n);
        if (!memchr(s, '%', n) && (!plus || !memchr(s, '+', n)))
            FUZZ_CHECK(out.len - 1 == n && memcmp(out.data + 1, s, n) == 0);
    }
    sbuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_copy(data, size);
    check_decode(s, size, false);
    check_decode(s, size, true);
    check_query(s, size);
    check_json_string(s, size);
    (void)request_id_ok(s, size);
    check_websocket(s, size);
    const char *path, *query;
    size_t plen, qlen;
    if (size && http_split_target(s, size, &path, &plen, &query, &qlen)) {
        FUZZ_CHECK(plen >= 1 && path[0] == '/');
        /* inside the target, or the static "/" of an absolute-form without a path */
        FUZZ_CHECK((path >= s && path + plen <= s + size) || plen == 1);
        FUZZ_CHECK(!query || (query >= s && query + qlen <= s + size));
        if (query)
            check_query(query, qlen);
    }
    free(s);
    return 0;
}
