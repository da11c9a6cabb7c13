/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  Catalog changes of this transaction that can change what a cached
 *	  query means.
 *
 * An entry records the relations its query read, and the ledger tells
 * when they were written.  What the query's text resolves to is not
 * recorded, and can change without a write to any of them: a table of the
 * same name created in a schema earlier in the search path, a schema
 * renamed and another made under its name, a function replaced (CREATE OR
 * REPLACE FUNCTION) or a better-matching overload added, a type, domain,
 * operator, cast, collation or text search configuration made, changed or
 * dropped.  So a transaction that creates, alters or drops a permanent
 * object counts as a write to its whole database (commits.c): once it
 * commits, every entry of the database whose query began before is a
 * miss.  And the transaction itself is served no entry and stores none
 * after such a change (writeset_written_by_me), as after a write.
 *
 * Left out, because they cannot change what a query of another session
 * means, or because they lock a relation an entry read, which is recorded
 * already:
 *	- objects in temporary schemas (a session with a temporary schema has
 *	  entries of its own, fingerprint.c);
 *	- indexes and TOAST tables;
 *	- what PostgreSQL marks internal: the transient tables of CLUSTER,
 *	  VACUUM FULL, REFRESH MATERIALIZED VIEW and table rewrites, the parts
 *	  a statement makes for the object it creates (a table's row type,
 *	  a serial column's sequence), the temporary schema of a session,
 *	  drops at the end of a session;
 *	- column defaults, tables' constraints, triggers, extended statistics,
 *	  event triggers, publications and subscriptions, default privileges
 *	  (no read depends on them; a domain's constraints count: a cast to
 *	  the domain may fail);
 *	  roles, databases, tablespaces, large objects, foreign servers and
 *	  user mappings (entries are per role, privileges are checked on every
 *	  hit, and results read from foreign tables or large objects are not
 *	  cached).
 *
 * The object access hook tells which object changed, but an object the
 * current command creates or alters may not be visible yet.  So its
 * address is kept (in TopTransactionContext), and looked up later: at
 * pre-commit, when everything the transaction did is visible, or before a
 * hit or a store of this transaction, when an object still invisible
 * counts as a change.  One that is gone at pre-commit was created and
 * dropped by the transaction, or in a subtransaction that rolled back.  A
 * drop of an object the transaction created forgets it; any other drop is
 * looked up at once, before the object goes.  A change made in a
 * subtransaction that rolled back still counts when its object exists (an
 * ALTER undone): extra misses, never a stale hit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_auth_members.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_database.h"
#include "catalog/pg_default_acl.h"
#include "catalog/pg_event_trigger.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_largeobject.h"
#include "catalog/pg_largeobject_metadata.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_publication_namespace.h"
#include "catalog/pg_publication_rel.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_subscription.h"
#include "catalog/pg_tablespace.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_user_mapping.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "ddl.h"

/* An object created or altered, to be looked up later */
typedef struct PendingObject
{
	Oid			classId;
	Oid			objectId;
	bool		created;		/* the object itself was created (not one of
								 * its columns, not altered) */
} PendingObject;

/*
 * At this many pending objects, those that do not count are forgotten (a
 * drop scans them); when half of them remain, the transaction counts.
 */
#define DDL_MAX_PENDING 1024

typedef struct DdlState
{
	bool		changed;		/* a change that counts was seen */
	PendingObject *pending;		/* in TopTransactionContext */
	int			npending;
	int			maxpending;
} DdlState;

static DdlState state;

typedef enum ObjectVerdict
{
	OBJECT_COUNTS,				/* a permanent object of a kind that counts */
	OBJECT_IGNORED,				/* temporary, an index, TOAST */
	OBJECT_MISSING				/* not visible (any more, or yet) */
} ObjectVerdict;

/*
 * Classes whose changes never count (the header says why).
 */
static bool
class_ignored(Oid classId)
{
	switch (classId)
	{
		case AttrDefaultRelationId:
		case TriggerRelationId:
		case StatisticExtRelationId:
		case EventTriggerRelationId:
		case PublicationRelationId:
		case PublicationRelRelationId:
		case PublicationNamespaceRelationId:
		case SubscriptionRelationId:
		case DefaultAclRelationId:
		case AuthIdRelationId:
		case AuthMemRelationId:
		case DatabaseRelationId:
		case TableSpaceRelationId:
		case LargeObjectRelationId:
		case LargeObjectMetadataRelationId:
		case ForeignDataWrapperRelationId:
		case ForeignServerRelationId:
		case UserMappingRelationId:
		case PolicyRelationId:
			return true;
		default:
			return false;
	}
}

static ObjectVerdict
relation_verdict(Oid relid)
{
	HeapTuple	tuple;
	char		relkind;
	Oid			nspid;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		return OBJECT_MISSING;
	relkind = ((Form_pg_class) GETSTRUCT(tuple))->relkind;
	nspid = ((Form_pg_class) GETSTRUCT(tuple))->relnamespace;
	ReleaseSysCache(tuple);

	if (relkind == RELKIND_INDEX || relkind == RELKIND_PARTITIONED_INDEX ||
		relkind == RELKIND_TOASTVALUE || isAnyTempNamespace(nspid))
		return OBJECT_IGNORED;
	return OBJECT_COUNTS;
}

/*
 * Does a change of this object count, as the catalogs read now?
 */
static ObjectVerdict
object_verdict(Oid classId, Oid objectId)
{
	Relation	catalog;
	HeapTuple	tuple;
	AttrNumber	nspattr;
	Oid			nspid = InvalidOid;
	Oid			relid = InvalidOid;
	bool		ignored = false;
	bool		found;

	if (classId == RelationRelationId)
		return relation_verdict(objectId);
	if (classId == NamespaceRelationId)
	{
		if (!SearchSysCacheExists1(NAMESPACEOID, ObjectIdGetDatum(objectId)))
			return OBJECT_MISSING;
		return isAnyTempNamespace(objectId) ? OBJECT_IGNORED : OBJECT_COUNTS;
	}
	if (!is_objectclass_supported(classId) && classId != RewriteRelationId)
		return OBJECT_COUNTS;	/* a kind not known here: count it */

	catalog = table_open(classId, AccessShareLock);
	tuple = get_catalog_object_by_oid(catalog,
									  classId == RewriteRelationId ?
									  Anum_pg_rewrite_oid :
									  get_object_attnum_oid(classId),
									  objectId);
	found = tuple != NULL;
	if (found)
	{
		if (classId == RewriteRelationId)
			relid = ((Form_pg_rewrite) GETSTRUCT(tuple))->ev_class;
		else if (classId == ConstraintRelationId &&
				 OidIsValid(((Form_pg_constraint) GETSTRUCT(tuple))->conrelid))
			ignored = true;		/* a table's: the table is locked */
		else if ((nspattr = get_object_attnum_namespace(classId)) !=
				 InvalidAttrNumber)
		{
			bool		isnull;
			Datum		datum = heap_getattr(tuple, nspattr,
											 RelationGetDescr(catalog),
											 &isnull);

			if (!isnull)
				nspid = DatumGetObjectId(datum);
		}
		heap_freetuple(tuple);
	}
	table_close(catalog, AccessShareLock);

	if (!found)
		return OBJECT_MISSING;
	if (ignored)
		return OBJECT_IGNORED;
	if (OidIsValid(relid))
		return relation_verdict(relid); /* a view's or a table's rule */
	if (OidIsValid(nspid) && isAnyTempNamespace(nspid))
		return OBJECT_IGNORED;
	return OBJECT_COUNTS;
}

/*
 * Too many pending objects: forget those that do not count (temporary
 * ones, indexes); if that is not enough, the transaction counts.
 */
static void
compact_pending(void)
{
	int			kept = 0;

	for (int i = 0; i < state.npending; i++)
		if (object_verdict(state.pending[i].classId,
						   state.pending[i].objectId) != OBJECT_IGNORED)
			state.pending[kept++] = state.pending[i];
	state.npending = kept;
	if (state.npending >= DDL_MAX_PENDING / 2)
		state.changed = true;
}

/*
 * A drop of an object this transaction created: forget it, and what was
 * noted of it since (it was created and is gone, as if it never was).
 * Returns false when it was not created by this transaction.
 */
static bool
forget_created(Oid classId, Oid objectId)
{
	bool		created = false;
	int			kept = 0;

	for (int i = 0; i < state.npending; i++)
		if (state.pending[i].classId == classId &&
			state.pending[i].objectId == objectId &&
			state.pending[i].created)
			created = true;
	if (!created)
		return false;
	for (int i = 0; i < state.npending; i++)
		if (state.pending[i].classId != classId ||
			state.pending[i].objectId != objectId)
			state.pending[kept++] = state.pending[i];
	state.npending = kept;
	return true;
}

/*
 * The object access hook saw an object (subId 0) or one of its columns
 * created, altered or dropped.
 */
void
ddl_note(ObjectAccessType access, Oid classId, Oid objectId, int subId,
		 void *arg)
{
	MemoryContext oldcxt;
	bool		created = false;

	if (state.changed || class_ignored(classId))
		return;
	switch (access)
	{
		case OAT_POST_CREATE:
			if (((ObjectAccessPostCreate *) arg)->is_internal)
				return;
			created = subId == 0;
			break;
		case OAT_POST_ALTER:
			if (((ObjectAccessPostAlter *) arg)->is_internal)
				return;
			break;
		case OAT_DROP:
			if (((ObjectAccessDrop *) arg)->dropflags &
				PERFORM_DELETION_INTERNAL)
				return;
			if (subId == 0 && forget_created(classId, objectId))
				return;
			/* the object is still there: look it up now */
			if (object_verdict(classId, objectId) != OBJECT_IGNORED)
				state.changed = true;
			return;
		default:
			return;
	}

	/* the same object again (a statement's steps): kept once */
	if (state.npending > 0 &&
		state.pending[state.npending - 1].classId == classId &&
		state.pending[state.npending - 1].objectId == objectId)
	{
		state.pending[state.npending - 1].created |= created;
		return;
	}
	if (state.npending >= DDL_MAX_PENDING)
	{
		compact_pending();
		if (state.changed)
			return;
	}
	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	if (state.npending == state.maxpending)
	{
		state.maxpending = Max(16, state.maxpending * 2);
		state.pending = state.pending == NULL ?
			palloc(sizeof(PendingObject) * state.maxpending) :
			repalloc(state.pending, sizeof(PendingObject) * state.maxpending);
	}
	MemoryContextSwitchTo(oldcxt);
	state.pending[state.npending].classId = classId;
	state.pending[state.npending].objectId = objectId;
	state.pending[state.npending].created = created;
	state.npending++;
}

/*
 * Has this transaction made a change that counts?  at_commit: everything
 * it did is visible, and an object that is not was created and dropped by
 * it.  Otherwise (a hit or a store in the transaction) an object not
 * visible yet counts too, and nothing is decided: an object the
 * transaction created may still be dropped by it.
 */
bool
ddl_changed(bool at_commit)
{
	bool		changed = false;

	if (state.changed)
		return true;
	for (int i = 0; i < state.npending && !changed; i++)
	{
		switch (object_verdict(state.pending[i].classId,
							   state.pending[i].objectId))
		{
			case OBJECT_COUNTS:
				changed = true;
				break;
			case OBJECT_IGNORED:
				break;
			case OBJECT_MISSING:
				changed = !at_commit;
				break;
		}
	}
	if (at_commit)
		state.changed = changed;
	return changed;
}

/*
 * The transaction ended (its memory goes with it).
 */
void
ddl_reset(void)
{
	state.changed = false;
	state.pending = NULL;
	state.npending = 0;
	state.maxpending = 0;
}
