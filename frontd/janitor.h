/*
 * janitor.h — the periodic timer (pgbouncer's janitor): connection deadlines (first byte,
 * header, body, idle, linger), database request and queue timeouts, and the graceful-drain
 * deadline, and forgetting rate-limit buckets that have refilled.
 */
#ifndef FRONTD_JANITOR_H
#define FRONTD_JANITOR_H

#include <stdint.h>

void janitor_init(void);
/* After SIGTERM: give up waiting for in-flight requests at this monotonic time. */
void janitor_set_drain_deadline(uint64_t when_ms);
void janitor_shutdown(void);

#endif
