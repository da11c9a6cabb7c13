/*-------------------------------------------------------------------------
 *
 * validity.c
 *	  Whether an entry may be served, or a result stored, in this
 *	  transaction.
 *
 * The same rules decide for every entry, wherever its bytes came from:
 *
 *	commits		with the library preloaded, no commit recorded in the
 *				ledger (ledger.c) since the entry's "as of" wrote what it
 *				read, none is writing it now, the cluster has not restarted
 *				(epoch), and nothing unseen may have committed since
 *				(prepared transactions, prepared.c);
 *	invalidations	with the library preloaded, no cache_invalidate named
 *				the entry's key (or a pattern it matches) since its "as
 *				of", and none that did is committing now
 *				(invalidations.c); checked also with
 *				cacheaside.auto_invalidate off, where an entry of another
 *				start of the server (epoch) is a miss too, since its
 *				invalidations are not known;
 *	own writes	this transaction has not written what it read;
 *	snapshot	a REPEATABLE READ transaction serves and stores only what
 *				its snapshot sees exactly: every commit that wrote what
 *				was read is older than the snapshot's xmin (where writes
 *				are not tracked, that cannot be told, and it stores
 *				nothing); a SERIALIZABLE one is served nothing, since a
 *				hit would take no predicate locks;
 *	privileges	every privilege check the query passed is made again for
 *				its role (privs.c).
 *
 * Before deciding, a hit takes the AccessShareLock the query would take on
 * each relation it read, held until the transaction ends, so that what
 * other sessions may do meanwhile is the same as if the query had run.
 *
 * With cacheaside.auto_invalidate off, or where commits are not tracked
 * (no preloading, a standby), hits skip the check of commits and go by TTL
 * (and, preloaded, invalidations) only; own writes and privileges are
 * still checked.  Entries made where writes were not tracked (a standby, a
 * server without preloading) carry no "as of": with auto_invalidate off
 * they go by TTL only.
 *
 * Each function returns NULL when the entry may be used, or a short reason
 * why not, which callers log at DEBUG1.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/snapmgr.h"

#include "config.h"
#include "invalidations.h"
#include "ledger.h"
#include "patterns.h"
#include "prepared.h"
#include "privs.h"
#include "validity.h"
#include "writeset.h"

/* What checking against commits found */
typedef enum CommitVerdict
{
	COMMITS_VALID,				/* nothing the entry read changed since */
	COMMITS_CHANGED,			/* a commit wrote what the entry read, or is
								 * committing now, or the cluster restarted */
	COMMITS_WRITTEN,			/* this transaction wrote what the entry read */
	COMMITS_SNAPSHOT,			/* this transaction's snapshot may not see
								 * every commit the entry saw */
	COMMITS_INVALIDATED			/* cache_invalidate named it since, or is
								 * committing now */
} CommitVerdict;

/* The kind of reason a verdict is */
static inline CacheReason
verdict_reason(CommitVerdict verdict)
{
	switch (verdict)
	{
		case COMMITS_VALID:
			break;
		case COMMITS_CHANGED:
		case COMMITS_INVALIDATED:
			return REASON_CHANGED;
		case COMMITS_WRITTEN:
			return REASON_OWN_WRITES;
		case COMMITS_SNAPSHOT:
			return REASON_SNAPSHOT;
	}
	return REASON_NONE;
}

/* One message per backend about tracking being unavailable */
static bool unavailable_warned = false;

/*
 * What this session can do about writes.  Says once per backend why
 * entries cannot be checked against commits, unless automatic
 * invalidation was turned off on purpose.
 */
TrackMode
validity_mode(void)
{
	if (!cacheaside_auto_invalidate)
		return TRACK_TTL_ONLY;
	if (ledger_attached() && !RecoveryInProgress())
		return TRACK_ON;

	if (!unavailable_warned)
	{
		unavailable_warned = true;
		if (!ledger_attached())
			ereport(WARNING,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cacheaside: automatic invalidation is off because cacheaside is not in shared_preload_libraries"),
					 errdetail("Cached results stay until their TTL ends or cache_invalidate() removes them."),
					 errhint("Add cacheaside to shared_preload_libraries and restart the server, or set cacheaside.auto_invalidate to off to silence this warning.")));
		else
			ereport(WARNING,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cacheaside: automatic invalidation is not available during recovery"),
					 errdetail("Writes replayed from the primary are not tracked; cached results stay until their TTL ends."),
					 errhint("Set cacheaside.auto_invalidate to off to silence this warning.")));
	}
	return TRACK_UNAVAILABLE;
}

/*
 * Can entries stored now be checked against later commits?
 */
bool
validity_writes_tracked(void)
{
	return ledger_attached() && !RecoveryInProgress();
}

uint64
validity_epoch(void)
{
	return ledger_epoch();
}

/*
 * The sequence number to record as an entry's "as of": read before the
 * fill's query takes its snapshot.
 */
uint64
validity_as_of(void)
{
	/*
	 * The first fill of a start must not begin before those are recorded,
	 * and prepared transactions that ended must count before it begins.
	 */
	(void) prepared_recovered_recorded();
	prepared_settle();
	return ledger_sequence();
}

/*
 * What makes every entry of this database made at (epoch, as_of) invalid,
 * whatever it read: another start of the server, prepared transactions
 * of the start not recorded yet or recorded after it began, or a commit
 * that wrote the whole database.  Settles ended prepared transactions
 * first.  Adds the database slot's writers to *last_xid.
 */
static bool
database_changed(uint64 epoch, uint64 as_of, uint64 *last_xid)
{
	if (!ledger_epoch_accepts(epoch) || !prepared_recovered_recorded() ||
		as_of < ledger_valid_from())
		return true;
	prepared_settle();
	return ledger_slot_changed(ledger_slot_of(MyDatabaseId, InvalidOid),
							   as_of, last_xid);
}

/*
 * May an entry made at (epoch, as_of) from relids be served, or a result
 * just computed from them be stored, in this transaction?
 */
static CommitVerdict
check_commits(const Oid *relids, int nrelids, uint64 epoch, uint64 as_of)
{
	uint64		last_xid = 0;

	if (database_changed(epoch, as_of, &last_xid))
		return COMMITS_CHANGED;
	for (int i = 0; i < nrelids; i++)
		if (ledger_slot_changed(ledger_slot_of(MyDatabaseId, relids[i]),
								as_of, &last_xid))
			return COMMITS_CHANGED;

	if (writeset_written_by_me(relids, nrelids))
		return COMMITS_WRITTEN;

	/*
	 * A transaction snapshot sees exactly the commits the entry saw only if
	 * every commit that wrote these relations is visible to it: all writers
	 * older than the snapshot's xmin are.
	 */
	if (IsolationUsesXactSnapshot() && last_xid != 0 &&
		last_xid >= U64FromFullTransactionId(ledger_full_xid(GetTransactionSnapshot()->xmin)))
		return COMMITS_SNAPSHOT;
	return COMMITS_VALID;
}

/*
 * Has a cache_invalidate named the entry under key (its Redis key) since
 * as_of, or is a transaction that did committing now?  Only where
 * invalidations_tracked().
 */
static bool
key_invalidated(const char *key, size_t len, uint64 as_of)
{
	uint64		last_xid = 0;

	return ledger_slot_changed(ledger_slot_of_key(MyDatabaseId, key, len),
							   as_of, &last_xid) ||
		patterns_match(MyDatabaseId, key, len, as_of);
}

/*
 * May this session be served a decoded entry of its computation (same
 * fingerprint), read under key (its Redis key)?  mode is validity_mode()
 * of the call.
 */
const char *
validity_servable(const CacheEntry *entry, const char *key, size_t keylen,
				  TrackMode mode, CacheReason *reason)
{
	CommitVerdict verdict;

	/*
	 * First the locks running the query would take, and keep until the
	 * transaction ends: without them, a TRUNCATE or DDL that the query
	 * would hold off could commit meanwhile, and a transaction could tell a
	 * hit from running the query.  Taken before the checks, the checks see
	 * what the locks protect (taking one accepts pending invalidations).
	 */
	for (int i = 0; i < entry->nrelations; i++)
		LockRelationOid(entry->relations[i], AccessShareLock);

	if (mode != TRACK_ON)
	{
		/* TTL only: but never an entry this transaction's writes affect */
		verdict = writeset_written_by_me(entry->relations, entry->nrelations) ?
			COMMITS_WRITTEN : COMMITS_VALID;

		/*
		 * and never one a cache_invalidate removed: those of another start
		 * of the server are not known, those made untracked cannot be told
		 */
		if (verdict == COMMITS_VALID && invalidations_tracked() &&
			(entry->flags & ENTRY_TRACKED) &&
			(!ledger_epoch_accepts(entry->epoch) ||
			 key_invalidated(key, keylen, entry->as_of)))
			verdict = COMMITS_INVALIDATED;
	}
	else if (!(entry->flags & ENTRY_TRACKED))
		verdict = COMMITS_CHANGED;	/* made where writes were not tracked */
	else if (IsolationIsSerializable())
	{
		*reason = REASON_SNAPSHOT;
		return "the transaction is serializable, and a hit would take no predicate locks";
	}
	else
	{
		verdict = check_commits(entry->relations, entry->nrelations,
								entry->epoch, entry->as_of);
		if (verdict == COMMITS_VALID &&
			key_invalidated(key, keylen, entry->as_of))
			verdict = COMMITS_INVALIDATED;
	}

	*reason = verdict_reason(verdict);
	switch (verdict)
	{
		case COMMITS_VALID:
			break;
		case COMMITS_INVALIDATED:
			return "cache_invalidate() removed it after its query began";
		case COMMITS_CHANGED:
			return "what it read has changed";
		case COMMITS_WRITTEN:
			return "this transaction wrote what it read";
		case COMMITS_SNAPSHOT:
			return "this transaction's snapshot is older than the entry";
	}

	/*
	 * The privilege checks running the query would make.  When one fails,
	 * the query runs instead: it raises PostgreSQL's own error (42501) if
	 * it must.
	 */
	return privs_check(entry->checks, entry->checks_len, reason);
}

/*
 * May a result just computed from relids be stored, as far as commits go?
 * tracked: writes were tracked when its query began, and as_of is the
 * sequence number read then.
 */
const char *
validity_storable(const Oid *relids, int nrelids, bool tracked,
				  uint64 as_of, CacheReason *reason)
{
	CommitVerdict verdict;

	if (tracked)
		verdict = check_commits(relids, nrelids, ledger_epoch(), as_of);
	else if (writeset_written_by_me(relids, nrelids))
		verdict = COMMITS_WRITTEN;
	else if (IsolationUsesXactSnapshot())
		verdict = COMMITS_SNAPSHOT; /* cannot tell how old it is */
	else
		verdict = COMMITS_VALID;

	*reason = verdict_reason(verdict);
	switch (verdict)
	{
		case COMMITS_VALID:
			break;
		case COMMITS_CHANGED:
		case COMMITS_INVALIDATED:
			return "what it read changed while it ran";
		case COMMITS_WRITTEN:
			return "this transaction wrote what it read";
		case COMMITS_SNAPSHOT:
			return "this transaction's snapshot may miss committed writes";
	}
	return NULL;
}

/*
 * May a result whose query began at as_of (tracked: see
 * validity_storable) be stored under key (its Redis key), as far as
 * cache_invalidate goes?
 */
const char *
validity_key_storable(const char *key, size_t keylen, bool tracked,
					  uint64 as_of, CacheReason *reason)
{
	*reason = REASON_NONE;
	if (!tracked || !invalidations_tracked() ||
		!key_invalidated(key, keylen, as_of))
		return NULL;
	*reason = REASON_CHANGED;
	return "cache_invalidate() removed it while its query ran";
}

/*
 * Has a commit written relid since an entry made at (epoch, as_of), or is
 * one writing it now?  Only for reporting: hits use validity_servable().
 */
bool
validity_relation_changed(Oid relid, uint64 epoch, uint64 as_of)
{
	uint64		last_xid = 0;

	return database_changed(epoch, as_of, &last_xid) ||
		ledger_slot_changed(ledger_slot_of(MyDatabaseId, relid), as_of,
							&last_xid);
}
