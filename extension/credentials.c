/*-------------------------------------------------------------------------
 *
 * credentials.c
 *	  Sealing and opening integration credentials.
 *
 * A sealed value is "flv7k1:<key id>:" (24 bytes, also the AES-GCM
 * additional data, so a header cannot be moved to another ciphertext), a
 * random 12-byte nonce, the AES-256-GCM ciphertext and its 16-byte tag.
 * The key comes from credkeys.c and never passes through SQL: the SQL
 * functions here take and return plaintext and ciphertext only, and are
 * executable by the extension's owner alone (flov7.credentials_encrypt and
 * flov7.credentials_decrypt are the doors).  Values sealed by releases
 * before 0.1.3 (pgcrypto's pgp_sym_encrypt with the key of flov7.settings)
 * have no header; their key id is '' and SQL opens them (25_secrets.sql).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "fmgr.h"
#include "port.h"
#include "utils/builtins.h"

#include "flov7.h"

PG_FUNCTION_INFO_V1(flov7_credentials_seal);
PG_FUNCTION_INFO_V1(flov7_credentials_open);
PG_FUNCTION_INFO_V1(flov7_credentials_key_id);
PG_FUNCTION_INFO_V1(flov7_credentials_current_key_id);

#define MAGIC "flv7k1:"
#define MAGIC_LEN 7
#define HEADER_LEN (MAGIC_LEN + FLOV7_CREDKEY_ID_LEN + 1)
#define NONCE_LEN 12
#define TAG_LEN 16

/* The key id in a sealed value's header, or NULL when it has none (a legacy value). */
static const char *
header_key_id(const bytea *data, char *id)
{
	const char *p = VARDATA_ANY(data);
	int			i;

	if (VARSIZE_ANY_EXHDR(data) < HEADER_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0 ||
		p[HEADER_LEN - 1] != ':')
		return NULL;
	for (i = 0; i < FLOV7_CREDKEY_ID_LEN; i++)
	{
		char		c = p[MAGIC_LEN + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return NULL;
		id[i] = c;
	}
	id[FLOV7_CREDKEY_ID_LEN] = '\0';
	return id;
}

/* Run one AES-256-GCM pass (enc: seal, else open); false when the tag does not match. */
static bool
aes_gcm(bool enc, const unsigned char *key, const unsigned char *nonce,
		const unsigned char *aad, int aadlen, const unsigned char *in, int inlen,
		unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int			n = 0;
	int			fin = 0;
	bool		ok;

	if (ctx == NULL)
		elog(ERROR, "out of memory for a cipher context");
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
		EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc ? 1 : 0) == 1 &&
		EVP_CipherUpdate(ctx, NULL, &n, aad, aadlen) == 1 &&
		EVP_CipherUpdate(ctx, out, &n, in, inlen) == 1 &&
		(enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1) &&
		EVP_CipherFinal_ex(ctx, out + n, &fin) == 1 &&
		(!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1);
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

/* Seal a plaintext with the current key. */
Datum
flov7_credentials_seal(PG_FUNCTION_ARGS)
{
	text	   *plain = PG_GETARG_TEXT_PP(0);
	int			plen = VARSIZE_ANY_EXHDR(plain);
	const Flov7CredKey *keys;
	bytea	   *result;
	unsigned char *p;

	flov7_credkeys(&keys);
	if (plen > 16 * 1024 * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("credentials must be at most 16 MB")));
	result = palloc(VARHDRSZ + HEADER_LEN + NONCE_LEN + plen + TAG_LEN);
	SET_VARSIZE(result, VARHDRSZ + HEADER_LEN + NONCE_LEN + plen + TAG_LEN);
	p = (unsigned char *) VARDATA(result);
	memcpy(p, MAGIC, MAGIC_LEN);
	memcpy(p + MAGIC_LEN, keys[0].id, FLOV7_CREDKEY_ID_LEN);
	p[HEADER_LEN - 1] = ':';
	if (!pg_strong_random(p + HEADER_LEN, NONCE_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
	if (!aes_gcm(true, keys[0].aes, p + HEADER_LEN, p, HEADER_LEN,
				 (const unsigned char *) VARDATA_ANY(plain), plen,
				 p + HEADER_LEN + NONCE_LEN, p + HEADER_LEN + NONCE_LEN + plen))
		elog(ERROR, "AES-256-GCM encryption failed");
	PG_RETURN_BYTEA_P(result);
}

/* Open a sealed value with whichever configured key sealed it. */
Datum
flov7_credentials_open(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	int			len = VARSIZE_ANY_EXHDR(data);
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(data);
	const Flov7CredKey *keys;
	int			nkeys;
	char		id[FLOV7_CREDKEY_ID_LEN + 1];
	unsigned char tag[TAG_LEN];
	text	   *result;
	int			clen;
	int			i;

	if (header_key_id(data, id) == NULL || len < HEADER_LEN + NONCE_LEN + TAG_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("value is not sealed credentials")));
	nkeys = flov7_credkeys(&keys);
	for (i = 0; i < nkeys; i++)
		if (strcmp(keys[i].id, id) == 0)
			break;
	if (i == nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("credentials were sealed with key %s, which is not configured", id),
				 errdetail("The configured keys are those of flov7.credentials_key_file or flov7.credentials_key_command."),
				 errhint("Add that key as a further line after the current key and reload; "
						 "flov7.rotate_credentials_key() then moves these credentials to the current key.")));
	clen = len - HEADER_LEN - NONCE_LEN - TAG_LEN;
	result = palloc(VARHDRSZ + clen);
	SET_VARSIZE(result, VARHDRSZ + clen);
	memcpy(tag, p + len - TAG_LEN, TAG_LEN);
	if (!aes_gcm(false, keys[i].aes, p + HEADER_LEN, p, HEADER_LEN,
				 p + HEADER_LEN + NONCE_LEN, clen, (unsigned char *) VARDATA(result), tag))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("sealed credentials do not open with key %s", id),
				 errdetail("The value was changed, or the key file holds another key with the same id.")));
	PG_RETURN_TEXT_P(result);
}

/* The id of the key that sealed a value; '' for a value sealed before 0.1.3. */
Datum
flov7_credentials_key_id(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	char		id[FLOV7_CREDKEY_ID_LEN + 1];

	if (header_key_id(data, id) == NULL)
		PG_RETURN_TEXT_P(cstring_to_text(""));
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

/* The id of the key that seals now (the first configured one). */
Datum
flov7_credentials_current_key_id(PG_FUNCTION_ARGS)
{
	const Flov7CredKey *keys;

	flov7_credkeys(&keys);
	PG_RETURN_TEXT_P(cstring_to_text(keys[0].id));
}
