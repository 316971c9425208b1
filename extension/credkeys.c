/*-------------------------------------------------------------------------
 *
 * credkeys.c
 *	  The keys that seal integration credentials, kept outside the database.
 *
 * A dump of the database must never hold both the ciphertexts and their
 * key, so the key is not a row: the server reads it from a file named by
 * flov7.credentials_key_file, or from the output of the command in
 * flov7.credentials_key_command (pgsodium's getkey script is the model).
 * Both settings are superuser-only: other roles can neither set nor SHOW
 * them.  The source holds one key per line (at least 32 characters; empty
 * lines and lines starting with '#' are skipped): the first seals, the
 * others still open what they sealed, which is how a key is rotated.
 *
 * The key text itself is kept only long enough to derive, with
 * HMAC-SHA256, an AES-256 key and a key id (a fingerprint that says which
 * key sealed a ciphertext and reveals nothing about it).  Each backend
 * reads the source once and keeps the derived keys; a change of either
 * setting (SET, or a reload after SIGHUP) or of the file (its inode, size
 * or times) makes it read again.  Nothing here ever returns a key to SQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "miscadmin.h"
#include "port.h"
#include "storage/fd.h"
#include "utils/guc.h"

#include "flov7.h"

/* Largest key source read, and most keys kept from it. */
#define KEY_SOURCE_MAX (64 * 1024)
#define MAX_KEYS 32
#define KEY_MIN_LEN 32
#define KEY_MAX_LEN 1024

static char *credentials_key_file = NULL;
static char *credentials_key_command = NULL;

static Flov7CredKey keys[MAX_KEYS];
static int	nkeys = 0;

/* Bumped by any change of either setting; the keys above are valid for loaded_generation. */
static uint64 config_generation = 1;
static uint64 loaded_generation = 0;
static struct stat loaded_stat;

/* Any assignment of a key setting (postgresql.conf reload, SET, RESET, rollback) forgets the keys. */
static void
key_setting_assign(const char *newval, void *extra)
{
	config_generation++;
}

/* Define the two superuser-only settings. */
void
flov7_credkeys_init(void)
{
	DefineCustomStringVariable("flov7.credentials_key_file",
							   "File holding the keys that seal integration credentials, one per line (the first seals).",
							   "Must be owned by the server's operating system user with mode 0600 "
							   "(or by root with 0640) and hold keys of at least 32 characters.",
							   &credentials_key_file, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, key_setting_assign, NULL);
	DefineCustomStringVariable("flov7.credentials_key_command",
							   "Shell command the server runs to get the credentials keys, one per line (the first seals).",
							   "Used when flov7.credentials_key_file is empty; its standard output is read "
							   "as the file would be.",
							   &credentials_key_command, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, key_setting_assign, NULL);
}

/* Forget the derived keys, without leaving them in memory. */
static void
forget_keys(void)
{
	explicit_bzero(keys, sizeof(keys));
	nkeys = 0;
	loaded_generation = 0;
}

/* Refuse a key file others may read, as PostgreSQL refuses such an SSL key file. */
static void
check_file_permissions(const char *path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("credentials key file \"%s\" is not a regular file", path),
				 errhint("Set flov7.credentials_key_file to the path of a file.")));
	if (st->st_uid != geteuid() && st->st_uid != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("credentials key file \"%s\" must be owned by the database user or root", path),
				 errhint("chown it to the operating system user the server runs as.")));
	if ((st->st_uid == geteuid() && (st->st_mode & (S_IRWXG | S_IRWXO))) ||
		(st->st_uid == 0 && (st->st_mode & (S_IWGRP | S_IXGRP | S_IRWXO))))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("credentials key file \"%s\" has group or world access", path),
				 errdetail("Anyone who can read it can decrypt every integration's credentials."),
				 errhint("chmod 0600 it if it is owned by the database user, or 0640 if owned by root.")));
}

/* Read the whole key file into buf (at most KEY_SOURCE_MAX bytes); remember its identity. */
static int
read_key_file(const char *path, char *buf, struct stat *st)
{
	int			fd;
	int			len = 0;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not open credentials key file \"%s\": %m", path),
				 errhint("Check flov7.credentials_key_file and that the server's operating system user can read the file.")));
	if (fstat(fd, st) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not stat credentials key file \"%s\": %m", path)));
	check_file_permissions(path, st);
	for (;;)
	{
		ssize_t		n = read(fd, buf + len, KEY_SOURCE_MAX - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("could not read credentials key file \"%s\": %m", path)));
		if (n == 0)
			break;
		len += n;
		if (len == KEY_SOURCE_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("credentials key file \"%s\" is larger than %d bytes", path, KEY_SOURCE_MAX - 1)));
	}
	CloseTransientFile(fd);
	return len;
}

/* Run the key command and read its standard output into buf. */
static int
read_key_command(const char *command, char *buf)
{
	FILE	   *f;
	size_t		len = 0;
	int			rc;

	fflush(NULL);
	f = OpenPipeStream(command, "r");
	if (f == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not run flov7.credentials_key_command: %m")));
	while (len < KEY_SOURCE_MAX)
	{
		size_t		n = fread(buf + len, 1, KEY_SOURCE_MAX - len, f);

		if (n == 0)
			break;
		len += n;
	}
	rc = ClosePipeStream(f);
	if (rc != 0)
	{
		char	   *reason = wait_result_to_str(rc);

		explicit_bzero(buf, len);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("flov7.credentials_key_command failed: %s", reason),
				 errhint("The command must print the keys, one per line, and exit with status 0.")));
	}
	if (len == KEY_SOURCE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("flov7.credentials_key_command printed more than %d bytes", KEY_SOURCE_MAX - 1)));
	return (int) len;
}

/* HMAC-SHA256 of a label under the key text: each derived value gets its own label. */
static void
derive(const char *key, int keylen, const char *label, unsigned char *out)
{
	unsigned int outlen = 0;

	if (HMAC(EVP_sha256(), key, keylen, (const unsigned char *) label, strlen(label),
			 out, &outlen) == NULL || outlen != 32)
		elog(ERROR, "HMAC-SHA256 computation failed");
}

/* Parse the key lines of buf (len bytes) into keys[]; the source is named by what. */
static void
parse_keys(char *buf, int len, const char *what)
{
	static const char hex[] = "0123456789abcdef";
	int			pos = 0;
	int			line = 0;

	while (pos < len)
	{
		int			start = pos;
		int			end;
		unsigned char idmac[32];
		Flov7CredKey *k;
		int			i;

		while (pos < len && buf[pos] != '\n')
			pos++;
		end = pos++;
		line++;
		while (start < end && (buf[start] == ' ' || buf[start] == '\t'))
			start++;
		while (end > start && (buf[end - 1] == ' ' || buf[end - 1] == '\t' || buf[end - 1] == '\r'))
			end--;
		if (start == end || buf[start] == '#')
			continue;
		if (end - start < KEY_MIN_LEN || end - start > KEY_MAX_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the key on line %d of %s is %d characters long", line, what, end - start),
					 errdetail("A credentials key has %d to %d characters.", KEY_MIN_LEN, KEY_MAX_LEN),
					 errhint("Generate one with: openssl rand -hex 32")));
		if (nkeys == MAX_KEYS)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s holds more than %d keys", what, MAX_KEYS),
					 errhint("Rotate with flov7.rotate_credentials_key() and drop the keys no longer used.")));
		k = &keys[nkeys];
		derive(buf + start, end - start, "flov7 credentials key id", idmac);
		for (i = 0; i < FLOV7_CREDKEY_ID_LEN / 2; i++)
		{
			k->id[2 * i] = hex[idmac[i] >> 4];
			k->id[2 * i + 1] = hex[idmac[i] & 0x0f];
		}
		k->id[FLOV7_CREDKEY_ID_LEN] = '\0';
		for (i = 0; i < nkeys; i++)
			if (strcmp(keys[i].id, k->id) == 0)
				break;
		if (i < nkeys)
			continue;			/* the same key twice: the first one counts */
		derive(buf + start, end - start, "flov7 credentials aes-256-gcm", k->aes);
		nkeys++;
	}
	if (nkeys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s holds no key", what),
				 errhint("Write a key of at least %d characters on its first line, e.g. the output of: openssl rand -hex 32",
						 KEY_MIN_LEN)));
}

/* Whether the key file is still the one the keys were read from. */
static bool
file_unchanged(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return false;
	return st.st_dev == loaded_stat.st_dev && st.st_ino == loaded_stat.st_ino &&
		st.st_size == loaded_stat.st_size &&
		st.st_mtim.tv_sec == loaded_stat.st_mtim.tv_sec &&
		st.st_mtim.tv_nsec == loaded_stat.st_mtim.tv_nsec &&
		st.st_ctim.tv_sec == loaded_stat.st_ctim.tv_sec &&
		st.st_ctim.tv_nsec == loaded_stat.st_ctim.tv_nsec;
}

/*
 * The configured keys, the sealing one first; read them when needed.  Raises
 * 55000 naming the settings when none is configured or the source is unusable.
 */
int
flov7_credkeys(const Flov7CredKey **out)
{
	bool		use_file = credentials_key_file != NULL && credentials_key_file[0] != '\0';
	bool		use_command = credentials_key_command != NULL && credentials_key_command[0] != '\0';
	char	   *volatile buf = NULL;
	volatile int len = 0;

	if (!use_file && !use_command)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no credentials key is configured"),
				 errdetail("Integration credentials are sealed with a key kept outside the database, "
						   "and neither flov7.credentials_key_file nor flov7.credentials_key_command is set."),
				 errhint("Write a key of at least 32 characters (openssl rand -hex 32) to a file that only the "
						 "server's operating system user can read (mode 0600), set flov7.credentials_key_file "
						 "to its path in postgresql.conf, and reload (SELECT pg_reload_conf()).")));
	if (use_file && use_command)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("both flov7.credentials_key_file and flov7.credentials_key_command are set"),
				 errhint("Set only one of them.")));

	if (loaded_generation == config_generation && nkeys > 0 &&
		(use_command || file_unchanged(credentials_key_file)))
	{
		*out = keys;
		return nkeys;
	}

	forget_keys();
	PG_TRY();
	{
		struct stat st;

		buf = palloc(KEY_SOURCE_MAX);
		if (use_file)
		{
			len = read_key_file(credentials_key_file, buf, &st);
			parse_keys(buf, len, psprintf("credentials key file \"%s\"", credentials_key_file));
			loaded_stat = st;
		}
		else
		{
			len = read_key_command(credentials_key_command, buf);
			parse_keys(buf, len, "the output of flov7.credentials_key_command");
		}
	}
	PG_FINALLY();
	{
		if (buf != NULL)
		{
			explicit_bzero(buf, KEY_SOURCE_MAX);
			pfree(buf);
		}
	}
	PG_END_TRY();
	loaded_generation = config_generation;
	*out = keys;
	return nkeys;
}
