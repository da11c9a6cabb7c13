/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Statistics of cache_aside_query calls in shared memory: what
 *	  cache_stats shows.
 *
 * One row per database, role and SQL text, in a hash table of at most
 * cacheaside.stats_max rows in shared memory (so only with the library
 * preloaded).  A row counts calls, hits and misses, stores, the misses
 * that were not stored and the entries found but not served, each by
 * reason (reason.h), waits for another session's fill, early refreshes,
 * time spent in hits and misses, bytes read from and written to Redis,
 * and (since 1.3) the hits served from the near-cache and their time.  Every call adds to exactly one row when it returns: hits +
 * misses = calls, and stores + the misses not stored = misses.
 *
 * The SQL text is kept up to STATS_SQL_MAX bytes; the row is keyed by a
 * hash of the whole text.  When the table is full, the least-used rows
 * (calls, decayed at each eviction) make room, STATS_EVICT_PERCENT at a
 * time.
 *
 * Note about locking.  The table is protected by one LWLock: shared to
 * find a row and add to its counters (each row has a spinlock for those),
 * exclusive to add a row, evict and reset.  A call takes the lock shared
 * once, and exclusive only the first time its row is seen.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_authid.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "config.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(cache_stats);
PG_FUNCTION_INFO_V1(cache_stats_reset);

/* Bytes of SQL text kept per row */
#define STATS_SQL_MAX			1024

/* Share of the rows evicted when the table is full, and the usage decay */
#define STATS_EVICT_PERCENT		5
#define STATS_USAGE_DECAY		0.99

#define STATS_LOCK_TRANCHE		"cacheaside stats"

typedef struct StatsKey
{
	Oid			userid;
	Oid			dbid;
	uint64		sqlhash;
} StatsKey;

typedef struct StatsCounters
{
	int64		calls;
	int64		hits;
	int64		misses;
	int64		stores;
	int64		not_served[REASON_COUNT];
	int64		not_stored[REASON_COUNT];
	int64		waits;
	double		wait_time;		/* ms */
	int64		early_refreshes;
	double		hit_time;		/* ms, in all */
	int64		local_hits;		/* hits served from the near-cache */
	double		local_hit_time; /* ms, in all */
	double		miss_time;		/* ms, in all */
	int64		bytes_read;
	int64		bytes_written;
	double		usage;			/* for eviction */
} StatsCounters;

typedef struct StatsEntry
{
	StatsKey	key;			/* hash key: first */
	slock_t		mutex;			/* protects counters */
	StatsCounters counters;
	int			encoding;		/* of sql: its database's */
	int			sqllen;
	char		sql[STATS_SQL_MAX];
} StatsEntry;

typedef struct StatsShared
{
	LWLock	   *lock;			/* protects the hash table */
	TimestampTz reset_time;		/* under lock */
	int64		evictions;		/* under lock */
	uint64		removals;		/* under lock: bumped when rows are removed */
} StatsShared;

static StatsShared *stats_shared = NULL;
static HTAB *stats_hash = NULL;

/* The row this backend added its last call to (stats_record) */
static struct
{
	StatsKey	key;
	StatsEntry *entry;			/* NULL: none */
	uint64		removals;		/* stats_shared->removals then */
}			last_row;


/* ----------------------------------------------------------------
 * Shared memory
 * ----------------------------------------------------------------
 */

Size
stats_shmem_size(void)
{
	if (cacheaside_stats_max == 0)
		return 0;
	return add_size(MAXALIGN(sizeof(StatsShared)),
					hash_estimate_size(cacheaside_stats_max,
									   sizeof(StatsEntry)));
}

/* From the shared memory request hook: the table's lock */
void
stats_shmem_request(void)
{
	if (cacheaside_stats_max > 0)
		RequestNamedLWLockTranche(STATS_LOCK_TRANCHE, 1);
}

/*
 * Attach to the table, making it at the first start.  Called with
 * AddinShmemInitLock held.
 */
void
stats_shmem_init(void)
{
	HASHCTL		info;
	bool		found;

	if (cacheaside_stats_max == 0)
		return;
	stats_shared = ShmemInitStruct("cacheaside stats",
								   sizeof(StatsShared), &found);
	if (!found)
	{
		stats_shared->lock = &(GetNamedLWLockTranche(STATS_LOCK_TRANCHE))->lock;
		stats_shared->reset_time = GetCurrentTimestamp();
		stats_shared->evictions = 0;
		stats_shared->removals = 0;
	}
	info.keysize = sizeof(StatsKey);
	info.entrysize = sizeof(StatsEntry);
	stats_hash = ShmemInitHash("cacheaside stats hash",
							   cacheaside_stats_max, cacheaside_stats_max,
							   &info, HASH_ELEM | HASH_BLOBS);
}

/*
 * Are statistics kept?  With the library preloaded and stats_max above 0.
 */
bool
stats_enabled(void)
{
	return stats_shared != NULL;
}

/* The reason for statistics not to be there, as an error */
static void
stats_check_enabled(void)
{
	if (stats_shared != NULL)
		return;
	if (cacheaside_stats_max != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cacheaside statistics need cacheaside in shared_preload_libraries"),
				 errdetail("They are kept in shared memory, which only a preloaded library can have."),
				 errhint("Add cacheaside to shared_preload_libraries and restart the server.")));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cacheaside statistics are off"),
			 errdetail("cacheaside.stats_max is 0."),
			 errhint("Set cacheaside.stats_max above 0, with cacheaside in shared_preload_libraries, and restart the server.")));
}


/* ----------------------------------------------------------------
 * Rows
 * ----------------------------------------------------------------
 */

static int
usage_cmp(const void *a, const void *b)
{
	double		x = (*(StatsEntry *const *) a)->counters.usage;
	double		y = (*(StatsEntry *const *) b)->counters.usage;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Make room: remove the least-used rows, and decay the usage of the
 * others.  Called with the lock held exclusive.
 */
static void
stats_evict(void)
{
	HASH_SEQ_STATUS seq;
	StatsEntry **rows;
	StatsEntry *entry;
	int			n = 0;
	int			nevict;

	rows = palloc(sizeof(StatsEntry *) * hash_get_num_entries(stats_hash));
	hash_seq_init(&seq, stats_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		rows[n++] = entry;
		entry->counters.usage *= STATS_USAGE_DECAY;
	}
	qsort(rows, n, sizeof(StatsEntry *), usage_cmp);
	nevict = Max(1, n * STATS_EVICT_PERCENT / 100);
	for (int i = 0; i < Min(nevict, n); i++)
		hash_search(stats_hash, &rows[i]->key, HASH_REMOVE, NULL);
	stats_shared->evictions++;
	stats_shared->removals++;
	pfree(rows);
}

/*
 * The hash of a call's SQL text.  A session mostly repeats the same text:
 * the last one's hash is kept, and the text compared instead of hashed.
 */
#define STATS_LAST_SQL_MAX	8192

static uint64
stats_sql_hash(const char *sql, size_t sqllen)
{
	static char *last_sql = NULL;
	static size_t last_len = 0;
	static uint64 last_hash = 0;
	uint64		hash;

	if (last_sql != NULL && sqllen == last_len &&
		memcmp(sql, last_sql, sqllen) == 0)
		return last_hash;
	hash = hash_bytes_extended((const unsigned char *) sql, (int) sqllen, 0);
	if (sqllen <= STATS_LAST_SQL_MAX)
	{
		if (last_sql == NULL)
			last_sql = MemoryContextAlloc(TopMemoryContext,
										  STATS_LAST_SQL_MAX);
		memcpy(last_sql, sql, sqllen);
		last_len = sqllen;
		last_hash = hash;
	}
	return hash;
}

/*
 * Add one call to the row of (userid, this database, sql).
 */
void
stats_record(Oid userid, const char *sql, size_t sqllen,
			 const CallStats *call, double elapsed_ms)
{
	StatsKey	key;
	StatsEntry *entry;
	StatsCounters *c;

	if (stats_shared == NULL)
		return;

	memset(&key, 0, sizeof(key));
	key.userid = userid;
	key.dbid = MyDatabaseId;
	key.sqlhash = stats_sql_hash(sql, sqllen);

	LWLockAcquire(stats_shared->lock, LW_SHARED);

	/*
	 * The row of this backend's last call, while no row has been removed
	 * since (rows do not move in the hash table otherwise): a session
	 * usually repeats the same calls.
	 */
	if (last_row.entry != NULL &&
		last_row.removals == stats_shared->removals &&
		memcmp(&last_row.key, &key, sizeof(key)) == 0)
		entry = last_row.entry;
	else
		entry = hash_search(stats_hash, &key, HASH_FIND, NULL);
	if (entry == NULL)
	{
		bool		found;

		/* a new row: the lock must be exclusive */
		LWLockRelease(stats_shared->lock);
		LWLockAcquire(stats_shared->lock, LW_EXCLUSIVE);
		if (hash_get_num_entries(stats_hash) >= cacheaside_stats_max &&
			hash_search(stats_hash, &key, HASH_FIND, NULL) == NULL)
			stats_evict();
		entry = hash_search(stats_hash, &key, HASH_ENTER, &found);
		if (!found)
		{
			SpinLockInit(&entry->mutex);
			memset(&entry->counters, 0, sizeof(entry->counters));
			/* cut on a character boundary */
			entry->encoding = GetDatabaseEncoding();
			entry->sqllen = pg_mbcliplen(sql, (int) Min(sqllen, INT_MAX),
										 STATS_SQL_MAX);
			memcpy(entry->sql, sql, entry->sqllen);
		}
	}

	last_row.key = key;
	last_row.entry = entry;
	last_row.removals = stats_shared->removals;

	SpinLockAcquire(&entry->mutex);
	c = &entry->counters;
	c->calls++;
	c->usage += 1.0;
	if (call->hit)
	{
		c->hits++;
		c->hit_time += elapsed_ms;
		if (call->local_hit)
		{
			c->local_hits++;
			c->local_hit_time += elapsed_ms;
		}
	}
	else
	{
		c->misses++;
		c->miss_time += elapsed_ms;
		if (call->not_stored == REASON_NONE)
			c->stores++;
		else
			c->not_stored[call->not_stored]++;
	}
	if (call->not_served != REASON_NONE)
		c->not_served[call->not_served]++;
	if (call->waited)
	{
		c->waits++;
		c->wait_time += call->wait_ms;
	}
	if (call->early_refresh)
		c->early_refreshes++;
	c->bytes_read += (int64) call->bytes_read;
	c->bytes_written += (int64) call->bytes_written;
	SpinLockRelease(&entry->mutex);

	LWLockRelease(stats_shared->lock);
}


/* ----------------------------------------------------------------
 * SQL functions
 * ----------------------------------------------------------------
 */

/* The reasons cache_stats shows, in the order of its columns */
static const CacheReason not_served_columns[] = {
	REASON_CHANGED, REASON_OWN_WRITES, REASON_SNAPSHOT, REASON_PRIVILEGES,
	REASON_ROW_SECURITY
};
static const CacheReason not_stored_columns[] = {
	REASON_CHANGED, REASON_OWN_WRITES, REASON_SNAPSHOT, REASON_PRIVILEGES,
	REASON_ROW_SECURITY, REASON_TOO_LARGE, REASON_UNCACHEABLE,
	REASON_UNAVAILABLE, REASON_DISABLED
};

/* the columns of version 1.2, then those 1.3 appended (near-cache) */
#define STATS_COLUMNS_1_2	(3 + 4 + lengthof(not_served_columns) + \
							 lengthof(not_stored_columns) + 9)
#define STATS_COLUMNS		(STATS_COLUMNS_1_2 + 2)

/*
 * cache_stats(OUT ...) RETURNS SETOF record: one row per database, role
 * and SQL text.  The SQL text of other roles' rows is shown only to roles
 * with the privileges of pg_read_all_stats.
 */
Datum
cache_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			userid = GetUserId();
	bool		read_all = has_privs_of_role(userid, ROLE_PG_READ_ALL_STATS);
	HASH_SEQ_STATUS seq;
	StatsEntry *entry;
	int			natts;

	stats_check_enabled();
	InitMaterializedSRF(fcinfo, 0);
	natts = rsinfo->setDesc->natts;
	if (natts != STATS_COLUMNS && natts != STATS_COLUMNS_1_2)
		elog(ERROR, "cache_stats returns %d columns, expected %d: update the extension",
			 natts, (int) STATS_COLUMNS);

	LWLockAcquire(stats_shared->lock, LW_SHARED);
	hash_seq_init(&seq, stats_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		Datum		values[STATS_COLUMNS];
		bool		nulls[STATS_COLUMNS];
		StatsCounters c;
		int			i = 0;

		memset(nulls, 0, sizeof(nulls));
		SpinLockAcquire(&entry->mutex);
		c = entry->counters;
		SpinLockRelease(&entry->mutex);

		values[i++] = ObjectIdGetDatum(entry->key.userid);
		values[i++] = ObjectIdGetDatum(entry->key.dbid);
		if (read_all || entry->key.userid == userid)
		{
			/* in the encoding of this database, as pg_stat_statements */
			char	   *sql = pg_any_to_server(entry->sql, entry->sqllen,
											   entry->encoding);

			values[i++] = PointerGetDatum(cstring_to_text_with_len(sql,
																   sql == entry->sql ? entry->sqllen : (int) strlen(sql)));
			if (sql != entry->sql)
				pfree(sql);
		}
		else
			values[i++] = CStringGetTextDatum("<insufficient privilege>");
		values[i++] = Int64GetDatum(c.calls);
		values[i++] = Int64GetDatum(c.hits);
		values[i++] = Int64GetDatum(c.misses);
		values[i++] = Int64GetDatum(c.stores);
		for (size_t r = 0; r < lengthof(not_served_columns); r++)
			values[i++] = Int64GetDatum(c.not_served[not_served_columns[r]]);
		for (size_t r = 0; r < lengthof(not_stored_columns); r++)
			values[i++] = Int64GetDatum(c.not_stored[not_stored_columns[r]]);
		values[i++] = Int64GetDatum(c.waits);
		values[i++] = Float8GetDatum(c.wait_time);
		values[i++] = Int64GetDatum(c.early_refreshes);
		values[i++] = Float8GetDatum(c.hit_time);
		values[i++] = Float8GetDatum(c.hits > 0 ? c.hit_time / c.hits : 0.0);
		values[i++] = Float8GetDatum(c.miss_time);
		values[i++] = Float8GetDatum(c.misses > 0 ? c.miss_time / c.misses : 0.0);
		values[i++] = Int64GetDatum(c.bytes_read);
		values[i++] = Int64GetDatum(c.bytes_written);
		Assert(i == STATS_COLUMNS_1_2);
		if (natts == STATS_COLUMNS)
		{
			values[i++] = Int64GetDatum(c.local_hits);
			values[i++] = Float8GetDatum(c.local_hits > 0 ?
										 c.local_hit_time / c.local_hits : 0.0);
		}
		Assert(i == natts);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(stats_shared->lock);
	return (Datum) 0;
}

/*
 * cache_stats_reset() RETURNS void: forget every row.
 */
Datum
cache_stats_reset(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS seq;
	StatsEntry *entry;

	stats_check_enabled();
	LWLockAcquire(stats_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, stats_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
		hash_search(stats_hash, &entry->key, HASH_REMOVE, NULL);
	stats_shared->reset_time = GetCurrentTimestamp();
	stats_shared->evictions = 0;
	stats_shared->removals++;
	LWLockRelease(stats_shared->lock);
	PG_RETURN_VOID();
}
