/*-------------------------------------------------------------------------
 *
 * cache_query.c
 *	  cache_aside_query(): the cache-aside logic.
 *
 *	  1. Compute the fingerprint of the call (fingerprint.c).
 *	  2. Read the entry under the caller's key from the entry store
 *		 (store.c).
 *	  3. A valid entry with the same fingerprint is a hit: its JSON is
 *		 returned as it was stored.
 *	  4. Anything else (no entry, another query's entry, a corrupt,
 *		 truncated or wrong-type value, Redis unavailable) is a miss: the
 *		 query runs (query.c), and its JSON is stored for ttl seconds.
 *
 * Redis trouble never fails the call: the store reports it once and the
 * query's own rows are returned.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_largeobject.h"
#include "catalog/pg_largeobject_metadata.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "config.h"
#include "entry.h"
#include "fingerprint.h"
#include "privs.h"
#include "query.h"
#include "store.h"
#include "track.h"

PG_FUNCTION_INFO_V1(cache_aside_query);
PG_FUNCTION_INFO_V1(cache_aside_query_params);

/*
 * May this session be served a decoded entry?
 */
static bool
cache_servable(const StoreKey *skey, const CacheEntry *entry, TrackMode mode)
{
	const char *why;

	TrackVerdict verdict;

	if (mode != TRACK_ON)
	{
		/* TTL only: but never an entry this transaction's writes affect */
		verdict = track_written_by_me(entry->relations, entry->nrelations) ?
			TRACK_WRITTEN : TRACK_VALID;
	}
	else if (!(entry->flags & ENTRY_TRACKED))
		verdict = TRACK_CHANGED;	/* made where writes were not tracked */
	else if (IsolationIsSerializable())
	{
		/* a hit would take no predicate locks: run the query instead */
		elog(DEBUG1, "cacheaside: not serving \"%s\" in a serializable transaction",
			 skey->name.data);
		return false;
	}
	else
		verdict = track_check(entry->relations, entry->nrelations,
							  entry->epoch, entry->as_of);

	if (verdict != TRACK_VALID)
	{
		elog(DEBUG1, "cacheaside: not serving \"%s\": %s", skey->name.data,
			 verdict == TRACK_CHANGED ? "what it read has changed" :
			 verdict == TRACK_WRITTEN ? "this transaction wrote what it read" :
			 "this transaction's snapshot is older than the entry");
		return false;
	}

	/*
	 * The privilege checks running the query would make.  When one fails,
	 * the query runs instead: it raises PostgreSQL's own error (42501) if
	 * it must.
	 */
	why = privs_check(entry->checks, entry->checks_len);
	if (why == NULL)
		return true;
	elog(DEBUG1, "cacheaside: not serving \"%s\": %s", skey->name.data, why);
	return false;
}

/*
 * Has this transaction read (or written) large objects?  Their privileges
 * are checked inside the functions that read them, with nothing to record:
 * a result that may hold their contents is not stored.  Any access keeps a
 * lock on pg_largeobject or its metadata until the transaction ends.
 */
static bool
large_objects_read(void)
{
	return track_relation_locked_by_me(LargeObjectRelationId, AccessShareLock) ||
		track_relation_locked_by_me(LargeObjectMetadataRelationId,
									AccessShareLock);
}

/*
 * May a result computed from relids be stored?  as_of is the commit
 * sequence number read before the query ran, when writes are tracked.
 */
static bool
cache_storable(const StoreKey *skey, const TrackFill *fill, bool tracked,
			   uint64 as_of)
{
	const Oid  *relids = fill->relids.oids;
	int			nrelids = fill->relids.n;
	const char *why = NULL;
	TrackVerdict verdict;

	if (fill->unstorable)
		why = fill->unstorable;
	else if (large_objects_read())
		why = "this transaction read large objects";
	else if (fill->checks.data != NULL)
		why = privs_check(fill->checks.data, fill->checks.len);

	for (int i = 0; i < nrelids && why == NULL; i++)
	{
		HeapTuple	tuple = SearchSysCache1(RELOID,
											ObjectIdGetDatum(relids[i]));

		if (!HeapTupleIsValid(tuple))
		{
			why = "a relation it read was dropped";
			break;
		}
		/* another session can end up with the same temporary schema */
		if (((Form_pg_class) GETSTRUCT(tuple))->relpersistence ==
			RELPERSISTENCE_TEMP)
			why = "it read a temporary table";
		/* writes to a foreign table happen on another server */
		else if (tracked &&
				 ((Form_pg_class) GETSTRUCT(tuple))->relkind ==
				 RELKIND_FOREIGN_TABLE)
			why = "it read a foreign table";
		/* sequences change outside transactions, without commits */
		else if (tracked &&
				 ((Form_pg_class) GETSTRUCT(tuple))->relkind ==
				 RELKIND_SEQUENCE)
			why = "it read a sequence";
		/* writes to system catalogs are not tracked */
		else if (tracked && relids[i] < FirstNormalObjectId)
			why = "it read a system catalog";
		ReleaseSysCache(tuple);
	}
	if (why == NULL)
	{
		if (tracked)
			verdict = track_check(relids, nrelids, track_epoch(), as_of);
		else if (track_written_by_me(relids, nrelids))
			verdict = TRACK_WRITTEN;
		else if (IsolationUsesXactSnapshot())
			verdict = TRACK_SNAPSHOT;	/* cannot tell how old it is */
		else
			verdict = TRACK_VALID;

		if (verdict == TRACK_CHANGED)
			why = "what it read changed while it ran";
		else if (verdict == TRACK_WRITTEN)
			why = "this transaction wrote what it read";
		else if (verdict == TRACK_SNAPSHOT)
			why = "this transaction's snapshot may miss committed writes";
	}
	if (why == NULL)
		return true;
	elog(DEBUG1, "cacheaside: not caching \"%s\": %s", skey->name.data, why);
	return false;
}

/*
 * Store the result of a miss.
 */
static void
cache_store(const StoreKey *skey, const uint8 *fingerprint,
			QueryResult *result, const TrackFill *fill, bool tracked,
			uint64 as_of, int ttl)
{
	CacheEntry	entry;

	entry.flags = tracked ? ENTRY_TRACKED : 0;
	entry.epoch = tracked ? track_epoch() : 0;
	entry.as_of = tracked ? as_of : 0;
	entry.created = GetCurrentTimestamp();
	memcpy(entry.fingerprint, fingerprint, FINGERPRINT_LEN);
	entry.nrelations = fill->relids.n;
	entry.relations = fill->relids.oids;
	entry.checks = fill->checks.data;
	entry.checks_len = fill->checks.data ? fill->checks.len : 0;
	entry.payload = VARDATA(result->json);
	entry.payload_len = VARSIZE(result->json) - VARHDRSZ;
	store_write(skey, &entry, ttl);
}

/*
 * Run the query, recording in fill every relation the executor opens, every
 * relation its plan depends on and the privilege checks it passes.  No
 * parallel worker runs meanwhile: the recording does not see their
 * executors, where functions the query calls could read tables unrecorded
 * and unchecked.
 */
static void
cache_run_recording(const char *sql, const QueryParams *params,
					QueryResult *result, TrackFill *fill)
{
	track_fill_begin(fill);
	PG_TRY();
	{
		query_run_json(sql, params, false, result);
		/* and what the plan depends on */
		track_fill_include(fill, result->relations, result->nrelations);
	}
	PG_FINALLY();
	{
		track_fill_end(fill);
	}
	PG_END_TRY();
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
	StoreKey	skey;
	StoreReadResult found;
	QueryResult result;
	CacheEntry	entry;
	TrackMode	mode;
	TrackFill	fill;
	bool		tracked;
	uint64		as_of = 0;

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
		store_backing_off())
	{
		/* inside a query being cached, everything it runs is recorded */
		query_run_json(text_to_cstring(sqltext), params,
					   !track_fill_active(), &result);
		PG_RETURN_TEXT_P(result.json);
	}

	mode = track_mode();
	fingerprint_compute(VARDATA_ANY(sqltext), VARSIZE_ANY_EXHDR(sqltext),
						params, fingerprint);
	store_key_init(&skey, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));

	found = store_read(&skey, STORE_FAIL_OPEN, &entry);
	if (found == STORE_FOUND &&
		memcmp(entry.fingerprint, fingerprint, FINGERPRINT_LEN) == 0 &&
		cache_servable(&skey, &entry, mode))
	{
		/* a query being cached around this call read these too */
		track_fill_add(entry.relations, entry.nrelations);
		if (entry.checks_len > 0)
			track_fill_add_checks(entry.checks, entry.checks_len);
		if (mode != TRACK_ON)
			track_fill_unchecked();
		PG_RETURN_TEXT_P(entry_payload_text(&entry));
	}

	/*
	 * Miss.  The commit sequence number is read before the query takes its
	 * snapshot: any commit it does not count is visible to the query.
	 */
	tracked = track_writes_tracked();
	if (tracked)
		as_of = track_as_of();
	sql = text_to_cstring(sqltext);
	cache_run_recording(sql, params, &result, &fill);

	/* after a failed lookup, do not make the call wait on Redis twice */
	if (fill.unchecked)
		elog(DEBUG1, "cacheaside: not caching \"%s\": it used an entry not checked against commits",
			 skey.name.data);
	else if (found != STORE_UNAVAILABLE &&
			 cache_storable(&skey, &fill, tracked, as_of))
		cache_store(&skey, fingerprint, &result, &fill, tracked, as_of, ttl);
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
