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
 * A role renamed or dropped counts for every database: role names appear
 * in results (current_user, regrole), and roles are the cluster's.  A
 * database created or altered (renamed, its owner changed)
 * counts as a write to that database: a database dropped and made again
 * with the same OID (CREATE DATABASE ... OID, from the same template) has
 * the same entry keys and the same relation OIDs, and current_database()
 * names it.
 *
 * Left out, because they cannot change what a query of another session
 * means, or because they lock a relation an entry read, which is recorded
 * already:
 *	- objects in temporary schemas (a session with a temporary schema has
 *	  entries of its own, fingerprint.c);
 *	- TOAST tables and their indexes (an index counts: its name is a
 *	  relation's name, which to_regclass() and regclass casts resolve);
 *	- creations and changes PostgreSQL marks internal (the parts a
 *	  statement makes for the object it creates, such as a serial column's
 *	  sequence; the transient tables of CLUSTER, VACUUM FULL, REFRESH
 *	  MATERIALIZED VIEW and table rewrites), and the internal drops of
 *	  those transient tables with their row types.  Other internal drops,
 *	  those of temporary objects (the end of a session, DISCARD, ON COMMIT
 *	  DROP), count where their cascade reaches a permanent object;
 *	- column defaults, tables' constraints, triggers, extended statistics,
 *	  event triggers, publications and subscriptions, default privileges,
 *	  policies (no read depends on them, or they lock the table; a domain's
 *	  constraints count: a cast to the domain may fail); the settings of
 *	  ALTER DATABASE/ROLE ... SET (they apply to new sessions, whose
 *	  fingerprints hold the settings that change results); databases dropped
 *	  (a database made with the OID again counts), tablespaces, large
 *	  objects, foreign servers and user mappings
 *	  (results read from foreign tables or large objects are not cached);
 *	  roles created, or altered but not renamed (entries are per role, and
 *	  privileges are checked on every hit).
 *
 * The object access hook tells which object changed, but an object the
 * current command creates or alters may not be visible yet.  So its
 * address is kept (in TopTransactionContext), and looked up later: at
 * pre-commit, when everything the transaction did is visible, or before a
 * hit or a store of this transaction, when an object still invisible
 * counts as a change.  One that is gone at pre-commit was created in a
 * subtransaction that rolled back.  A drop is looked up at once, before
 * the object goes, and counts also when the transaction created the
 * object: CREATE OR REPLACE looks like a creation to the hook, and a drop
 * rolled back to a savepoint brings the object back.  A change made in a
 * subtransaction that rolled back still counts when its object exists (an
 * ALTER undone): extra misses, never a stale hit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/catalog.h"
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
#include "catalog/pg_db_role_setting.h"
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
#include "oidarray.h"

/* An object created or altered, to be looked up later */
typedef struct PendingObject
{
	Oid			classId;
	Oid			objectId;
	bool		created;		/* the object itself was created (subId 0), or
								 * replaced: its creation hook tells no
								 * difference */
	bool		internal;		/* only an internal creation was noted: kept
								 * to recognise its internal drop, never
								 * counts */
} PendingObject;

/* A role altered, and its name before */
typedef struct RoleName
{
	Oid			roleid;
	NameData	name;
} RoleName;

/*
 * At this many pending objects, those that do not count are forgotten;
 * when half of them remain, the transaction counts.
 */
#define DDL_MAX_PENDING 1024

typedef struct DdlState
{
	bool		changed;		/* a change that counts was seen */
	bool		all_databases;	/* a role renamed or dropped */
	PendingObject *pending;		/* in TopTransactionContext */
	int			npending;
	int			maxpending;
	RoleName   *roles;			/* in TopTransactionContext */
	int			nroles;
	int			maxroles;
	OidArray	databases;		/* created or altered, in
								 * TopTransactionContext */
} DdlState;

static DdlState state;

typedef enum ObjectVerdict
{
	OBJECT_COUNTS,				/* a permanent object of a kind that counts */
	OBJECT_IGNORED,				/* temporary, TOAST */
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
		case AuthMemRelationId:
		case DbRoleSettingRelationId:
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

	if (relkind == RELKIND_TOASTVALUE || IsToastNamespace(nspid) ||
		isAnyTempNamespace(nspid))
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
 * ones, TOAST, internal creations whose object is gone); if that is not
 * enough, the transaction counts.
 */
static void
compact_pending(void)
{
	int			kept = 0;

	for (int i = 0; i < state.npending; i++)
	{
		ObjectVerdict verdict = object_verdict(state.pending[i].classId,
											   state.pending[i].objectId);

		if (verdict == OBJECT_IGNORED ||
			(verdict == OBJECT_MISSING && state.pending[i].internal))
			continue;
		state.pending[kept++] = state.pending[i];
	}
	state.npending = kept;
	if (state.npending >= DDL_MAX_PENDING / 2)
		state.changed = true;
}

/*
 * Did this transaction create the object (or replace it)?
 */
static bool
created_here(Oid classId, Oid objectId)
{
	for (int i = 0; i < state.npending; i++)
		if (state.pending[i].classId == classId &&
			state.pending[i].objectId == objectId &&
			state.pending[i].created)
			return true;
	return false;
}

static void *
grow(void *array, int *max, Size size)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);

	*max = Max(16, *max * 2);
	array = array == NULL ? palloc(size * *max) : repalloc(array, size * *max);
	MemoryContextSwitchTo(oldcxt);
	return array;
}

/*
 * A role was altered or dropped.  Role names appear in results
 * (current_user, regrole, pg_get_userbyid), in every database: a rename or
 * a drop counts for all of them.  Whether an ALTER renamed it is told at
 * pre-commit, from its name before (what the catalogs show before the
 * command's end).  Creations do not count: no result can name a role that
 * did not exist.
 */
static void
note_role(ObjectAccessType access, Oid roleid, void *arg)
{
	HeapTuple	tuple;

	if (state.all_databases)
		return;
	if (access == OAT_DROP)
	{
		if (!(((ObjectAccessDrop *) arg)->dropflags & PERFORM_DELETION_INTERNAL))
			state.all_databases = true;
		return;
	}
	if (access != OAT_POST_ALTER || ((ObjectAccessPostAlter *) arg)->is_internal)
		return;
	for (int i = 0; i < state.nroles; i++)
		if (state.roles[i].roleid == roleid)
			return;				/* its name before this transaction is kept */
	tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));
	if (!HeapTupleIsValid(tuple))
	{
		state.all_databases = true;
		return;
	}
	if (state.nroles == state.maxroles)
		state.roles = grow(state.roles, &state.maxroles, sizeof(RoleName));
	state.roles[state.nroles].roleid = roleid;
	state.roles[state.nroles].name = ((Form_pg_authid) GETSTRUCT(tuple))->rolname;
	state.nroles++;
	ReleaseSysCache(tuple);
}

/*
 * A database was created or altered: a write to that database at commit.
 */
static void
note_database(Oid dbid)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);

	oid_array_add_unique(&state.databases, dbid);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * The object access hook saw an object (subId 0) or one of its columns
 * created, altered or dropped.
 */
void
ddl_note(ObjectAccessType access, Oid classId, Oid objectId, int subId,
		 void *arg)
{
	bool		created = false;
	bool		internal = false;

	if (classId == AuthIdRelationId)
	{
		note_role(access, objectId, arg);
		return;
	}
	if (classId == DatabaseRelationId)
	{
		if (access == OAT_POST_CREATE || access == OAT_POST_ALTER)
			note_database(objectId);
		return;
	}
	if (state.changed || class_ignored(classId))
		return;
	switch (access)
	{
		case OAT_POST_CREATE:
			internal = ((ObjectAccessPostCreate *) arg)->is_internal;
			created = subId == 0;
			if (internal && !created)
				return;
			break;
		case OAT_POST_ALTER:
			if (((ObjectAccessPostAlter *) arg)->is_internal)
				return;
			break;
		case OAT_DROP:
			{
				int			flags = ((ObjectAccessDrop *) arg)->dropflags;

				/*
				 * An internal drop, not a quiet one, of what the transaction
				 * created: the transient table of CLUSTER, VACUUM FULL,
				 * REFRESH MATERIALIZED VIEW or a rewrite, and its row types.
				 * The quiet internal drops are those of temporary objects
				 * (at the end of a session, DISCARD, ON COMMIT DROP), whose
				 * cascade may reach permanent objects: looked up, as any
				 * other drop.  (ON COMMIT DROP comes after pre-commit, but
				 * the permanent objects its cascade reaches were made or
				 * altered to depend on a table of this transaction: that
				 * counted already.)  A drop counts even of what the transaction
				 * created: CREATE OR REPLACE looks like a creation, and a
				 * drop rolled back to a savepoint brings the object back.
				 */
				if ((flags & PERFORM_DELETION_INTERNAL) &&
					!(flags & PERFORM_DELETION_QUIETLY) && subId == 0 &&
					created_here(classId, objectId))
					return;
				/* the object is still there: look it up now */
				if (object_verdict(classId, objectId) != OBJECT_IGNORED)
					state.changed = true;
				return;
			}
		default:
			return;
	}

	/* the same object again (a statement's steps): kept once */
	if (state.npending > 0 &&
		state.pending[state.npending - 1].classId == classId &&
		state.pending[state.npending - 1].objectId == objectId)
	{
		state.pending[state.npending - 1].created |= created;
		state.pending[state.npending - 1].internal &= internal;
		return;
	}
	if (state.npending >= DDL_MAX_PENDING)
	{
		compact_pending();
		if (state.changed)
			return;
	}
	if (state.npending == state.maxpending)
		state.pending = grow(state.pending, &state.maxpending,
							 sizeof(PendingObject));
	state.pending[state.npending].classId = classId;
	state.pending[state.npending].objectId = objectId;
	state.pending[state.npending].created = created;
	state.pending[state.npending].internal = internal;
	state.npending++;
}

/*
 * Has this transaction made a change that counts in its database?
 * at_commit: everything it did is visible, and an object that is not was
 * created in a subtransaction that rolled back (a drop was decided at
 * once).  Otherwise (a hit or a store in the transaction) an object not
 * visible yet counts too.  Objects that do not count are forgotten.
 */
bool
ddl_changed(bool at_commit)
{
	bool		changed = false;
	int			kept = 0;

	if (state.changed || state.all_databases)
		return true;
	if (!at_commit && state.nroles > 0)
		return true;			/* a role altered: renamed, maybe */
	for (int i = 0; i < state.npending; i++)
	{
		const PendingObject *object = &state.pending[i];

		switch (object_verdict(object->classId, object->objectId))
		{
			case OBJECT_COUNTS:
				if (!object->internal)
					changed = true;
				state.pending[kept++] = *object;
				break;
			case OBJECT_IGNORED:
				break;			/* stays so: forgotten */
			case OBJECT_MISSING:
				if (!at_commit && !object->internal)
					changed = true;
				state.pending[kept++] = *object;
				break;
		}
		if (changed)
			break;
	}
	if (!changed)
		state.npending = kept;
	if (at_commit)
		state.changed = changed;
	return changed;
}

/*
 * Has this transaction renamed or dropped a role (at pre-commit)?  Then it
 * counts as a write to every database.
 */
bool
ddl_roles_changed(void)
{
	for (int i = 0; i < state.nroles && !state.all_databases; i++)
	{
		HeapTuple	tuple = SearchSysCache1(AUTHOID,
											ObjectIdGetDatum(state.roles[i].roleid));

		if (!HeapTupleIsValid(tuple))
			state.all_databases = true;
		else
		{
			if (strcmp(NameStr(((Form_pg_authid) GETSTRUCT(tuple))->rolname),
					   NameStr(state.roles[i].name)) != 0)
				state.all_databases = true;
			ReleaseSysCache(tuple);
		}
	}
	state.nroles = 0;
	return state.all_databases;
}

/*
 * The databases this transaction created or altered (at pre-commit): each
 * counts as a write to the whole database.  Returns their number.
 */
int
ddl_databases(const Oid **databases)
{
	*databases = state.databases.oids;
	return state.databases.n;
}

/*
 * The transaction ended (its memory goes with it).
 */
void
ddl_reset(void)
{
	memset(&state, 0, sizeof(state));
}
