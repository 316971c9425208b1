/*
 * streamcheck.h — the open streams' periodic checks, through the pool (never on the LISTEN
 * connection, whose feed they would hold up): every ws-recheck-interval, the credentials of
 * every stream in one call of flov7.stream_credentials_check() (revoked, expired session,
 * deactivated or demoted user: the stream closes with 4001), then this instance's set of
 * streams for the registry, flov7.realtime_sync().  One of each in flight at a time.
 */
#ifndef FRONTD_STREAMCHECK_H
#define FRONTD_STREAMCHECK_H

void streamcheck_init(void);
void streamcheck_run(void);
void streamcheck_shutdown(void);

#endif
