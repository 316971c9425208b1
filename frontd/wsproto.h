/*
 * wsproto.h — the pure parts of the WebSocket handshake (RFC 6455 §4.2): the key check, the
 * accept value, the token carried in Sec-WebSocket-Protocol, and UTF-8 validation of a whole
 * text message.  No libevent/libpq (unit-tested).
 */
#ifndef FRONTD_WSPROTO_H
#define FRONTD_WSPROTO_H

#include <stdbool.h>
#include <stddef.h>

/* Sec-WebSocket-Key must be the base64 of 16 bytes (24 characters ending "=="). */
bool ws_key_valid(const char *key, size_t n);
/* out (29 bytes with the NUL) = base64(SHA-1(key + the RFC's GUID)). */
void ws_accept_value(const char *key, size_t n, char out[29]);
/* Whether a comma-separated header value holds token (case-insensitive), e.g. Upgrade in
 * "keep-alive, Upgrade". */
bool header_has_token(const char *v, size_t n, const char *token);
/* Browsers cannot set Authorization on a WebSocket; they can offer subprotocols.  In
 * "bearer, <token>" the item after "bearer" is the credential (tok, tlen). */
bool ws_protocol_bearer(const char *v, size_t n, const char **tok, size_t *tlen);
/* Whether s[0..n) is entirely valid UTF-8 (a text message, after reassembly). */
bool utf8_valid(const char *s, size_t n);

#endif
