/*-------------------------------------------------------------------------
 *
 * writeset.c
 *	  What this transaction wrote.
 *
 * At commit, the relations a transaction wrote are those it holds locks of
 * writing modes on (lockscan.c), less indexes and sequences, plus their
 * inheritance and partition ancestors: a query on a parent reads its
 * children, and a partition attached in this transaction changes what its
 * new parent returns.
 *
 * Those it holds ShareUpdateExclusiveLock on count too when the
 * transaction wrote pg_inherits: ATTACH and DETACH PARTITION CONCURRENTLY
 * take that lock on the parent and the partition and change what the
 * parent returns, where VACUUM and ANALYZE, which take it too, change no
 * rows.  Whether pg_inherits was written is not told by a lock: the first
 * transaction of DETACH ... CONCURRENTLY releases its lock on pg_inherits
 * before it commits.  It is told by the transaction's own counts of rows
 * inserted, updated and deleted there (the statistics system keeps them
 * per transaction, without subtransactions that rolled back); with
 * track_counts off there are none, and the relations count as written.
 *
 * Ancestors are looked up in pg_inherits, through a per-backend cache of
 * each relation's direct parents: a commit would otherwise look each
 * written table up.  Any relcache invalidation empties the cache before
 * its next use (inheritance changes invalidate the relations involved; a
 * concurrent change to the parents of a table this transaction wrote needs
 * a lock that conflicts with its write).
 *
 * Also here: whether this transaction has written, or holds a given lock
 * on, a relation, from the lock manager's public interface.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "pgstat.h"
#if PG_VERSION_NUM >= 160000
#include "utils/pgstat_internal.h"
#endif
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "ddl.h"
#include "lockscan.h"
#include "writeset.h"

/* The direct parents of one relation */
typedef struct ParentsEntry
{
	Oid			relid;			/* hash key */
	int			nparents;
	Oid		   *parents;
} ParentsEntry;

/* The cache of parents, and whether a relcache invalidation emptied it */
typedef struct ParentsCache
{
	HTAB	   *hash;
	MemoryContext cxt;
	bool		stale;
} ParentsCache;

static ParentsCache parents = {NULL, NULL, false};

/*
 * Registered as a relcache callback (preloaded only): the cache is
 * emptied before its next use.
 */
void
writeset_relcache_callback(Datum arg, Oid relid)
{
	parents.stale = true;
}

/*
 * The direct parents of relid, from the cache or from pg_inherits (opened
 * into *inherits the first time it is needed).
 */
static ParentsEntry *
parents_of(Oid relid, Relation *inherits)
{
	ParentsEntry *entry;
	bool		found;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	OidArray	list = OID_ARRAY_EMPTY;
	MemoryContext oldcxt;

	if (parents.hash == NULL)
	{
		HASHCTL		ctl;

		if (parents.cxt == NULL)
			parents.cxt = AllocSetContextCreate(TopMemoryContext,
												"cacheaside parents",
												ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ParentsEntry);
		ctl.hcxt = parents.cxt;
		parents.hash = hash_create("cacheaside parents", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	entry = hash_search(parents.hash, &relid, HASH_FIND, NULL);
	if (entry != NULL)
		return entry;

	if (*inherits == NULL)
		*inherits = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(*inherits, InheritsRelidSeqnoIndexId, true,
							  NULL, 1, &key);
	oldcxt = MemoryContextSwitchTo(parents.cxt);
	while ((tuple = systable_getnext(scan)) != NULL)
		oid_array_add(&list, ((Form_pg_inherits) GETSTRUCT(tuple))->inhparent);
	MemoryContextSwitchTo(oldcxt);
	systable_endscan(scan);

	entry = hash_search(parents.hash, &relid, HASH_ENTER, &found);
	entry->nparents = list.n;
	entry->parents = list.oids;
	return entry;
}

/*
 * Add the inheritance and partition ancestors of every relation in rels.
 */
static void
add_ancestors(OidArray *rels)
{
	Relation	inherits = NULL;

	if (parents.stale)
	{
		parents.stale = false;
		parents.hash = NULL;
		if (parents.cxt != NULL)
			MemoryContextReset(parents.cxt);
	}

	/* rels grows as parents are found: they are searched in turn */
	for (int i = 0; i < rels->n; i++)
	{
		ParentsEntry *entry = parents_of(rels->oids[i], &inherits);

		for (int p = 0; p < entry->nparents; p++)
			oid_array_add_unique(rels, entry->parents[p]);
	}
	if (inherits != NULL)
		table_close(inherits, AccessShareLock);
}

/*
 * Has this transaction inserted, updated or deleted rows of pg_inherits?
 * True when that cannot be told.  Called at pre-commit, where every
 * subtransaction has ended and the counts are the top level's.
 */
static bool
inherits_written(void)
{
	PgStat_TableStatus *tabstat;
	PgStat_TableXactStatus *trans;

	if (!pgstat_track_counts)
		return true;
#if PG_VERSION_NUM >= 160000
	{
		/*
		 * find_tabstat_entry of 17 and later returns a copy whose trans is
		 * NULL: read the pending entry itself, as 15's find_tabstat_entry
		 * does.
		 */
		PgStat_EntryRef *entry_ref;

		entry_ref = pgstat_fetch_pending_entry(PGSTAT_KIND_RELATION,
											   MyDatabaseId,
											   InheritsRelationId);
		tabstat = entry_ref ? (PgStat_TableStatus *) entry_ref->pending : NULL;
	}
#else
	tabstat = find_tabstat_entry(InheritsRelationId);
#endif
	if (tabstat == NULL || tabstat->trans == NULL)
		return false;
	trans = tabstat->trans;
	return trans->tuples_inserted != 0 || trans->tuples_updated != 0 ||
		trans->tuples_deleted != 0 || trans->truncdropped;
}

/*
 * The relations this transaction wrote, added to out (in the current
 * memory context).  Returns false when there were too many to tell apart:
 * the caller then counts the whole database as written.
 */
bool
writeset_relations(OidArray *out)
{
	OidArray	sue_locked = OID_ARRAY_EMPTY;
	bool		inherits_locked;
	int			kept = 0;

	if (!lockscan_write_locks(out, &sue_locked, &inherits_locked))
		return false;
	if (sue_locked.n > 0 && (inherits_locked || inherits_written()))
		for (int i = 0; i < sue_locked.n; i++)
			oid_array_add(out, sue_locked.oids[i]);

	/*
	 * No query depends on an index, and queries that read sequences are not
	 * cached: leave them out, and with them their ancestors' look-up.  A
	 * relation dropped by this transaction has no relkind any more and
	 * stays.
	 */
	for (int i = 0; i < out->n; i++)
	{
		char		relkind = get_rel_relkind(out->oids[i]);

		if (relkind != RELKIND_INDEX &&
			relkind != RELKIND_PARTITIONED_INDEX &&
			relkind != RELKIND_SEQUENCE)
			out->oids[kept++] = out->oids[i];
	}
	out->n = kept;
	if (out->n > 0)
		add_ancestors(out);
	return true;
}

/*
 * Does this backend hold a lock of mode weakest or stronger on relid (of
 * this database)?
 */
bool
writeset_locked_by_me(Oid relid, LOCKMODE weakest)
{
	LOCKTAG		tag;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
#if PG_VERSION_NUM >= 170000
	return LockHeldByMe(&tag, weakest, true);	/* or stronger */
#else
	for (LOCKMODE mode = weakest; mode <= AccessExclusiveLock; mode++)
		if (LockHeldByMe(&tag, mode))
			return true;
	return false;
#endif
}

/*
 * Has this transaction written, or locked for writing, one of relids, or
 * changed what names in queries resolve to (ddl.c)?
 */
bool
writeset_written_by_me(const Oid *relids, int nrelids)
{
	if (!TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return false;
	if (ddl_changed(false))
		return true;
	for (int i = 0; i < nrelids; i++)
		if (writeset_locked_by_me(relids[i], RowExclusiveLock))
			return true;
	return false;
}
