/*-------------------------------------------------------------------------
 *
 * cache_admin.c
 *	  cache_invalidate(), cache_get_ttl(), cache_set_ttl() and
 *	  cache_dependencies().
 *
 * These act on Redis on the caller's explicit request, so they do not fail
 * open: if Redis cannot be reached they raise an error (SQLSTATE 08006)
 * instead of pretending that an entry was removed.  They also ignore
 * cacheaside.enabled, which only makes cache_aside_query bypass the cache:
 * a session that bypasses the cache must still be able to invalidate what
 * its writes made stale.
 *
 * cache_invalidate inside a transaction that may write (a transaction
 * block, or one that has written) removes the entries at once and again
 * once the transaction has committed, before COMMIT returns: a concurrent
 * call that missed in between and stored rows read before the commit
 * cannot leave them behind.  That second pass cannot fail the committed
 * transaction; if Redis fails then, it is reported as a WARNING.  Such a
 * transaction cannot be prepared for two-phase commit, because COMMIT
 * PREPARED would not repeat it.
 *
 * Removing is not all: with the library preloaded, each invalidation is
 * also recorded in shared memory at the call and at commit
 * (invalidations.c), so that rows a fill read before the commit and
 * stored after the second removal are not served either.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "cache_admin.h"
#include "config.h"
#include "entry.h"
#include "invalidations.h"
#include "keyspace.h"
#include "store.h"
#include "validity.h"

PG_FUNCTION_INFO_V1(cache_invalidate);
PG_FUNCTION_INFO_V1(cache_get_ttl);
PG_FUNCTION_INFO_V1(cache_set_ttl);
PG_FUNCTION_INFO_V1(cache_dependencies);

/* Patterns with glob characters repeated after commit, per transaction */
#define MAX_COMMIT_PATTERNS	64

/*
 * One invalidation to repeat at commit, in TopTransactionContext.  What it
 * names is resolved at the call: the Redis key, or the MATCH pattern, made
 * with the key_prefix then in effect, and the Redis server it was removed
 * from.  A SET LOCAL of a connection setting, or a function's SET clause,
 * that ends before COMMIT must not send the repeat elsewhere.
 */
typedef struct CommitInvalidation
{
	bool		glob;			/* a MATCH pattern, else a key */
	char	   *server;			/* redis_server_at_call() */
	text	   *name;			/* the Redis key or MATCH pattern */
} CommitInvalidation;

/* What to remove again at commit: a List of CommitInvalidation */
static List *commit_patterns = NIL;

static bool pattern_is_key(const text *pattern);

/*
 * The settings that say which Redis server (and database) the session
 * uses, as one string: where the removal at the call went.
 */
static char *
redis_server_at_call(void)
{
	return psprintf("%s\n%d\n%d\n%s\n%s", cacheaside_host, cacheaside_port,
					cacheaside_database, cacheaside_sentinels,
					cacheaside_sentinel_master);
}

/*
 * The functions that change what Redis holds are PARALLEL UNSAFE; a
 * function marked PARALLEL SAFE can still call them in a parallel worker,
 * whose end is not its transaction's commit (cache_invalidate's repeat
 * after commit would come too early).
 */
static void
refuse_in_parallel_worker(const char *function)
{
	if (IsParallelWorker())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("%s cannot run in a parallel worker", function),
				 errhint("Mark the functions that call it PARALLEL UNSAFE.")));
}

/*
 * cache_invalidate(pattern text) RETURNS bigint
 */
Datum
cache_invalidate(PG_FUNCTION_ARGS)
{
	text	   *pattern = PG_GETARG_TEXT_PP(0);
	int64		removed;
	bool		at_commit = IsTransactionBlock() ||
		TransactionIdIsValid(GetTopTransactionIdIfAny());
	bool		glob = !pattern_is_key(pattern);
	StringInfoData name;

	refuse_in_parallel_worker("cache_invalidate");

	/* the Redis key, or the MATCH pattern, under the current prefix */
	initStringInfo(&name);
	if (glob)
		keyspace_entry_pattern(&name, VARDATA_ANY(pattern),
							   VARSIZE_ANY_EXHDR(pattern));
	else
		keyspace_entry_key(&name, VARDATA_ANY(pattern),
						   VARSIZE_ANY_EXHDR(pattern));

	/* a key named outright is one UNLINK; a glob scans the namespace */
	if (glob)
		removed = store_remove_matching(name.data, name.len);
	else
		removed = store_remove_keys(list_make1(cstring_to_text_with_len(name.data,
																		 name.len)));

	/*
	 * To be repeated after commit: keys named outright (removed together,
	 * in one UNLINK), and each distinct glob, as resolved now.
	 */
	if (at_commit)
	{
		ListCell   *lc;
		bool		known = false;
		int			nglobs = 0;
		char	   *server = redis_server_at_call();

		if (glob)
		{
			foreach(lc, commit_patterns)
			{
				CommitInvalidation *ci = lfirst(lc);

				if (!ci->glob)
					continue;
				nglobs++;
				if (VARSIZE_ANY_EXHDR(ci->name) == (size_t) name.len &&
					memcmp(VARDATA_ANY(ci->name), name.data, name.len) == 0 &&
					strcmp(ci->server, server) == 0)
					known = true;
			}
		}

		/*
		 * Each glob is one SCAN of the namespace at commit, which cannot be
		 * interrupted there: a transaction gets a bounded number of them.
		 */
		if (!known && glob && nglobs >= MAX_COMMIT_PATTERNS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many cache_invalidate() patterns in one transaction"),
					 errdetail("A transaction can use at most %d different patterns with glob characters; each is repeated after commit.",
							   MAX_COMMIT_PATTERNS),
					 errhint("Use one broader pattern, or keys without glob characters, which have no limit.")));
		if (!known)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);
			CommitInvalidation *ci = palloc(sizeof(CommitInvalidation));

			ci->glob = glob;
			ci->server = pstrdup(server);
			ci->name = cstring_to_text_with_len(name.data, name.len);
			commit_patterns = lappend(commit_patterns, ci);
			MemoryContextSwitchTo(oldcxt);
		}
		pfree(server);
	}

	/*
	 * Recorded in shared memory too, now and at commit: what a fill that
	 * began before stores after the removal is not served
	 * (invalidations.c).
	 */
	invalidations_note(name.data, name.len, glob, at_commit);
	pfree(name.data);

	PG_RETURN_INT64(removed);
}

/*
 * cache_dependencies(key text)
 *		RETURNS TABLE (relation regclass, changed boolean)
 *
 * The relations the query of the entry under key read, whatever query made
 * it, and whether a commit has written each since (NULL when that is not
 * known: an entry made where writes were not tracked, or a session that
 * cannot check).  No rows when there is no valid entry.
 */
Datum
cache_dependencies(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *key = PG_GETARG_TEXT_PP(0);
	StoreKey	skey;
	CacheEntry	entry;
	size_t		bytes;
	bool		local;
	bool		checkable;

	InitMaterializedSRF(fcinfo, 0);

	store_key_init(&skey, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	if (store_read(&skey, STORE_FAIL_ERROR, &entry, &bytes, &local) !=
		STORE_FOUND)
		PG_RETURN_NULL();		/* no valid entry */

	checkable = (entry.flags & ENTRY_TRACKED) && validity_writes_tracked();
	for (int i = 0; i < entry.nrelations; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = ObjectIdGetDatum(entry.relations[i]);
		if (checkable)
			values[1] = BoolGetDatum(validity_relation_changed(entry.relations[i],
															entry.epoch,
															entry.as_of));
		else
			nulls[1] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

/*
 * A pattern without glob characters (and without escapes) names one key.
 */
static bool
pattern_is_key(const text *pattern)
{
	const char *p = VARDATA_ANY(pattern);
	size_t		len = VARSIZE_ANY_EXHDR(pattern);

	for (size_t i = 0; i < len; i++)
		if (p[i] == '*' || p[i] == '?' || p[i] == '[' || p[i] == '\\')
			return false;
	return true;
}

/*
 * Remove again the keys this transaction named outright on server,
 * together.
 */
static void
unlink_keys_again(const char *server)
{
	List	   *keys = NIL;
	ListCell   *lc;

	foreach(lc, commit_patterns)
	{
		CommitInvalidation *ci = lfirst(lc);

		if (!ci->glob && strcmp(ci->server, server) == 0)
			keys = lappend(keys, ci->name);
	}
	(void) store_remove_keys(keys);
	list_free(keys);
}

/*
 * Run one part of the repeat after commit.  The transaction is committed,
 * so nothing may raise an error here: a failure is a WARNING.  Interrupts
 * are held off by CommitTransaction; every Redis wait ends by
 * command_timeout.
 */
static bool
again_or_warn(CommitInvalidation *glob, const char *server)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		if (glob == NULL)
			unlink_keys_again(server);
		else
			(void) store_remove_matching(VARDATA_ANY(glob->name),
										 VARSIZE_ANY_EXHDR(glob->name));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("cache_invalidate() could not be repeated after commit: %s",
						edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 errhint("Entries stored while the transaction committed may be served until their TTL ends; call cache_invalidate() again.")));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * After commit: remove again what the patterns of this transaction
 * matched: the keys named outright together, then each glob with a SCAN.
 * Only those removed from the Redis server the session uses now can be:
 * the others (a connection setting changed since the call) are reported.
 */
static void
invalidate_again(void)
{
	ListCell   *lc;
	char	   *server = redis_server_at_call();
	bool		elsewhere = false;

	foreach(lc, commit_patterns)
		if (strcmp(((CommitInvalidation *) lfirst(lc))->server, server) != 0)
			elsewhere = true;
	if (elsewhere)
		ereport(WARNING,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("cache_invalidate() could not be repeated after commit: the Redis connection settings changed since it was called"),
				 errhint("Entries stored while the transaction committed may be served until their TTL ends; call cache_invalidate() again with the settings it was called with.")));

	/* after a failure Redis is backing off: one WARNING says it all */
	if (!again_or_warn(NULL, server))
		return;
	foreach(lc, commit_patterns)
	{
		CommitInvalidation *ci = lfirst(lc);

		if (ci->glob && strcmp(ci->server, server) == 0 &&
			!again_or_warn(ci, server))
			return;
	}
}

/*
 * Pre-prepare (from the transaction callback): a transaction whose
 * invalidations must be repeated after commit cannot be prepared.
 */
void
cache_admin_pre_prepare(void)
{
	/* two-phase commit disabled: PostgreSQL refuses PREPARE itself */
	if (commit_patterns != NIL && max_prepared_xacts > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot PREPARE a transaction that has called cache_invalidate()"),
				 errdetail("Its invalidations must be repeated after it commits, which COMMIT PREPARED cannot do."),
				 errhint("Call cache_invalidate() after COMMIT PREPARED instead.")));
}

/*
 * After commit (from the transaction callback): repeat this transaction's
 * invalidations.
 */
void
cache_admin_commit(void)
{
	if (commit_patterns != NIL)
		invalidate_again();
	commit_patterns = NIL;
}

/*
 * At abort or PREPARE (from the transaction callback): nothing to repeat.
 */
void
cache_admin_forget(void)
{
	commit_patterns = NIL;
}

/*
 * cache_get_ttl(key text) RETURNS integer
 *
 * Seconds the entry has left, or NULL when there is no entry: no key, or
 * another program's value under it.  An entry a commit made stale is still
 * an entry (not served, but in Redis until it expires or is replaced): its
 * TTL is reported.
 */
Datum
cache_get_ttl(PG_FUNCTION_ARGS)
{
	text	   *key = PG_GETARG_TEXT_PP(0);
	StoreKey	skey;
	int32		ttl;

	store_key_init(&skey, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	if (!store_get_ttl(&skey, &ttl))
		PG_RETURN_NULL();
	PG_RETURN_INT32(ttl);
}

/*
 * cache_set_ttl(key text, ttl integer) RETURNS boolean
 *
 * Give an existing entry a new time to live.  False when there is none,
 * or when the key holds another program's value, which is left as it is.
 */
Datum
cache_set_ttl(PG_FUNCTION_ARGS)
{
	text	   *key = PG_GETARG_TEXT_PP(0);
	int32		ttl = PG_GETARG_INT32(1);
	StoreKey	skey;

	refuse_in_parallel_worker("cache_set_ttl");
	if (ttl <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must be a positive number of seconds"),
				 errdetail("The ttl given was %d.", ttl),
				 errhint("Use cache_invalidate() to remove an entry.")));

	store_key_init(&skey, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	PG_RETURN_BOOL(store_set_ttl(&skey, ttl));
}
