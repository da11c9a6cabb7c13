/*-------------------------------------------------------------------------
 *
 * fingerprint.c
 *	  What identifies the computation behind a cache entry.
 *
 * A cache entry may be served only to a call that would have computed the
 * same JSON.  The fingerprint is a SHA-256 over everything that decides
 * that JSON and is cheap to know before running the query:
 *
 *	- the cluster (system identifier) and the database, so that clusters
 *	  sharing a Redis under the same prefix never serve each other's rows
 *	  (a primary and its physical standbys share both, and may share
 *	  entries);
 *	- the SQL text;
 *	- each parameter's type and value, in its text form;
 *	- the schemas the search path resolves to, which includes the session's
 *	  temporary schema once it has one;
 *	- the settings that change how values are parsed or rendered.
 *
 * An entry whose fingerprint differs from the call's is a miss.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/namespace.h"
#include "common/cryptohash.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "fingerprint.h"

/* Bumped when what goes into the hash changes */
#define FINGERPRINT_VERSION "cacheaside fingerprint 1"

/* Settings that change the text of the result, or how the SQL is read */
static const char *const fingerprint_settings[] = {
	"DateStyle",
	"IntervalStyle",
	"TimeZone",
	"extra_float_digits",
	"bytea_output",
	"xmlbinary",
	"xmloption",
	"lc_monetary",
	"lc_numeric",
	"lc_time",
	"standard_conforming_strings",
	"default_text_search_config",
	"transform_null_equals",
	"array_nulls",
};

#define MAX_SEARCH_PATH 64

static void
hash_update(pg_cryptohash_ctx *ctx, const void *data, size_t len)
{
	if (pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0)
		elog(ERROR, "could not update fingerprint: %s",
			 pg_cryptohash_error(ctx));
}

/* Hash a length-prefixed byte string, so that fields cannot run together */
static void
hash_field(pg_cryptohash_ctx *ctx, const char *data, size_t len)
{
	uint64		len64 = len;

	hash_update(ctx, &len64, sizeof(len64));
	hash_update(ctx, data, len);
}

/*
 * Compute the fingerprint of running sql with params in this session now.
 */
void
fingerprint_compute(const char *sql, size_t sqllen, const QueryParams *params,
					uint8 fingerprint[FINGERPRINT_LEN])
{
	pg_cryptohash_ctx *ctx;
	uint64		sysid = GetSystemIdentifier();
	Oid			path[MAX_SEARCH_PATH];
	int			npath;
	int32		n;

	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not initialize fingerprint: %s",
			 pg_cryptohash_error(ctx));

	hash_field(ctx, FINGERPRINT_VERSION, strlen(FINGERPRINT_VERSION));
	hash_update(ctx, &sysid, sizeof(sysid));
	hash_update(ctx, &MyDatabaseId, sizeof(MyDatabaseId));
	hash_field(ctx, sql, sqllen);

	n = params ? params->nparams : 0;
	hash_update(ctx, &n, sizeof(n));
	for (int i = 0; i < n; i++)
	{
		hash_update(ctx, &params->types[i], sizeof(Oid));
		if (params->nulls[i])
			hash_field(ctx, "", 0);	/* null: no value, marked below */
		else
		{
			Oid			outfunc;
			bool		isvarlena;
			char	   *text;

			getTypeOutputInfo(params->types[i], &outfunc, &isvarlena);
			text = OidOutputFunctionCall(outfunc, params->values[i]);
			hash_field(ctx, text, strlen(text));
			pfree(text);
		}
		hash_update(ctx, &params->nulls[i], sizeof(bool));
	}

	npath = fetch_search_path_array(path, MAX_SEARCH_PATH);
	hash_update(ctx, &npath, sizeof(npath));
	hash_update(ctx, path, sizeof(Oid) * Min(npath, MAX_SEARCH_PATH));

	for (size_t i = 0; i < lengthof(fingerprint_settings); i++)
	{
		const char *value = GetConfigOption(fingerprint_settings[i],
											true, false);

		hash_field(ctx, value ? value : "", value ? strlen(value) : 0);
	}

	if (pg_cryptohash_final(ctx, fingerprint, FINGERPRINT_LEN) < 0)
		elog(ERROR, "could not finish fingerprint: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}
