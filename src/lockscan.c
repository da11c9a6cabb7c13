/*-------------------------------------------------------------------------
 *
 * lockscan.c
 *	  The relations this backend holds locks of writing modes on, read
 *	  from the lock manager's shared state.
 *
 * This is the one file of cacheaside tied to the private layout of one
 * PostgreSQL version (15): the fast-path lock slots of PGPROC and the
 * queues of its PROCLOCKs.  lock.c offers no way to list one's own locks,
 * and locks are the one record of every way of writing a relation: DML,
 * MERGE, COPY, TRUNCATE, cascades and triggers, writes in functions, DDL,
 * logical replication apply, and extensions' own writes.
 *
 * Writing modes are RowExclusiveLock and stronger, save
 * ShareUpdateExclusiveLock and ShareLock, which VACUUM, ANALYZE and CREATE
 * INDEX take.  ShareUpdateExclusiveLock is also what ATTACH and DETACH
 * PARTITION (CONCURRENTLY) take, which change what the parent returns: the
 * relations locked in that mode are returned apart, and writeset.c decides
 * whether they were written.
 *
 * Note about locking.  Another backend may move our fast-path locks to the
 * main lock table, which it does only while holding our fpInfoLock, so
 * holding that lock for the whole scan sees every lock exactly once.
 * Nothing is allocated while LWLocks are held.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/pg_inherits.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"

#include "lockscan.h"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 160000
#error "lockscan.c reads the lock manager's per-backend state as laid out in PostgreSQL 15"
#endif

/*
 * How lock.c packs fast-path locks into PGPROC.fpLockBits (PostgreSQL 15):
 * three bits per slot, one per weak lock mode, AccessShareLock first.
 */
#define FP_BITS_PER_SLOT	3
#define FP_LOCKNUMBER_OFFSET 1
#define FP_GET_BITS(proc, n) \
	(((proc)->fpLockBits >> (FP_BITS_PER_SLOT * (n))) & ((1 << FP_BITS_PER_SLOT) - 1))
#define FP_HOLDS(bits, mode) \
	(((bits) & (1 << ((mode) - FP_LOCKNUMBER_OFFSET))) != 0)

/* Lock modes that writing a relation, or changing its definition, takes */
#define WRITE_LOCK_MASK \
	(LOCKBIT_ON(RowExclusiveLock) | LOCKBIT_ON(ShareRowExclusiveLock) | \
	 LOCKBIT_ON(ExclusiveLock) | LOCKBIT_ON(AccessExclusiveLock))

/* Is lock a relation lock of this database? */
static inline bool
relation_lock_here(const LOCK *lock)
{
	return lock->tag.locktag_type == LOCKTAG_RELATION &&
		lock->tag.locktag_lockmethodid == DEFAULT_LOCKMETHOD &&
		lock->tag.locktag_field1 == MyDatabaseId;
}

/*
 * Add to written the user relations of this database on which this
 * backend holds a lock of a writing mode, and to sue those on which it
 * holds ShareUpdateExclusiveLock (and none of a writing mode); set
 * *inherits_locked when it holds a writing lock on pg_inherits.  Returns
 * false if there were more than LOCKSCAN_MAX_RELATIONS of either (the
 * caller then treats the whole database as written).
 */
bool
lockscan_write_locks(OidArray *written, OidArray *sue_locked,
					 bool *inherits_locked)
{
	Oid			found[LOCKSCAN_MAX_RELATIONS];
	int			nfound = 0;
	Oid			sue[LOCKSCAN_MAX_RELATIONS];	/* ShareUpdateExclusiveLock */
	int			nsue = 0;
	bool		inherits_written = false;
	bool		overflow = false;

	LWLockAcquire(&MyProc->fpInfoLock, LW_SHARED);

	for (int f = 0; f < FP_LOCK_SLOTS_PER_BACKEND; f++)
	{
		uint64		bits = FP_GET_BITS(MyProc, f);

		/* fast-path locks are weak: only RowExclusiveLock writes */
		if (FP_HOLDS(bits, RowExclusiveLock))
		{
			found[nfound++] = MyProc->fpRelId[f];
			if (MyProc->fpRelId[f] == InheritsRelationId)
				inherits_written = true;
		}
	}

	for (int p = 0; p < NUM_LOCK_PARTITIONS && !overflow; p++)
	{
		SHM_QUEUE  *procLocks = &MyProc->myProcLocks[p];
		PROCLOCK   *proclock;

		if (SHMQueueNext(procLocks, procLocks,
						 offsetof(PROCLOCK, procLink)) == NULL)
			continue;

		LWLockAcquire(LockHashPartitionLockByIndex(p), LW_SHARED);
		proclock = (PROCLOCK *) SHMQueueNext(procLocks, procLocks,
											 offsetof(PROCLOCK, procLink));
		while (proclock != NULL)
		{
			LOCK	   *lock = proclock->tag.myLock;

			if (relation_lock_here(lock) &&
				(proclock->holdMask & WRITE_LOCK_MASK) != 0)
			{
				if (nfound == LOCKSCAN_MAX_RELATIONS)
				{
					overflow = true;
					break;
				}
				found[nfound++] = (Oid) lock->tag.locktag_field2;
				if (lock->tag.locktag_field2 == InheritsRelationId)
					inherits_written = true;
			}
			else if (relation_lock_here(lock) &&
					 (proclock->holdMask &
					  LOCKBIT_ON(ShareUpdateExclusiveLock)) != 0)
			{
				if (nsue == LOCKSCAN_MAX_RELATIONS)
				{
					overflow = true;
					break;
				}
				sue[nsue++] = (Oid) lock->tag.locktag_field2;
			}
			proclock = (PROCLOCK *) SHMQueueNext(procLocks, &proclock->procLink,
												 offsetof(PROCLOCK, procLink));
		}
		LWLockRelease(LockHashPartitionLockByIndex(p));
	}

	LWLockRelease(&MyProc->fpInfoLock);

	for (int i = 0; i < nfound; i++)
		if (found[i] >= FirstNormalObjectId)
			oid_array_add(written, found[i]);
	for (int i = 0; i < nsue; i++)
		if (sue[i] >= FirstNormalObjectId)
			oid_array_add(sue_locked, sue[i]);
	*inherits_locked = inherits_written;
	return !overflow;
}
