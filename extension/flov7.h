/*-------------------------------------------------------------------------
 *
 * flov7.h
 *	  Declarations shared by the C sources of the flov7 extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FLOV7_H
#define FLOV7_H

#include "postgres.h"

/* Length of a SHA-256 digest written as lower-case hex, without the NUL. */
#define FLOV7_SHA256_HEX_LEN 64

/* crypto.c */
extern void flov7_sha256_hex(const char *data, size_t len, char *out);

/* credkeys.c: the keys that seal integration credentials, read from outside the database */
#define FLOV7_CREDKEY_ID_LEN 16
typedef struct Flov7CredKey
{
	char		id[FLOV7_CREDKEY_ID_LEN + 1];	/* hex fingerprint, recorded in each sealed value */
	unsigned char aes[32];		/* AES-256 key derived from the key text */
} Flov7CredKey;
extern void flov7_credkeys_init(void);
extern int	flov7_credkeys(const Flov7CredKey **keys);

/* plans.c: a statement's plan, prepared once per backend and kept */
struct _SPI_plan;
extern struct _SPI_plan *flov7_plan_prepare(struct _SPI_plan **slot, const char *sql,
											int nargs, Oid *types);

/* authz.c */
struct pg_uuid_t;
extern void flov7_authz_init(void);
extern void flov7_authz_act_for(const struct pg_uuid_t *user);
extern void flov7_authz_act_end(void);

#endif							/* FLOV7_H */
