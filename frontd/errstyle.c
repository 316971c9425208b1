/*
 * errstyle.c — error bodies in the original platform's style (errstyle.h).  The extension
 * names the field of a bad argument in the error's COLUMN field (RAISE ... USING COLUMN); that
 * is what makes a 400 a validation error, 422 here, as FastAPI answers a request its models
 * refuse.  Errors that name no field keep their status and become {"detail": message}.
 */
#include "errstyle.h"

#include <string.h>

int errstyle_status(int status, bool had_credentials, bool names_field)
{
    if (status == 401 && !had_credentials)
        return 403;
    if (status == 400 && names_field)
        return 422;
    return status;
}

const char *errstyle_type(const char *s)
{
    if (s && strcmp(s, "22P02") == 0)
        return "type_error";
    if (s && (strcmp(s, "22007") == 0 || strcmp(s, "22008") == 0))
        return "value_error.datetime";
    return "value_error";
}

static void add_str(struct sbuf *out, const char *s, size_t n)
{
    json_add_string(out, s, n, JSON_REPLACE);
}

void errstyle_body(struct sbuf *out, int status, const char *message, const char *field,
                   const char *where, const char *type)
{
    const char *msg = message ? message : "";
    sbuf_addlit(out, "{\"detail\":");
    if (status != 422 || !field || !*field) {
        add_str(out, msg, strlen(msg));
        sbuf_addc(out, '}');
        return;
    }
    sbuf_addlit(out, "[{\"loc\":[");
    add_str(out, where ? where : "body", strlen(where ? where : "body"));
    for (const char *p = field;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        sbuf_addc(out, ',');
        add_str(out, p, n);
        if (!dot)
            break;
        p = dot + 1;
    }
    sbuf_addlit(out, "],\"msg\":");
    add_str(out, msg, strlen(msg));
    sbuf_addlit(out, ",\"type\":");
    add_str(out, type ? type : "value_error", strlen(type ? type : "value_error"));
    sbuf_addlit(out, "}]}");
}
