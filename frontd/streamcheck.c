/*
 * streamcheck.c — periodic checks of the open streams (see streamcheck.h).
 */
#include "streamcheck.h"
#include "log.h"
#include "pool.h"
#include "stream.h"
#include "util.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct check {
    struct pool_req preq; /* first: the pool hands it back */
    const char *what;
    const char *sql;
    int nparams;
    struct sbuf json;
    uint64_t *ids; /* recheck: the stream of each element */
    int n;
    PGresult *res;
    bool busy;
    bool empty; /* sync: the set sent was empty */
};

static struct check recheck = {.what = "re-checking the streams' credentials",
                               .sql = "SELECT flov7.stream_credentials_check($1::jsonb)",
                               .nparams = 1};
static struct check sync_ = {.what = "syncing the registry of streams",
                             .sql = "SELECT flov7.realtime_sync($2, $1::jsonb)",
                             .nparams = 2};
static char instance[128];
static bool synced_empty = true; /* the registry holds no stream of ours (none at start) */

static bool check_send(struct pool_req *r, struct pool_conn *pc, PGconn *pg)
{
    struct check *k = (struct check *)r;
    (void)pc;
    if (k->res)
        PQclear(k->res);
    k->res = NULL;
    const char *v[2] = {sbuf_cstr(&k->json), instance};
    return PQsendQueryParams(pg, k->sql, k->nparams, NULL, v, NULL, NULL, 0) &&
           PQpipelineSync(pg) == 1;
}

static bool check_result(struct pool_req *r, PGresult *res)
{
    struct check *k = (struct check *)r;
    if (k->res)
        return false;
    k->res = res;
    return true;
}

static void recheck_apply(PGresult *res)
{
    /* an int[] as text: {3,17} */
    const char *p = PQntuples(res) && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "{}";
    while (*p) {
        if (*p >= '0' && *p <= '9') {
            char *end;
            long i = strtol(p, &end, 10);
            if (i >= 1 && i <= recheck.n)
                stream_credentials_failed(recheck.ids[i - 1]);
            p = end;
        } else {
            p++;
        }
    }
}

static void check_done(struct pool_req *r, int err)
{
    struct check *k = (struct check *)r;
    k->busy = false;
    if (err == POOL_OK && k->res && PQresultStatus(k->res) == PGRES_TUPLES_OK) {
        if (k == &recheck)
            recheck_apply(k->res);
        else
            synced_empty = k->empty;
    } else if (err == POOL_OK && k->res) {
        log_warn("events", "%s failed: %s", k->what, PQresultErrorMessage(k->res));
    } else if (err != POOL_OK) {
        log_warn("events", "%s failed: the database did not answer", k->what);
    }
    if (k->res)
        PQclear(k->res);
    k->res = NULL;
}

static const struct pool_req_ops check_ops = {check_send, check_result, check_done};

void streamcheck_init(void)
{
    char host[64] = "?";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = 0;
    snprintf(instance, sizeof(instance), "%s:%d:%llx", host, (int)getpid(),
             (unsigned long long)(now_us() & 0xffffffULL));
    sbuf_init(&recheck.json);
    sbuf_init(&sync_.json);
}

void streamcheck_run(void)
{
    if (!recheck.busy) {
        free(recheck.ids);
        recheck.ids = NULL;
        if (stream_recheck_request(&recheck.json, &recheck.ids, &recheck.n)) {
            recheck.busy = true;
            if (pool_submit(&recheck.preq, &check_ops, true) != POOL_OK)
                recheck.busy = false;
        }
    }
    /* with no stream open and none recorded, there is nothing to say: no request at all (an
     * idle frontd sends the database nothing of its own) */
    if (!sync_.busy && (stream_count() > 0 || !synced_empty)) {
        stream_registry_json(&sync_.json);
        sync_.empty = stream_count() == 0;
        sync_.busy = true;
        if (pool_submit(&sync_.preq, &check_ops, false) != POOL_OK)
            sync_.busy = false;
    }
}

void streamcheck_shutdown(void)
{
    struct check *all[] = {&recheck, &sync_};
    for (size_t i = 0; i < 2; i++) {
        if (all[i]->busy)
            pool_cancel(&all[i]->preq);
        all[i]->busy = false;
        if (all[i]->res)
            PQclear(all[i]->res);
        all[i]->res = NULL;
        sbuf_free(&all[i]->json);
    }
    free(recheck.ids);
    recheck.ids = NULL;
}
