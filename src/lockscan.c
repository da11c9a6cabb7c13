/*-------------------------------------------------------------------------
 *
 * lockscan.c
 *	  The relations this backend holds locks of writing modes on, read
 *	  from the lock manager's shared state.
 *
 * This is the one file of cacheaside tied to the private layout of the
 * lock manager, which changes between PostgreSQL versions: the fast-path
 * lock slots of PGPROC and the lists of its PROCLOCKs.  lock.c offers no
 * way to list one's own locks, and locks are the one record of every way
 * of writing a relation: DML, MERGE, COPY, TRUNCATE, cascades and
 * triggers, writes in functions, DDL, logical replication apply, and
 * extensions' own writes.
 *
 * The layouts read, as lock.c and proc.h define them:
 *
 *	15		fpLockBits is one uint64 of 16 slots (FP_LOCK_SLOTS_PER_BACKEND)
 *			of three bits, fpRelId their relations; myProcLocks[] are
 *			SHM_QUEUEs linked through PROCLOCK.procLink.
 *	16, 17	the same fast-path slots; myProcLocks[] are dlists.
 *	18		the fast-path slots come in FastPathLockGroupsPerBackend groups
 *			of 16 (set from max_locks_per_transaction at start): fpLockBits
 *			and fpRelId point to arrays, one uint64 of bits per group;
 *			myProcLocks[] are dlists.
 *
 * Any other version stops the build: a layout read wrongly would lose
 * writes silently, so a new version is only built once this file has been
 * checked against its lock.c.
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

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 190000
#error "lockscan.c reads the lock manager's per-backend state as laid out in PostgreSQL 15 to 18"
#endif

/*
 * How lock.c packs fast-path locks into PGPROC.fpLockBits: three bits per
 * slot, one per weak lock mode, AccessShareLock first.  From 18 on, slot n
 * is slot n % 16 of group n / 16, each group one uint64.
 */
#define FP_BITS_PER_SLOT	3
#define FP_LOCKNUMBER_OFFSET 1
#define FP_SLOT_MASK		((1 << FP_BITS_PER_SLOT) - 1)
#if PG_VERSION_NUM >= 180000
#define FP_SLOTS()			((int) FastPathLockSlotsPerBackend())
#define FP_GET_BITS(proc, n) \
	(((proc)->fpLockBits[(n) / FP_LOCK_SLOTS_PER_GROUP] >> \
	  (FP_BITS_PER_SLOT * ((n) % FP_LOCK_SLOTS_PER_GROUP))) & FP_SLOT_MASK)
#else
#define FP_SLOTS()			FP_LOCK_SLOTS_PER_BACKEND
#define FP_GET_BITS(proc, n) \
	(((proc)->fpLockBits >> (FP_BITS_PER_SLOT * (n))) & FP_SLOT_MASK)
#endif
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

/* What a scan has found so far */
typedef struct LockScan
{
	Oid			found[LOCKSCAN_MAX_RELATIONS];	/* writing modes */
	int			nfound;
	Oid			sue[LOCKSCAN_MAX_RELATIONS];	/* ShareUpdateExclusiveLock */
	int			nsue;
	bool		inherits_written;
	bool		overflow;
} LockScan;

/*
 * Note what one PROCLOCK of this backend holds.  Returns false once there
 * are more relations than the scan can tell apart.
 */
static bool
note_proclock(const PROCLOCK *proclock, LockScan *scan)
{
	const LOCK *lock = proclock->tag.myLock;

	if (!relation_lock_here(lock))
		return true;
	if ((proclock->holdMask & WRITE_LOCK_MASK) != 0)
	{
		if (scan->nfound == LOCKSCAN_MAX_RELATIONS)
		{
			scan->overflow = true;
			return false;
		}
		scan->found[scan->nfound++] = (Oid) lock->tag.locktag_field2;
		if (lock->tag.locktag_field2 == InheritsRelationId)
			scan->inherits_written = true;
	}
	else if ((proclock->holdMask & LOCKBIT_ON(ShareUpdateExclusiveLock)) != 0)
	{
		if (scan->nsue == LOCKSCAN_MAX_RELATIONS)
		{
			scan->overflow = true;
			return false;
		}
		scan->sue[scan->nsue++] = (Oid) lock->tag.locktag_field2;
	}
	return true;
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
	LockScan	scan_data;
	LockScan   *scan = &scan_data;

	scan->nfound = 0;
	scan->nsue = 0;
	scan->inherits_written = false;
	scan->overflow = false;

	LWLockAcquire(&MyProc->fpInfoLock, LW_SHARED);

	for (int f = 0; f < FP_SLOTS() && !scan->overflow; f++)
	{
		uint64		bits = FP_GET_BITS(MyProc, f);

		/* fast-path locks are weak: only RowExclusiveLock writes */
		if (FP_HOLDS(bits, RowExclusiveLock))
		{
			if (scan->nfound == LOCKSCAN_MAX_RELATIONS)
			{
				scan->overflow = true;
				break;
			}
			scan->found[scan->nfound++] = MyProc->fpRelId[f];
			if (MyProc->fpRelId[f] == InheritsRelationId)
				scan->inherits_written = true;
		}
	}

	for (int p = 0; p < NUM_LOCK_PARTITIONS && !scan->overflow; p++)
	{
#if PG_VERSION_NUM >= 160000
		dlist_head *procLocks = &MyProc->myProcLocks[p];
		dlist_iter	iter;

		if (dlist_is_empty(procLocks))
			continue;
		LWLockAcquire(LockHashPartitionLockByIndex(p), LW_SHARED);
		dlist_foreach(iter, procLocks)
		{
			if (!note_proclock(dlist_container(PROCLOCK, procLink, iter.cur),
							   scan))
				break;
		}
#else
		SHM_QUEUE  *procLocks = &MyProc->myProcLocks[p];
		PROCLOCK   *proclock;

		if (SHMQueueNext(procLocks, procLocks,
						 offsetof(PROCLOCK, procLink)) == NULL)
			continue;
		LWLockAcquire(LockHashPartitionLockByIndex(p), LW_SHARED);
		proclock = (PROCLOCK *) SHMQueueNext(procLocks, procLocks,
											 offsetof(PROCLOCK, procLink));
		while (proclock != NULL && note_proclock(proclock, scan))
			proclock = (PROCLOCK *) SHMQueueNext(procLocks, &proclock->procLink,
												 offsetof(PROCLOCK, procLink));
#endif
		LWLockRelease(LockHashPartitionLockByIndex(p));
	}

	LWLockRelease(&MyProc->fpInfoLock);

	for (int i = 0; i < scan->nfound; i++)
		if (scan->found[i] >= FirstNormalObjectId)
			oid_array_add(written, scan->found[i]);
	for (int i = 0; i < scan->nsue; i++)
		if (scan->sue[i] >= FirstNormalObjectId)
			oid_array_add(sue_locked, scan->sue[i]);
	*inherits_locked = scan->inherits_written;
	return !scan->overflow;
}
