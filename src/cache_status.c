/*-------------------------------------------------------------------------
 *
 * cache_status.c
 *	  cache_status(): the state of cacheaside in this backend and server.
 *
 * One row: whether the library is preloaded, this backend's connection to
 * Redis (connected, not connected, or backing off after a failure, and
 * until when), the version Redis reports (asked with INFO, which fails
 * open like a lookup: NULL when Redis cannot be reached), the fills in
 * progress in the cluster, the commit ledger's epoch and sequence
 * number (NULL without preloading), and (since 1.3) the near-cache: on or
 * off, its entries, bytes and capacity, and when its tracker was last in
 * step with Redis.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "flight.h"
#include "ledger.h"
#include "nearcache.h"
#include "redis.h"
#include "stats.h"
#include "store.h"

PG_FUNCTION_INFO_V1(cache_status);

/* the columns of version 1.2, then those 1.3 appended (near-cache) */
#define STATUS_COLUMNS_1_2	8
#define STATUS_COLUMNS		13

/* A uint64 as numeric (bigint cannot hold the top half) */
static Datum
uint64_numeric(uint64 value)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), UINT64_FORMAT, value);
	return DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/*
 * cache_status(OUT preloaded boolean, OUT connection text,
 *				OUT retry_at timestamptz, OUT redis_version text,
 *				OUT statistics boolean, OUT fills_in_progress integer,
 *				OUT epoch numeric, OUT commit_sequence numeric,
 *				OUT local_cache boolean, OUT local_cache_entries bigint,
 *				OUT local_cache_bytes bigint, OUT local_cache_capacity bigint,
 *				OUT local_cache_synced timestamptz)
 *		RETURNS record
 */
Datum
cache_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[STATUS_COLUMNS];
	bool		nulls[STATUS_COLUMNS];
	char	   *version;
	TimestampTz retry_at;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != STATUS_COLUMNS &&
		tupdesc->natts != STATUS_COLUMNS_1_2)
		elog(ERROR, "cache_status returns %d columns, expected %d: update the extension",
			 tupdesc->natts, STATUS_COLUMNS);
	memset(nulls, 0, sizeof(nulls));

	version = store_server_version();
	retry_at = store_retry_at();

	values[0] = BoolGetDatum(ledger_attached());
	if (redis_ready())
		values[1] = CStringGetTextDatum("connected");
	else if (retry_at != 0)
		values[1] = CStringGetTextDatum("backing off");
	else
		values[1] = CStringGetTextDatum("not connected");
	values[2] = TimestampTzGetDatum(retry_at);
	nulls[2] = (retry_at == 0);
	values[3] = version ? CStringGetTextDatum(version) : (Datum) 0;
	nulls[3] = (version == NULL);
	values[4] = BoolGetDatum(stats_enabled());
	values[5] = Int32GetDatum(flight_in_progress());
	nulls[5] = (flight_in_progress() < 0);
	if (ledger_attached())
	{
		values[6] = uint64_numeric(ledger_epoch());
		values[7] = uint64_numeric(ledger_sequence());
	}
	else
		nulls[6] = nulls[7] = true;
	if (tupdesc->natts == STATUS_COLUMNS)
	{
		NearCacheStatus near;

		nearcache_status(&near);
		values[8] = BoolGetDatum(near.on);
		values[9] = Int64GetDatum(near.entries);
		values[10] = Int64GetDatum(near.bytes);
		values[11] = Int64GetDatum(near.capacity);
		values[12] = TimestampTzGetDatum(near.synced);
		nulls[9] = nulls[10] = nulls[11] = !near.on;
		nulls[12] = (near.synced == 0);
	}

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
