/*-------------------------------------------------------------------------
 *
 * crypto.c
 *	  Hashing, random tokens and JWT signing for flov7.
 *
 * OpenSSL's libcrypto does the work: SHA-256 for API-key and refresh-token
 * hashes, HMAC-SHA256 for HS256 JWTs, base64 for the encodings, and
 * CRYPTO_memcmp for comparisons that must not leak timing.  Random bytes
 * come from pg_strong_random, PostgreSQL's own CSPRNG wrapper.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "port.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "flov7.h"

PG_FUNCTION_INFO_V1(flov7_random_token);
PG_FUNCTION_INFO_V1(flov7_sha256_hex_sql);
PG_FUNCTION_INFO_V1(flov7_jwt_sign);
PG_FUNCTION_INFO_V1(flov7_secure_equal);

/* Write the SHA-256 digest of data as 64 lower-case hex digits plus NUL. */
void
flov7_sha256_hex(const char *data, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char digest[SHA256_DIGEST_LENGTH];
	int			i;

	if (SHA256((const unsigned char *) data, len, digest) == NULL)
		elog(ERROR, "SHA-256 computation failed");
	for (i = 0; i < SHA256_DIGEST_LENGTH; i++)
	{
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 0x0f];
	}
	out[FLOV7_SHA256_HEX_LEN] = '\0';
}

/* Append the unpadded base64url encoding of data to buf. */
static void
append_base64url(StringInfo buf, const unsigned char *data, int len)
{
	int			enclen = 4 * ((len + 2) / 3);
	char	   *enc = palloc(enclen + 1);
	int			n;
	int			i;

	n = EVP_EncodeBlock((unsigned char *) enc, data, len);
	for (i = 0; i < n && enc[i] != '='; i++)
	{
		char		c = enc[i];

		appendStringInfoChar(buf, c == '+' ? '-' : (c == '/' ? '_' : c));
	}
	pfree(enc);
}

/* Return prefix || base64url(nbytes random bytes): keys, secrets, tokens. */
Datum
flov7_random_token(PG_FUNCTION_ARGS)
{
	text	   *prefix = PG_GETARG_TEXT_PP(0);
	int32		nbytes = PG_GETARG_INT32(1);
	unsigned char *bytes;
	StringInfoData buf;

	if (nbytes < 16 || nbytes > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("random token length must be between 16 and 1024 bytes"),
				 errdetail("The requested length was %d bytes.", nbytes)));

	bytes = palloc(nbytes);
	if (!pg_strong_random(bytes, nbytes))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(prefix), VARSIZE_ANY_EXHDR(prefix));
	append_base64url(&buf, bytes, nbytes);
	explicit_bzero(bytes, nbytes);
	pfree(bytes);

	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/* SQL wrapper: SHA-256 of a text value, as lower-case hex. */
Datum
flov7_sha256_hex_sql(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	char		out[FLOV7_SHA256_HEX_LEN + 1];

	flov7_sha256_hex(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), out);
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

/* Sign a JSON payload as an HS256 JWT with the given secret. */
Datum
flov7_jwt_sign(PG_FUNCTION_ARGS)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	Jsonb	   *payload = PG_GETARG_JSONB_P(0);
	text	   *secret = PG_GETARG_TEXT_PP(1);
	StringInfoData json;
	StringInfoData jwt;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (VARSIZE_ANY_EXHDR(secret) < 32)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("jwt secret must be at least 32 bytes long")));
	if (!JB_ROOT_IS_OBJECT(payload) || JB_ROOT_IS_SCALAR(payload))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("jwt payload must be a JSON object")));

	initStringInfo(&json);
	JsonbToCString(&json, &payload->root, VARSIZE(payload));

	initStringInfo(&jwt);
	append_base64url(&jwt, (const unsigned char *) header, strlen(header));
	appendStringInfoChar(&jwt, '.');
	append_base64url(&jwt, (const unsigned char *) json.data, json.len);

	if (HMAC(EVP_sha256(), VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret),
			 (const unsigned char *) jwt.data, jwt.len, mac, &maclen) == NULL)
		elog(ERROR, "HMAC-SHA256 computation failed");

	appendStringInfoChar(&jwt, '.');
	append_base64url(&jwt, mac, (int) maclen);

	PG_RETURN_TEXT_P(cstring_to_text_with_len(jwt.data, jwt.len));
}

/* Compare two text values in time independent of where they differ. */
Datum
flov7_secure_equal(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	size_t		alen = VARSIZE_ANY_EXHDR(a);

	if (alen != VARSIZE_ANY_EXHDR(b))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(CRYPTO_memcmp(VARDATA_ANY(a), VARDATA_ANY(b), alen) == 0);
}
