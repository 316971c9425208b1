/*
 * args.c — fuzz target: the request body as flov7.args() (extension/args.c) receives it.
 *
 * args.c itself needs a server (fmgr, jsonb, ereport), so what is fuzzed is what runs before
 * any of that: the blank check and the depth gate, factored out into extension/argscan.c,
 * which needs no server header.  The gate exists for PostgreSQL's recursive JSON parser, so the
 * harness runs that parser too — the same jsonapi.c, in its frontend build (libpgcommon.a from
 * postgresql-server-dev-15) — and checks the two agree:
 *   - a body the gate lets through never makes the parser nest deeper than the limit, valid
 *     JSON or not (the parser stops at the first error, but may have nested before it);
 *   - valid JSON is refused by the gate exactly when it nests deeper than the limit;
 *   - a blank body is whitespace only.
 * Inputs are capped at 8 KiB: the frontend parser has no stack-depth check, and the gate is
 * what is under test, not the stack.
 */
#include "postgres_fe.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "argscan.h"

#include "fuzz.h"

struct depth {
    int cur, max;
};

static void down(void *state)
{
    struct depth *d = state;
    if (++d->cur > d->max)
        d->max = d->cur;
}

static void up(void *state)
{
    ((struct depth *)state)->cur--;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    /* a text datum holds no NUL: args.c measures the body with strlen */
    char *s = fuzz_cstr(data, size);
    int len = (int)strlen(s);
    if (argscan_blank(s, len)) {
        for (int i = 0; i < len; i++)
            FUZZ_CHECK(strchr(" \t\n\r", s[i]) != NULL);
        free(s);
        return 0;
    }
    bool too_deep = argscan_too_deep(s, len, ARGS_MAX_BODY_DEPTH);

    struct depth d = {0, 0};
    JsonSemAction sem = {0};
    sem.semstate = &d;
    sem.object_start = sem.array_start = down;
    sem.object_end = sem.array_end = up;
    JsonLexContext *lex = makeJsonLexContextCstringLen(s, len, PG_UTF8, true);
    JsonParseErrorType rc = pg_parse_json(lex, &sem);
    if (!too_deep)
        FUZZ_CHECK(d.max <= ARGS_MAX_BODY_DEPTH);
    if (rc == JSON_SUCCESS)
        FUZZ_CHECK(too_deep == (d.max > ARGS_MAX_BODY_DEPTH));
    if (lex->strval) {
        pfree(lex->strval->data);
        pfree(lex->strval);
    }
    pfree(lex);
    free(s);
    return 0;
}
