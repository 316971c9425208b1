/*
 * resphdr.c — the headers of response.headers (CONTRACT.md), checked before they reach the
 * wire: a function chooses headers such as Retry-After or Cache-Control, never the framing of
 * the response or the headers frontd itself is responsible for.
 */
#include "resphdr.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Headers frontd writes itself or that would change the framing of the connection. */
static const char *const owned[] = {
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "date",
    "content-type",
    "x-request-id",
    "vary",
    "www-authenticate",
    "sec-websocket-accept",
    "sec-websocket-protocol",
};

/* RFC 9110 tchar */
static bool is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

static bool name_owned(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        if (strlen(owned[i]) == n && strncasecmp(owned[i], s, n) == 0)
            return true;
    return n >= 15 && strncasecmp(s, "access-control-", 15) == 0;
}

static bool value_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch != '\t' && (ch < 0x20 || ch > 0x7e))
            return false;
    }
    return true;
}

const char *resphdr_render(const char *json, size_t len, struct sbuf *out)
{
    if (len == 0)
        return NULL;
    if (len > RESPHDR_MAX_BYTES * 2)
        return "response.headers is too long";
    json_tokener *tok = json_tokener_new();
    json_object *a = json_tokener_parse_ex(tok, json, (int)len);
    bool parsed = json_tokener_get_error(tok) == json_tokener_success &&
                  json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    const char *why = NULL;
    size_t keep = out->len;
    if (!parsed || !json_object_is_type(a, json_type_array)) {
        why = "response.headers is not a JSON array";
        goto done;
    }
    size_t n = json_object_array_length(a);
    if (n > RESPHDR_MAX_HEADERS) {
        why = "response.headers has too many headers";
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(a, i);
        if (!json_object_is_type(o, json_type_object) || json_object_object_length(o) != 1) {
            why = "each member of response.headers must be an object with one header";
            goto done;
        }
        json_object_object_foreach(o, name, v)
        {
            size_t nlen = strlen(name);
            if (!name_ok(name, nlen)) {
                why = "a header name in response.headers is not an HTTP token";
                goto done;
            }
            if (name_owned(name, nlen)) {
                why = "response.headers names a header frontd writes itself";
                goto done;
            }
            if (!json_object_is_type(v, json_type_string)) {
                why = "a header value in response.headers is not a string";
                goto done;
            }
            const char *val = json_object_get_string(v);
            size_t vlen = (size_t)json_object_get_string_len(v);
            if (!value_ok(val, vlen)) {
                why = "a header value in response.headers holds a control or non-ASCII character";
                goto done;
            }
            sbuf_add(out, name, nlen);
            sbuf_addlit(out, ": ");
            sbuf_add(out, val, vlen);
            sbuf_addlit(out, "\r\n");
        }
    }
    if (out->len - keep > RESPHDR_MAX_BYTES)
        why = "response.headers is too long";
done:
    if (why && out->cap) {
        out->len = keep;
        out->data[keep] = 0;
    }
    json_object_put(a);
    return why;
}
