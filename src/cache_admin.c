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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "cache_admin.h"
#include "cache_query.h"
#include "entry.h"
#include "keyspace.h"
#include "redis.h"
#include "track.h"

PG_FUNCTION_INFO_V1(cache_invalidate);
PG_FUNCTION_INFO_V1(cache_get_ttl);
PG_FUNCTION_INFO_V1(cache_set_ttl);
PG_FUNCTION_INFO_V1(cache_dependencies);

/* Keys asked for per SCAN call */
#define SCAN_COUNT		1000

/* Bound on the bytes of one SCAN (and UNLINK) round trip's replies */
#define SCAN_REPLY_LIMIT	(256 * 1024 * 1024)

/*
 * Start a request of one command on the entry under the caller's key;
 * nextra more arguments follow.
 */
static void
entry_command(RedisRequest *req, const char *command, text *key, int nextra)
{
	StringInfoData rkey;

	initStringInfo(&rkey);
	keyspace_entry_key(&rkey, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	redis_request_init(req);
	redis_command(req, 2 + nextra);
	redis_arg_str(req, command);
	redis_arg(req, rkey.data, rkey.len);
	pfree(rkey.data);
}

/* Patterns with glob characters repeated after commit, per transaction */
#define MAX_COMMIT_PATTERNS	64

/* Keys removed per UNLINK command after commit */
#define UNLINK_BATCH		1000

/* Patterns to remove again at commit (in TopTransactionContext) */
static List *commit_patterns = NIL;

static bool pattern_is_key(const text *pattern);

/*
 * Remove the entries whose keys match the Redis glob pattern.  The pattern
 * is appended to the literal namespace of this database's entries, so it
 * can reach nothing else.  SCAN pages are removed with UNLINK; the UNLINK
 * of one page travels in the same round trip as the SCAN of the next.
 * Returns the number of entries removed (each counted once, even if SCAN
 * returns it twice).
 */
static int64
invalidate_matching(const char *pattern, size_t patternlen)
{
	StringInfoData match;
	MemoryContext pagecxt[2];
	MemoryContext oldcxt;
	const char *cursor = "0";
	RedisReply *pending = NULL; /* keys of the last page, to UNLINK */
	int			npending = 0;
	int64		removed = 0;
	bool		done = false;

	initStringInfo(&match);
	keyspace_entry_pattern(&match, pattern, patternlen);

	/*
	 * Each round's replies live in one of two contexts, used in turn: the
	 * keys a round found are sent in the next round, after which the
	 * context is reset for the round after that.
	 */
	pagecxt[0] = AllocSetContextCreate(CurrentMemoryContext,
									   "cacheaside invalidate page",
									   ALLOCSET_DEFAULT_SIZES);
	pagecxt[1] = AllocSetContextCreate(CurrentMemoryContext,
									   "cacheaside invalidate page",
									   ALLOCSET_DEFAULT_SIZES);

	for (int round = 0; !done || npending > 0; round++)
	{
		RedisRequest req;
		RedisReply *replies;
		int			r = 0;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(pagecxt[round % 2]);
		oldcxt = MemoryContextSwitchTo(pagecxt[round % 2]);

		redis_request_init(&req);
		if (npending > 0)
		{
			redis_command(&req, 1 + npending);
			redis_arg_str(&req, "UNLINK");
			for (int i = 0; i < npending; i++)
				redis_arg(&req, pending[i].str, pending[i].len);
		}
		if (!done)
		{
			redis_command(&req, 6);
			redis_arg_str(&req, "SCAN");
			redis_arg_str(&req, cursor);
			redis_arg_str(&req, "MATCH");
			redis_arg(&req, match.data, match.len);
			redis_arg_str(&req, "COUNT");
			redis_arg_int(&req, SCAN_COUNT);
		}

		replies = redis_execute(&req, SCAN_REPLY_LIMIT, REDIS_FAIL_ERROR);

		if (npending > 0)
		{
			if (replies[r].kind != REDIS_KIND_INTEGER)
				redis_unexpected_reply("UNLINK", &replies[r]);
			removed += replies[r].integer;
			r++;
			npending = 0;
		}

		if (!done)
		{
			RedisReply *scan = &replies[r];

			if (scan->kind != REDIS_KIND_ARRAY || scan->nelements != 2 ||
				scan->elements[0].kind != REDIS_KIND_STRING ||
				scan->elements[1].kind != REDIS_KIND_ARRAY)
				redis_unexpected_reply("SCAN", scan);
			for (int i = 0; i < scan->elements[1].nelements; i++)
				if (scan->elements[1].elements[i].kind != REDIS_KIND_STRING)
					redis_unexpected_reply("SCAN", scan);

			cursor = scan->elements[0].str;
			done = strcmp(cursor, "0") == 0;
			pending = scan->elements[1].elements;
			npending = scan->elements[1].nelements;
		}

		MemoryContextSwitchTo(oldcxt);
	}

	MemoryContextDelete(pagecxt[0]);
	MemoryContextDelete(pagecxt[1]);
	pfree(match.data);
	return removed;
}

/*
 * cache_invalidate(pattern text) RETURNS bigint
 */
Datum
cache_invalidate(PG_FUNCTION_ARGS)
{
	text	   *pattern = PG_GETARG_TEXT_PP(0);
	int64		removed;

	removed = invalidate_matching(VARDATA_ANY(pattern),
								  VARSIZE_ANY_EXHDR(pattern));

	/*
	 * To be repeated after commit: keys named outright (removed together,
	 * in one UNLINK), and each distinct glob.
	 */
	if (IsTransactionBlock() ||
		TransactionIdIsValid(GetTopTransactionIdIfAny()))
	{
		ListCell   *lc;
		bool		known = false;
		int			nglobs = 0;

		if (!pattern_is_key(pattern))
		{
			foreach(lc, commit_patterns)
			{
				text	   *p = lfirst(lc);

				if (pattern_is_key(p))
					continue;
				nglobs++;
				if (VARSIZE_ANY_EXHDR(p) == VARSIZE_ANY_EXHDR(pattern) &&
					memcmp(VARDATA_ANY(p), VARDATA_ANY(pattern),
						   VARSIZE_ANY_EXHDR(p)) == 0)
					known = true;
			}
		}

		/*
		 * Each glob is one SCAN of the namespace at commit, which cannot be
		 * interrupted there: a transaction gets a bounded number of them.
		 */
		if (!known && !pattern_is_key(pattern) &&
			nglobs >= MAX_COMMIT_PATTERNS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many cache_invalidate() patterns in one transaction"),
					 errdetail("A transaction can use at most %d different patterns with glob characters; each is repeated after commit.",
							   MAX_COMMIT_PATTERNS),
					 errhint("Use one broader pattern, or keys without glob characters, which have no limit.")));
		if (!known)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);

			commit_patterns = lappend(commit_patterns,
									  DatumGetTextPCopy(PointerGetDatum(pattern)));
			MemoryContextSwitchTo(oldcxt);
		}
	}

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
	StringInfoData rkey;
	CacheEntry	entry;
	bool		usable;
	bool		checkable;

	InitMaterializedSRF(fcinfo, 0);

	initStringInfo(&rkey);
	keyspace_entry_key(&rkey, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	if (!cache_fetch_entry(&rkey, REDIS_FAIL_ERROR, &entry, &usable))
		PG_RETURN_NULL();		/* no valid entry */

	checkable = (entry.flags & ENTRY_TRACKED) && track_writes_tracked();
	for (int i = 0; i < entry.nrelations; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = ObjectIdGetDatum(entry.relations[i]);
		if (checkable)
			values[1] = BoolGetDatum(track_relation_changed(entry.relations[i],
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
 * Remove again the keys this transaction named outright, with UNLINK, in
 * one round trip.
 */
static void
unlink_keys_again(void)
{
	RedisRequest req;
	RedisReply *replies;
	ListCell   *lc;
	int			nkeys = 0;
	int			ncommands = 0;
	int			batch = 0;

	foreach(lc, commit_patterns)
		if (pattern_is_key(lfirst(lc)))
			nkeys++;
	if (nkeys == 0)
		return;

	redis_request_init(&req);
	foreach(lc, commit_patterns)
	{
		text	   *pattern = lfirst(lc);
		StringInfoData rkey;

		if (!pattern_is_key(pattern))
			continue;
		if (batch == 0)
		{
			redis_command(&req, 1 + Min(nkeys, UNLINK_BATCH));
			redis_arg_str(&req, "UNLINK");
			ncommands++;
		}
		initStringInfo(&rkey);
		keyspace_entry_key(&rkey, VARDATA_ANY(pattern),
						   VARSIZE_ANY_EXHDR(pattern));
		redis_arg(&req, rkey.data, rkey.len);
		pfree(rkey.data);
		nkeys--;
		if (++batch == UNLINK_BATCH)
			batch = 0;
	}
	replies = redis_execute(&req, 1024 * (size_t) ncommands, REDIS_FAIL_ERROR);
	redis_request_free(&req);
	for (int i = 0; i < ncommands; i++)
		if (replies[i].kind != REDIS_KIND_INTEGER)
			redis_unexpected_reply("UNLINK", &replies[i]);
}

/*
 * Run one part of the repeat after commit.  The transaction is committed,
 * so nothing may raise an error here: a failure is a WARNING.  Interrupts
 * are held off by CommitTransaction; every Redis wait ends by
 * command_timeout.
 */
static bool
again_or_warn(text *pattern)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		if (pattern == NULL)
			unlink_keys_again();
		else
			(void) invalidate_matching(VARDATA_ANY(pattern),
									   VARSIZE_ANY_EXHDR(pattern));
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
 */
static void
invalidate_again(void)
{
	ListCell   *lc;

	/* after a failure Redis is backing off: one WARNING says it all */
	if (!again_or_warn(NULL))
		return;
	foreach(lc, commit_patterns)
		if (!pattern_is_key(lfirst(lc)) && !again_or_warn(lfirst(lc)))
			return;
}

static void
cache_admin_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (commit_patterns != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that has called cache_invalidate()"),
						 errdetail("Its invalidations must be repeated after it commits, which COMMIT PREPARED cannot do."),
						 errhint("Call cache_invalidate() after COMMIT PREPARED instead.")));
			break;
		case XACT_EVENT_COMMIT:
			if (commit_patterns != NIL)
				invalidate_again();
			commit_patterns = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			commit_patterns = NIL;
			break;
		default:
			break;
	}
}

/*
 * Called from _PG_init.
 */
void
cache_admin_init(void)
{
	RegisterXactCallback(cache_admin_xact_callback, NULL);
}

/*
 * cache_get_ttl(key text) RETURNS integer
 *
 * Seconds the entry has left, or NULL when there is no entry.
 */
Datum
cache_get_ttl(PG_FUNCTION_ARGS)
{
	RedisRequest req;
	RedisReply *reply;

	entry_command(&req, "TTL", PG_GETARG_TEXT_PP(0), 0);
	reply = redis_execute(&req, 1024, REDIS_FAIL_ERROR);

	if (reply->kind != REDIS_KIND_INTEGER)
		redis_unexpected_reply("TTL", reply);
	/* -2: no such key; -1: no expiry, which cacheaside never sets */
	if (reply->integer < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32((int32) Min(reply->integer, PG_INT32_MAX));
}

/*
 * cache_set_ttl(key text, ttl integer) RETURNS boolean
 *
 * Give an existing entry a new time to live.  False when there is none.
 */
Datum
cache_set_ttl(PG_FUNCTION_ARGS)
{
	int32		ttl = PG_GETARG_INT32(1);
	RedisRequest req;
	RedisReply *reply;

	if (ttl <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must be a positive number of seconds"),
				 errdetail("The ttl given was %d.", ttl),
				 errhint("Use cache_invalidate() to remove an entry.")));

	entry_command(&req, "EXPIRE", PG_GETARG_TEXT_PP(0), 1);
	redis_arg_int(&req, ttl);
	reply = redis_execute(&req, 1024, REDIS_FAIL_ERROR);

	if (reply->kind != REDIS_KIND_INTEGER)
		redis_unexpected_reply("EXPIRE", reply);
	PG_RETURN_BOOL(reply->integer == 1);
}
