/*-------------------------------------------------------------------------
 *
 * cache_query.c
 *	  cache_aside_query(): the cache-aside logic.
 *
 *	  1. Compute the fingerprint of the call (fingerprint.c).
 *	  2. Read the entry under the caller's key with one GETRANGE, bounded
 *		 by cacheaside.max_value_bytes.
 *	  3. A valid entry with the same fingerprint is a hit: its JSON is
 *		 returned as it was stored.
 *	  4. Anything else (no entry, another query's entry, a corrupt,
 *		 truncated or wrong-type value, Redis unavailable) is a miss: the
 *		 query runs (query.c), and its JSON is stored with SET ... EX ttl
 *		 unless the entry would exceed cacheaside.max_value_bytes.
 *
 * Redis trouble never fails the call: redis.c reports it once and the
 * query's own rows are returned.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "config.h"
#include "entry.h"
#include "fingerprint.h"
#include "keyspace.h"
#include "query.h"
#include "redis.h"

PG_FUNCTION_INFO_V1(cache_aside_query);
PG_FUNCTION_INFO_V1(cache_aside_query_params);

/* Bytes of protocol framing allowed around one bulk reply */
#define REPLY_FRAMING	64

/*
 * Look the entry up.  Returns the cached JSON on a hit, NULL on a miss;
 * *usable is set to false when Redis could not be used at all.
 */
static text *
cache_lookup(StringInfo rkey, const uint8 *fingerprint, bool *usable)
{
	RedisRequest req;
	RedisReply *reply;
	CacheEntry	entry;
	const char *invalid;

	redis_request_init(&req);
	redis_command(&req, 4);
	redis_arg_str(&req, "GETRANGE");
	redis_arg(&req, rkey->data, rkey->len);
	redis_arg_str(&req, "0");
	/* at most one byte more than an entry may have: tells "too big" */
	redis_arg_int(&req, cacheaside_max_value_bytes);

	reply = redis_execute(&req, (size_t) cacheaside_max_value_bytes + 1 +
						  REPLY_FRAMING, REDIS_FAIL_OPEN);
	redis_request_free(&req);
	*usable = (reply != NULL);
	if (reply == NULL)
		return NULL;

	if (reply->kind == REDIS_KIND_ERROR)
	{
		/* WRONGTYPE: someone else's value; SET will replace it */
		if (strncmp(reply->str, "WRONGTYPE", 9) != 0)
			redis_warn_reply_error("GETRANGE", reply);
		return NULL;
	}
	if (reply->kind != REDIS_KIND_STRING || reply->len == 0)
		return NULL;			/* no entry */
	if (reply->len > (size_t) cacheaside_max_value_bytes)
	{
		elog(DEBUG1, "cacheaside: entry \"%s\" is larger than cacheaside.max_value_bytes",
			 rkey->data);
		return NULL;
	}

	invalid = entry_decode(reply->str, reply->len, &entry);
	if (invalid != NULL)
	{
		elog(DEBUG1, "cacheaside: ignoring entry \"%s\": %s",
			 rkey->data, invalid);
		return NULL;
	}
	if (memcmp(entry.fingerprint, fingerprint, FINGERPRINT_LEN) != 0)
		return NULL;			/* made by another query under this key */

	return entry_payload_text(&entry);
}

/*
 * Store the result of a miss, if it fits.
 */
static void
cache_store(StringInfo rkey, const uint8 *fingerprint, QueryResult *result,
			int ttl)
{
	CacheEntry	entry;
	StringInfoData header;
	RedisRequest req;
	RedisReply *reply;
	size_t		total;

	entry.created = GetCurrentTimestamp();
	memcpy(entry.fingerprint, fingerprint, FINGERPRINT_LEN);
	entry.nrelations = result->nrelations;
	entry.relations = result->relations;
	entry.payload = VARDATA(result->json);
	entry.payload_len = VARSIZE(result->json) - VARHDRSZ;

	total = entry_header_size(entry.nrelations) + entry.payload_len;
	if (total > (size_t) cacheaside_max_value_bytes)
	{
		elog(DEBUG1, "cacheaside: not caching \"%s\": %zu bytes exceed cacheaside.max_value_bytes",
			 rkey->data, total);
		return;
	}

	initStringInfo(&header);
	entry_encode_header(&header, &entry);

	redis_request_init(&req);
	redis_command(&req, 5);
	redis_arg_str(&req, "SET");
	redis_arg(&req, rkey->data, rkey->len);
	redis_arg_begin(&req, header.len + entry.payload_len);
	redis_arg_part(&req, header.data, header.len);
	redis_arg_part(&req, entry.payload, entry.payload_len);
	redis_arg_end(&req);
	redis_arg_str(&req, "EX");
	redis_arg_int(&req, ttl);

	reply = redis_execute(&req, 4096, REDIS_FAIL_OPEN);
	redis_request_free(&req);
	pfree(header.data);

	if (reply != NULL && reply->kind != REDIS_KIND_STATUS)
		redis_warn_reply_error("SET", reply);
}

/*
 * The body of both SQL-callable variants.
 */
static Datum
cache_aside_query_common(FunctionCallInfo fcinfo, QueryParams *params)
{
	text	   *key;
	text	   *sqltext;
	char	   *sql;
	int			ttl;
	uint8		fingerprint[FINGERPRINT_LEN];
	StringInfoData rkey;
	text	   *json;
	QueryResult result;
	bool		usable;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache key must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("query must not be null")));

	ttl = PG_ARGISNULL(2) ? cacheaside_default_ttl : PG_GETARG_INT32(2);
	if (ttl <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must be a positive number of seconds"),
				 errdetail("The ttl given was %d.", ttl)));

	key = PG_GETARG_TEXT_PP(0);
	sqltext = PG_GETARG_TEXT_PP(1);

	/* Disabled, or Redis known to be down: just run the query */
	if (!cacheaside_enabled || cacheaside_max_value_bytes == 0 ||
		redis_backing_off())
	{
		query_run_json(text_to_cstring(sqltext), params, &result);
		PG_RETURN_TEXT_P(result.json);
	}

	fingerprint_compute(VARDATA_ANY(sqltext), VARSIZE_ANY_EXHDR(sqltext),
						params, fingerprint);
	initStringInfo(&rkey);
	keyspace_entry_key(&rkey, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));

	json = cache_lookup(&rkey, fingerprint, &usable);
	if (json != NULL)
		PG_RETURN_TEXT_P(json);

	sql = text_to_cstring(sqltext);
	query_run_json(sql, params, &result);
	/* after a failed lookup, do not make the call wait on Redis twice */
	if (usable)
		cache_store(&rkey, fingerprint, &result, ttl);
	PG_RETURN_TEXT_P(result.json);
}

/*
 * cache_aside_query(key text, sql text, ttl integer DEFAULT NULL) RETURNS json
 */
Datum
cache_aside_query(PG_FUNCTION_ARGS)
{
	QueryParams params = {0, NULL, NULL, NULL};

	return cache_aside_query_common(fcinfo, &params);
}

/*
 * cache_aside_query(key text, sql text, ttl integer, VARIADIC params "any")
 *		RETURNS json
 */
Datum
cache_aside_query_params(PG_FUNCTION_ARGS)
{
	QueryParams params;

	query_params_from_args(fcinfo, 3, &params);
	return cache_aside_query_common(fcinfo, &params);
}
