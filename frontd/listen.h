/*
 * listen.h — the one extra database connection: it LISTENs on flov7_routes and reloads the
 * route table on each NOTIFY (requests in flight keep the table they started with), and on
 * flov7_events, reading the published events for the streams (stream.c).
 */
#ifndef FRONTD_LISTEN_H
#define FRONTD_LISTEN_H

#include <stdint.h>

void listen_init(void);
void listen_shutdown(void);
/* The last event position fanned out to live streams; -1 while unknown. */
int64_t listen_feed_pos(void);
/* Read subscriber id's events after from (user, topic) up to the feed's position, then
 * stream_catchup_end(); serialized with the feed reads. */
void listen_catchup(uint64_t id, const char *user, const char *topic, int64_t from);
/* From the janitor: a feed read that failed is tried again once its delay is over. */
void listen_tick(void);
/* After a SIGHUP: try the feed again if it had failed (e.g. the extension was updated). */
void listen_reenable_feed(void);

#endif
