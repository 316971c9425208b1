/*-------------------------------------------------------------------------
 *
 * authz.h
 *	  The authorizer's resolved caller, and the per-backend cache that keeps
 *	  it across transactions (authz.c resolves, authz_cache.c keeps).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FLOV7_AUTHZ_H
#define FLOV7_AUTHZ_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/uuid.h"

#include "flov7.h"

typedef enum CallerStatus
{
	CALLER_ANONYMOUS,			/* no credentials at all */
	CALLER_AUTHENTICATED,		/* a known, active user */
	CALLER_INACTIVE,			/* valid credentials of a deactivated user */
	CALLER_REJECTED				/* bad, expired or revoked credentials */
} CallerStatus;

typedef struct Caller
{
	CallerStatus status;
	const char *reason;			/* errmsg when rejected (static string) */
	const char *detail;			/* errdetail when rejected (static string) */
	pg_uuid_t	user_id;
	bool		is_admin;
	int			npermissions;
	char	  **permissions;	/* effective permissions */
} Caller;

/*
 * What the lookups found for one credential, before the clock is read:
 * the caller as the rows say, and the times that must be compared with the
 * clock on every request (a token's exp, a key's expires_at), so that a
 * cached resolution expires exactly when a fresh one would.
 */
typedef struct Resolution
{
	Caller		caller;
	bool		cacheable;		/* the rows were found: keep across transactions */
	bool		has_exp;		/* JWT: exp, seconds since the Unix epoch */
	double		exp;
	bool		has_key_expiry; /* API key: expires_at */
	TimestampTz key_expires_at;
	bool		has_key_id;		/* API key: its id, to count each use */
	pg_uuid_t	key_id;
} Resolution;

/* Which credential a cache entry was resolved from. */
typedef enum AuthzCredKind
{
	AUTHZ_CRED_API_KEY = 'k',	/* digest: SHA-256 hex of the key (its key_hash) */
	AUTHZ_CRED_CLAIMS = 'c',	/* digest: SHA-256 hex of the claims text */
	AUTHZ_CRED_OWNER = 'o'		/* digest: the user id, hex (engine steps) */
} AuthzCredKind;

typedef struct AuthzCacheKey
{
	char		kind;			/* an AuthzCredKind */
	char		digest[FLOV7_SHA256_HEX_LEN];
} AuthzCacheKey;

typedef struct AuthzCacheEntry
{
	AuthzCacheKey key;			/* hash key: first */
	char	   *claims;			/* AUTHZ_CRED_CLAIMS: the text, compared on a hit */
	Resolution	res;			/* permissions in the cache's memory context */
} AuthzCacheEntry;

/*
 * A lookup in progress: the generation and flush count read before the
 * rows were, so that a result is stored only under the state it was read
 * in (authz_cache.c).
 */
typedef struct AuthzCacheTicket
{
	bool		usable;			/* the cache may be read and written */
	uint64		generation;
	uint64		flushes;
} AuthzCacheTicket;

/* authz_cache.c */
extern int	flov7_authz_cache_size;
extern void flov7_authz_cache_init(void);
extern void flov7_authz_cache_begin(AuthzCacheTicket *ticket);
extern AuthzCacheEntry *flov7_authz_cache_find(const AuthzCacheTicket *ticket,
											   const AuthzCacheKey *key);
extern void flov7_authz_cache_store(const AuthzCacheTicket *ticket,
									const AuthzCacheKey *key,
									const char *claims, const Resolution *res);
extern void flov7_authz_cache_note_change(void);
extern bool flov7_authz_cache_tracking(void);
extern void flov7_authz_cache_track(const Oid *relids, int n);

#endif							/* FLOV7_AUTHZ_H */
