/*-------------------------------------------------------------------------
 *
 * cache_query.c
 *	  cache_aside_query(): the cache-aside logic.
 *
 *	  1. Compute the fingerprint of the call (fingerprint.c).
 *	  2. Read the entry under the caller's key from the entry store
 *		 (store.c).
 *	  3. An entry with the same fingerprint that may be served in this
 *		 transaction (validity.c) is a hit: its JSON is returned as it was
 *		 stored.
 *	  4. Anything else (no entry, another query's entry, a corrupt,
 *		 truncated or wrong-type value, Redis unavailable) is a miss: the
 *		 query runs (query.c) inside a fill (fill.c), which records what it
 *		 reads, and its JSON is stored for ttl seconds unless the fill
 *		 says it must not be.
 *
 * Redis trouble never fails the call: the store reports it once and the
 * query's own rows are returned.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/parallel.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "config.h"
#include "entry.h"
#include "fill.h"
#include "fingerprint.h"
#include "flight.h"
#include "query.h"
#include "stats.h"
#include "store.h"
#include "validity.h"

PG_FUNCTION_INFO_V1(cache_aside_query);
PG_FUNCTION_INFO_V1(cache_aside_query_params);

/*
 * For tests only (test/modules/pause_store): a function another library
 * may put in the rendezvous variable "cacheaside_before_store", called
 * with the Redis key once a fill has decided to store and before it does.
 */
typedef void (*cache_before_store_function) (const char *key);

static void **before_store = NULL;

/*
 * Store the result of a miss, made by fill.  Returns REASON_NONE when it
 * was stored, else why not; *bytes: the size stored.
 */
static CacheReason
cache_store(const StoreKey *skey, const uint8 *fingerprint,
			QueryResult *result, const Fill *fill, bool tracked,
			uint64 as_of, uint32 compute_us, int ttl, size_t *bytes)
{
	CacheEntry	entry;

	entry.flags = tracked ? ENTRY_TRACKED : 0;
	entry.epoch = tracked ? validity_epoch() : 0;
	entry.as_of = tracked ? as_of : 0;
	entry.compute_us = compute_us;
	entry.ttl = (uint32) ttl;
	entry.created = GetCurrentTimestamp();
	memcpy(entry.fingerprint, fingerprint, FINGERPRINT_LEN);
	fill_describe(fill, &entry);
	entry.payload = VARDATA(result->json);
	entry.payload_len = VARSIZE(result->json) - VARHDRSZ;
	return store_write(skey, &entry, ttl, bytes);
}

/*
 * Run the query inside a fill, which records every relation the executor
 * opens, every relation its plan depends on and the privilege checks it
 * passes.  No parallel worker runs meanwhile: the recording does not see
 * their executors, where functions the query calls could read tables
 * unrecorded and unchecked.
 */
static Fill *
cache_run_recording(const char *sql, const QueryParams *params,
					QueryResult *result)
{
	Fill	   *fill = fill_begin();

	PG_TRY();
	{
		query_run_json(sql, params, false, result);
		/* and what the plan depends on */
		fill_include(fill, result->relations, result->nrelations);
	}
	PG_FINALLY();
	{
		fill_end(fill);
	}
	PG_END_TRY();
	return fill;
}

/*
 * A miss: run the query inside a fill and store its result, unless it must
 * not be.  Sets *stored, and in *call why it was not stored.
 */
static text *
cache_fill(const StoreKey *skey, const uint8 *fingerprint, text *sqltext,
		   int ttl, QueryParams *params, CallStats *call, bool *stored)
{
	QueryResult result;
	Fill	   *fill;
	const char *why;
	CacheReason reason;
	bool		tracked;
	uint64		as_of = 0;
	size_t		bytes;
	instr_time	start;
	instr_time	took;

	*stored = false;

	/*
	 * The commit sequence number is read before the query takes its
	 * snapshot: any commit it does not count is visible to the query.
	 */
	tracked = validity_writes_tracked();
	if (tracked)
		as_of = validity_as_of();
	INSTR_TIME_SET_CURRENT(start);
	fill = cache_run_recording(text_to_cstring(sqltext), params, &result);
	INSTR_TIME_SET_CURRENT(took);
	INSTR_TIME_SUBTRACT(took, start);

	why = fill_unstorable(fill, tracked, as_of, &reason);
	if (why == NULL)
		why = validity_key_storable(skey->name.data, skey->name.len, tracked,
									as_of, &reason);
	if (why == NULL)
	{
		if (before_store == NULL)
			before_store = find_rendezvous_variable("cacheaside_before_store");
		if (*before_store != NULL)
			((cache_before_store_function) *before_store) (skey->name.data);
		call->not_stored = cache_store(skey, fingerprint, &result, fill,
									   tracked, as_of,
									   (uint32) Min(INSTR_TIME_GET_MICROSEC(took),
													PG_UINT32_MAX),
									   ttl, &bytes);
		call->bytes_written += bytes;
		*stored = (call->not_stored == REASON_NONE);
	}
	else
	{
		call->not_stored = reason;
		elog(DEBUG1, "cacheaside: not caching \"%s\": %s",
			 skey->name.data, why);
	}
	return result.json;
}

/*
 * Was a result not stored for a reason every session calling the same
 * entry would meet?  Then sessions that miss it stop waiting for each
 * other's fills (flight.c).
 */
static inline bool
cache_reason_unstorable(CacheReason reason)
{
	return reason == REASON_ROW_SECURITY || reason == REASON_UNCACHEABLE ||
		reason == REASON_TOO_LARGE;
}

/*
 * The same, as the one filler of the entry named by hash: its waiters
 * learn the outcome, also when the fill fails.
 */
static text *
cache_fill_shared(uint64 hash, const StoreKey *skey, const uint8 *fingerprint,
				  text *sqltext, int ttl, QueryParams *params,
				  CallStats *call)
{
	text	   *volatile json = NULL;
	volatile bool stored = false;

	PG_TRY();
	{
		bool		s;

		json = cache_fill(skey, fingerprint, sqltext, ttl, params, call, &s);
		stored = s;
	}
	PG_CATCH();
	{
		flight_end(hash, false);
		PG_RE_THROW();
	}
	PG_END_TRY();
	flight_end(hash, stored);
	flight_outcome(hash, stored, cache_reason_unstorable(call->not_stored));
	return json;
}

/*
 * Probabilistic early expiration (Vattani, Chierichetti and Lowenstein,
 * "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015): refresh
 * an entry before it expires with a probability that grows as the expiry
 * nears and with how long its query took, -delta * beta * ln(U) >= the
 * time left, for U uniform in (0, 1].  One of the callers of a hot entry
 * refreshes it shortly before it expires; the others keep hitting.  The
 * expiry is reckoned from the entry (its creation and the TTL it was
 * stored with), not asked of Redis: cache_set_ttl does not move it.
 *
 * The first caller to refresh does so about delta * beta * ln(calls in
 * that time) before the expiry: under a heavy load, where the query takes
 * long and calls are many, that is long before it, and entries would be
 * refreshed over and over.  So only the last quarter of an entry's life
 * (since it was stored) is considered: at most one refresh per
 * three-quarter lifetime, whatever the load.
 */
static bool
cache_refresh_early(const CacheEntry *entry)
{
	double		u;
	int64		age_ms;
	int64		ttl_ms;

	if (entry->compute_us == 0 || entry->ttl == 0)
		return false;
	age_ms = (GetCurrentTimestamp() - entry->created) / 1000;
	ttl_ms = (int64) entry->ttl * 1000 - age_ms;
	if (ttl_ms * 3 > age_ms)
		return false;			/* not in the last quarter of its life */
	if (ttl_ms < 0)
		ttl_ms = 0;
	u = 1.0 - pg_prng_double(&pg_global_prng_state);	/* (0, 1] */
	return -(entry->compute_us / 1000.0) * cacheaside_early_refresh * log(u) >=
		(double) ttl_ms;
}

/*
 * Look the entry up; when it is of this computation and may be served in
 * this transaction, return its JSON (a hit), with *refresh telling whether
 * this caller should refresh it early.  Else NULL, with in *call why an
 * entry found was not served; *found tells whether Redis could be used.
 */
static text *
cache_lookup(const StoreKey *skey, const uint8 *fingerprint, TrackMode mode,
			 CallStats *call, StoreReadResult *found, bool *refresh)
{
	CacheEntry	entry;
	const char *why;
	CacheReason reason;
	size_t		bytes;
	bool		local;

	*refresh = false;
	*found = store_read(skey, STORE_FAIL_OPEN, &entry, &bytes, &local);
	call->bytes_read += bytes;
	if (*found != STORE_FOUND ||
		memcmp(entry.fingerprint, fingerprint, FINGERPRINT_LEN) != 0)
		return NULL;
	why = validity_servable(&entry, skey->name.data, skey->name.len, mode,
							&reason);
	if (why != NULL)
	{
		call->not_served = reason;
		elog(DEBUG1, "cacheaside: not serving \"%s\": %s",
			 skey->name.data, why);
		return NULL;
	}
	/* a query being cached around this call read these too */
	fill_add_hit(&entry, mode == TRACK_ON);
	call->hit = true;
	call->local_hit = local;
	call->not_served = REASON_NONE;	/* an earlier look of this call */
	if (cacheaside_early_refresh > 0)
		*refresh = cache_refresh_early(&entry);
	return entry_payload_text(&entry);
}

/*
 * The name of an entry among fills in progress: its Redis key and the
 * fingerprint of its computation.
 */
static uint64
cache_flight_hash(const StoreKey *skey, const uint8 *fingerprint)
{
	uint64		seed;

	memcpy(&seed, fingerprint, sizeof(seed));
	return hash_bytes_extended((const unsigned char *) skey->name.data,
							   skey->name.len, seed);
}

/*
 * Run the query without the cache (disabled, or Redis unavailable), with
 * in *call why nothing was stored.  Inside a query being cached,
 * everything it runs is recorded.
 */
static text *
cache_run_uncached(text *sqltext, QueryParams *params, CacheReason why,
				   CallStats *call)
{
	QueryResult result;

	call->not_stored = why;
	query_run_json(text_to_cstring(sqltext), params, !fill_active(), &result);
	return result.json;
}

/*
 * One call: hit or miss.  Fills in *call what cache_stats counts.
 *
 * On a miss, sessions that miss the same entry at once agree on one of
 * them to run the query (flight.c); the others wait for it, at most
 * cacheaside.fill_wait, and then look the entry up again.  Transactions
 * that have written neither fill for others nor wait (their results are
 * seldom storable, and they may hold locks a filler needs), nor do calls
 * inside a query being cached (two fills could wait for each other) or
 * serializable transactions (never served an entry) wait.
 */
static text *
cache_call(text *key, text *sqltext, int ttl, QueryParams *params,
		   CallStats *call)
{
	uint8		fingerprint[FINGERPRINT_LEN];
	StoreKey	skey;
	StoreReadResult found;
	TrackMode	mode;
	text	   *json;
	bool		stored;
	bool		refresh;
	bool		writing = TransactionIdIsValid(GetTopTransactionIdIfAny());
	bool		shared = flight_enabled() && !writing;
	uint64		hash = 0;

	/*
	 * In a parallel worker (through a function marked PARALLEL SAFE that
	 * calls this one): the worker sees its leader's transaction, with its
	 * uncommitted rows, but neither the locks that tell what the leader
	 * wrote nor its catalog changes.  Nothing is served or stored there.
	 */
	if (IsParallelWorker())
		return cache_run_uncached(sqltext, params, REASON_UNCACHEABLE, call);

	/* Disabled, or Redis known to be down: just run the query */
	if (!cacheaside_enabled || cacheaside_max_value_bytes == 0 ||
		store_backing_off())
		return cache_run_uncached(sqltext, params,
								  cacheaside_enabled && cacheaside_max_value_bytes > 0 ?
								  REASON_UNAVAILABLE : REASON_DISABLED,
								  call);

	mode = validity_mode();
	fingerprint_compute(VARDATA_ANY(sqltext), VARSIZE_ANY_EXHDR(sqltext),
						params, fingerprint);
	store_key_init(&skey, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));

	json = cache_lookup(&skey, fingerprint, mode, call, &found, &refresh);
	if (json != NULL && !refresh)
		return json;
	if (json != NULL)
	{
		/*
		 * Refresh early: by one caller at a time (any other serves the hit);
		 * not in a transaction that wrote, whose result is seldom storable.
		 */
		if (writing)
			return json;
		if (shared)
		{
			hash = cache_flight_hash(&skey, fingerprint);
			if (flight_begin(hash, 0, &stored, &call->wait_ms) != FLIGHT_FILLER)
				return json;
		}
		call->hit = false;
		call->local_hit = false;
		call->early_refresh = true;
		if (shared)
			return cache_fill_shared(hash, &skey, fingerprint, sqltext, ttl,
									 params, call);
		return cache_fill(&skey, fingerprint, sqltext, ttl, params, call,
						  &stored);
	}

	/* after a failed lookup, do not make the call wait on Redis twice */
	if (found == STORE_UNAVAILABLE)
		return cache_run_uncached(sqltext, params, REASON_UNAVAILABLE, call);

	if (shared)
		hash = cache_flight_hash(&skey, fingerprint);
	if (cacheaside_fill_wait > 0 && shared)
	{
		bool		may_wait = !fill_active() && !IsolationIsSerializable();
		FlightRole	role;

		role = flight_begin(hash, may_wait ? cacheaside_fill_wait : 0,
							&stored, &call->wait_ms);
		if (role == FLIGHT_FILLER)
			return cache_fill_shared(hash, &skey, fingerprint, sqltext, ttl,
									 params, call);
		if (role == FLIGHT_WAITED)
		{
			call->waited = true;
			if (stored)
			{
				json = cache_lookup(&skey, fingerprint, mode, call, &found,
									&refresh);
				if (json != NULL)
					return json;
			}
			/* not stored, not for us, or the wait ended: run it ourselves */
			if (found == STORE_UNAVAILABLE)
				return cache_run_uncached(sqltext, params, REASON_UNAVAILABLE,
										  call);
		}
	}
	json = cache_fill(&skey, fingerprint, sqltext, ttl, params, call, &stored);
	if (shared)
		flight_outcome(hash, stored, cache_reason_unstorable(call->not_stored));
	return json;
}

/*
 * The body of both SQL-callable variants: the arguments, then the call,
 * then its statistics.
 */
static Datum
cache_aside_query_common(FunctionCallInfo fcinfo, QueryParams *params)
{
	text	   *key;
	text	   *sqltext;
	int			ttl;
	Oid			userid = GetUserId();
	CallStats	call;
	instr_time	start;
	instr_time	duration;
	text	   *json;

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

	memset(&call, 0, sizeof(call));
	INSTR_TIME_SET_CURRENT(start);
	json = cache_call(key, sqltext, ttl, params, &call);
	if (stats_enabled())
	{
		INSTR_TIME_SET_CURRENT(duration);
		INSTR_TIME_SUBTRACT(duration, start);
		stats_record(userid, VARDATA_ANY(sqltext), VARSIZE_ANY_EXHDR(sqltext),
					 &call, INSTR_TIME_GET_MILLISEC(duration));
	}
	PG_RETURN_TEXT_P(json);
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
