/*-------------------------------------------------------------------------
 *
 * fingerprint.c
 *	  What identifies the computation behind a cache entry.
 *
 * A cache entry may be served only to a call that would have computed the
 * same JSON.  The fingerprint is a SHA-256 over everything that decides
 * that JSON and is cheap to know before running the query:
 *
 *	- the role whose privileges the query would run with (GetUserId()):
 *	  results can depend on it (current_user in a view, policies), so two
 *	  roles never share an entry;
 *	- the cluster (system identifier) and the database, so that clusters
 *	  sharing a Redis under the same prefix never serve each other's rows
 *	  (a primary and its physical standbys share both, and may share
 *	  entries);
 *	- the SQL text;
 *	- each parameter's type and value, in its text form; an untyped
 *	  parameter (query.c) counts as of type unknown, whatever type the SQL
 *	  gives it: untyped calls never share entries with typed ones, and no
 *	  hit needs the SQL analyzed to know the types;
 *	- the schemas the search path resolves to, which includes the session's
 *	  temporary schema once it has one;
 *	- the settings that change how values are parsed or rendered.
 *
 * An entry whose fingerprint differs from the call's is a miss.
 *
 * The inputs are written into one buffer and hashed in one go; the settings
 * are read from their C variables rather than looked up by name.  Because a
 * session usually repeats the same few calls, the fingerprints of the last
 * inputs (up to FP_CACHE_INPUT_MAX bytes each) are kept in a small cache
 * keyed by the whole input, so a repeated call costs a hash and a memcmp
 * instead of a SHA-256.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "parser/parse_expr.h"
#include "parser/parser.h"
#include "pgtime.h"
#include "port/pg_crc32c.h"
#include "tsearch/ts_cache.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_locale.h"
#include "utils/xml.h"

#include "fingerprint.h"

/* Bumped when what goes into the hash changes */
#define FINGERPRINT_VERSION "cacheaside fingerprint 3"

#define MAX_SEARCH_PATH 64

/* Cache of recent fingerprints, keyed by their whole input */
#define FP_CACHE_SIZE		32
#define FP_CACHE_INPUT_MAX	4096

typedef struct FingerprintCacheEntry
{
	pg_crc32c	hash;			/* CRC-32C of the input */
	int			len;
	char	   *input;			/* in TopMemoryContext, or NULL */
	uint8		fingerprint[FINGERPRINT_LEN];
} FingerprintCacheEntry;

static FingerprintCacheEntry fp_cache[FP_CACHE_SIZE];

/* Settings that change how values are rendered or how the SQL is read */
typedef struct FingerprintSettings
{
	int32		date_style;
	int32		date_order;
	int32		interval_style;
	int32		extra_float_digits;
	int32		bytea_output;
	int32		xmlbinary;
	int32		xmloption;
	bool		standard_conforming_strings;
	bool		transform_null_equals;
	bool		array_nulls;
} FingerprintSettings;

/*
 * appendBinaryStringInfo, inline while there is room (every call of the
 * function appends a score of small fields: this is most of a hit's cost
 * of fingerprinting).  No terminating zero: the input is hashed by length.
 */
static inline void
append_bytes(StringInfo buf, const void *data, size_t len)
{
	if (len < (size_t) (buf->maxlen - buf->len))
	{
		memcpy(buf->data + buf->len, data, len);
		buf->len += (int) len;
	}
	else
		appendBinaryStringInfo(buf, (const char *) data, (int) len);
}

/* Append a length-prefixed byte string, so that fields cannot run together */
static inline void
append_field(StringInfo buf, const void *data, size_t len)
{
	uint64		len64 = len;

	append_bytes(buf, &len64, sizeof(len64));
	append_bytes(buf, data, len);
}

static inline void
append_string(StringInfo buf, const char *s)
{
	append_field(buf, s ? s : "", s ? strlen(s) : 0);
}

/*
 * SHA-256 of the input, from the cache when the same input was hashed
 * recently.
 */
static void
fingerprint_hash(const char *input, int len, uint8 fingerprint[FINGERPRINT_LEN])
{
	FingerprintCacheEntry *slot = NULL;
	pg_cryptohash_ctx *ctx;

	if (len <= FP_CACHE_INPUT_MAX)
	{
		pg_crc32c	hash;

		/* CRC-32C only picks the slot; the whole input is compared */
		INIT_CRC32C(hash);
		COMP_CRC32C(hash, input, len);
		FIN_CRC32C(hash);

		slot = &fp_cache[hash % FP_CACHE_SIZE];
		if (slot->input != NULL && slot->hash == hash && slot->len == len &&
			memcmp(slot->input, input, len) == 0)
		{
			memcpy(fingerprint, slot->fingerprint, FINGERPRINT_LEN);
			return;
		}
		if (slot->input != NULL)
			pfree(slot->input);
		slot->input = NULL;
		slot->hash = hash;
	}

	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) input, len) < 0 ||
		pg_cryptohash_final(ctx, fingerprint, FINGERPRINT_LEN) < 0)
		elog(ERROR, "could not compute fingerprint: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);

	if (slot != NULL)
	{
		slot->input = MemoryContextAlloc(TopMemoryContext, len > 0 ? len : 1);
		memcpy(slot->input, input, len);
		slot->len = len;
		memcpy(slot->fingerprint, fingerprint, FINGERPRINT_LEN);
	}
}

/*
 * Compute the fingerprint of running sql with params in this session now.
 */
void
fingerprint_compute(const char *sql, size_t sqllen, const QueryParams *params,
					uint8 fingerprint[FINGERPRINT_LEN])
{
	StringInfoData buf;
	uint64		sysid = GetSystemIdentifier();
	Oid			role = GetUserId();
	Oid			path[MAX_SEARCH_PATH];
	int32		npath;
	int32		n = params ? params->nparams : 0;
	FingerprintSettings settings;

	initStringInfo(&buf);
	append_string(&buf, FINGERPRINT_VERSION);
	append_bytes(&buf, &sysid, sizeof(sysid));
	append_bytes(&buf, &MyDatabaseId,
						   sizeof(MyDatabaseId));
	append_bytes(&buf, &role, sizeof(role));
	append_field(&buf, sql, sqllen);

	append_bytes(&buf, &n, sizeof(n));
	for (int i = 0; i < n; i++)
	{
		append_bytes(&buf, &params->types[i],
							   sizeof(Oid));
		append_bytes(&buf, &params->nulls[i],
							   sizeof(bool));
		if (!params->nulls[i] && params->types[i] == UNKNOWNOID)
		{
			/* untyped: the text given */
			char	   *value = TextDatumGetCString(params->values[i]);

			append_string(&buf, value);
			pfree(value);
		}
		else if (!params->nulls[i] &&
				 (params->types[i] == TEXTOID || params->types[i] == VARCHAROID))
		{
			/* what textout and varcharout return: the bytes themselves */
			text	   *value = DatumGetTextPP(params->values[i]);

			append_field(&buf, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
			if ((Pointer) value != DatumGetPointer(params->values[i]))
				pfree(value);
		}
		else if (!params->nulls[i])
		{
			Oid			outfunc;
			bool		isvarlena;
			char	   *text;

			getTypeOutputInfo(params->types[i], &outfunc, &isvarlena);
			text = OidOutputFunctionCall(outfunc, params->values[i]);
			append_string(&buf, text);
			pfree(text);
		}
	}

	npath = fetch_search_path_array(path, MAX_SEARCH_PATH);
	append_bytes(&buf, &npath, sizeof(npath));
	append_bytes(&buf, path,
						   sizeof(Oid) * Min(npath, MAX_SEARCH_PATH));

	memset(&settings, 0, sizeof(settings));
	settings.date_style = DateStyle;
	settings.date_order = DateOrder;
	settings.interval_style = IntervalStyle;
	settings.extra_float_digits = extra_float_digits;
	settings.bytea_output = bytea_output;
	settings.xmlbinary = xmlbinary;
	settings.xmloption = xmloption;
	settings.standard_conforming_strings = standard_conforming_strings;
	settings.transform_null_equals = Transform_null_equals;
	settings.array_nulls = Array_nulls;
	append_bytes(&buf, &settings, sizeof(settings));
	append_string(&buf, session_timezone ?
				  pg_get_timezone_name(session_timezone) : NULL);
	append_string(&buf, locale_monetary);
	append_string(&buf, locale_numeric);
	append_string(&buf, locale_time);
	append_string(&buf, TSCurrentConfig);

	fingerprint_hash(buf.data, buf.len, fingerprint);
	pfree(buf.data);
}
