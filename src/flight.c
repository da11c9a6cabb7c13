/*-------------------------------------------------------------------------
 *
 * flight.c
 *	  Fills in progress, shared between backends: one query per cold entry.
 *
 * Entries belong to one cluster, so the sessions that miss the same entry
 * at once (the same Redis key and fingerprint, given as a 64-bit hash) can
 * agree in shared memory on one of them to run the query.  A table of
 * slots, one per fill in progress, is searched under one LWLock (only
 * misses come here).  The first backend to miss claims a slot and fills;
 * the others find the slot and wait on its condition variable, at most
 * cacheaside.fill_wait, then read the entry the filler stored (the caller
 * checks it as any hit: fingerprint, commits, its own writes and snapshot,
 * privileges).  A filler whose result was not stored, that failed, was
 * cancelled or exited says so at once; its waiters then run the query
 * themselves.
 *
 * Note about the slots' lifetime.  A filler frees its slot as soon as it
 * ends (so no slot can leak through a waiter that never comes back), and
 * leaves in it the outcome of that fill, named by the slot's generation,
 * which every claim advances.  A waiter that wakes up finds either its
 * fill still running, or its outcome; if the slot has been claimed and
 * ended again meanwhile, the outcome is lost and the waiter runs the query
 * itself: a rare extra run, never a wrong result.  A backend records the
 * slots it fills, so that an error, the end of the transaction and exit
 * free them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "flight.h"

#define FLIGHT_LOCK_TRANCHE		"cacheaside fills"

/*
 * This backend's number among the PGPROCs, which names a slot's filler:
 * MyProc->pgprocno up to 16, MyProcNumber (a ProcNumber) from 17 on.
 */
#if PG_VERSION_NUM >= 170000
#define MY_PROC_NUMBER			MyProcNumber
#define NO_PROC_NUMBER			INVALID_PROC_NUMBER
#else
#define MY_PROC_NUMBER			(MyProc->pgprocno)
#define NO_PROC_NUMBER			INVALID_PGPROCNO
#endif

/* Most fills one backend can have in progress at once (nested calls) */
#define FLIGHT_MAX_OWNED		16

/* How often a waiter looks whether its filler waits for a lock */
#define FLIGHT_LOCK_CHECK_MS	10

typedef struct FlightSlot
{
	uint64		hash;			/* of the entry being filled; 0: free */
	uint32		generation;		/* advanced by every claim */
	int			owner;			/* proc number of the filler */
	uint32		done_generation;	/* the last fill that ended here... */
	bool		done_stored;	/* ...and whether its result was stored */
	ConditionVariable cv;		/* signalled when a fill ends */
} FlightSlot;

/*
 * Entries whose last fill ended with a result that could not be stored
 * (read under row-level security, uncacheable, too large): sessions that
 * miss them do not wait for each other's fills, which would only delay
 * them, for FLIGHT_UNSTORABLE_MS or until a fill of theirs is stored.
 */
#define FLIGHT_UNSTORABLE_MARKS	64
#define FLIGHT_UNSTORABLE_MS	60000

typedef struct FlightMark
{
	uint64		hash;			/* 0: none */
	TimestampTz until;
} FlightMark;

typedef struct FlightTable
{
	LWLock	   *lock;
	int			next_mark;		/* the mark to replace next */
	FlightMark	marks[FLIGHT_UNSTORABLE_MARKS];
	int			nslots;
	FlightSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} FlightTable;

static FlightTable *table = NULL;

/* The slots this backend fills */
typedef struct FlightOwned
{
	int			slot;
	uint32		generation;
} FlightOwned;

static FlightOwned owned[FLIGHT_MAX_OWNED];
static int	nowned = 0;
static bool exit_callback_registered = false;


/* ----------------------------------------------------------------
 * Shared memory
 * ----------------------------------------------------------------
 */

static int
flight_nslots(void)
{
	return 2 * MaxBackends + 16;
}

Size
flight_shmem_size(void)
{
	return add_size(offsetof(FlightTable, slots),
					mul_size(flight_nslots(), sizeof(FlightSlot)));
}

void
flight_shmem_request(void)
{
	RequestNamedLWLockTranche(FLIGHT_LOCK_TRANCHE, 1);
}

/*
 * Attach to the table, making it at the first start.  Called with
 * AddinShmemInitLock held.
 */
void
flight_shmem_init(void)
{
	bool		found;

	table = ShmemInitStruct("cacheaside fills", flight_shmem_size(), &found);
	if (found)
		return;
	table->lock = &(GetNamedLWLockTranche(FLIGHT_LOCK_TRANCHE))->lock;
	table->next_mark = 0;
	memset(table->marks, 0, sizeof(table->marks));
	table->nslots = flight_nslots();
	for (int i = 0; i < table->nslots; i++)
	{
		FlightSlot *s = &table->slots[i];

		s->hash = 0;
		s->generation = 0;
		s->owner = NO_PROC_NUMBER;
		s->done_generation = 0;
		s->done_stored = false;
		ConditionVariableInit(&s->cv);
	}
}

/*
 * Can sessions wait for each other's fills?  Only with the library
 * preloaded.
 */
bool
flight_enabled(void)
{
	return table != NULL;
}


/* ----------------------------------------------------------------
 * Fills
 * ----------------------------------------------------------------
 */

/*
 * End the fill in slot i of generation gen, if it is still that one, with
 * its outcome, and wake its waiters.  Called without the lock.
 */
static void
flight_finish(int i, uint32 gen, bool stored)
{
	FlightSlot *s = &table->slots[i];
	bool		ended = false;

	LWLockAcquire(table->lock, LW_EXCLUSIVE);
	if (s->hash != 0 && s->generation == gen && s->owner == MY_PROC_NUMBER)
	{
		s->done_generation = gen;
		s->done_stored = stored;
		s->hash = 0;
		s->owner = NO_PROC_NUMBER;
		ended = true;
	}
	LWLockRelease(table->lock);
	if (ended)
		ConditionVariableBroadcast(&s->cv);
}

static void
flight_at_exit(int code, Datum arg)
{
	flight_release_all();
}

/*
 * End every fill this backend has in progress, as not stored: at the end
 * of a transaction, and at exit.  Their waiters run the query themselves.
 */
void
flight_release_all(void)
{
	while (nowned > 0)
	{
		nowned--;
		flight_finish(owned[nowned].slot, owned[nowned].generation, false);
	}
}

/*
 * Wait, at most until deadline, for the fill of generation gen in slot i
 * to end.  Returns true when it ended with its result stored.
 *
 * A filler that waits for a heavyweight lock is not waited for: the lock
 * may be held by this backend (a transaction that read the table, a
 * session's advisory lock), directly or behind a third session's request
 * queued in between, and PostgreSQL's deadlock detector does not see a
 * wait on a condition variable.  The waiter then runs the query itself,
 * as it would without the cache.  So the filler's lock wait is looked at
 * every FLIGHT_LOCK_CHECK_MS.
 */
static bool
flight_wait(int i, uint32 gen, TimestampTz deadline)
{
	FlightSlot *s = &table->slots[i];
	bool		stored = false;

	ConditionVariablePrepareToSleep(&s->cv);
	for (;;)
	{
		long		timeout;
		bool		running;
		int			owner = NO_PROC_NUMBER;

		LWLockAcquire(table->lock, LW_SHARED);
		running = (s->hash != 0 && s->generation == gen);
		if (running)
			owner = s->owner;
		else
			stored = (s->done_generation == gen && s->done_stored);
		LWLockRelease(table->lock);
		if (!running)
			break;

		/* read without its lock: a stale answer costs a slice at most */
		if (owner != NO_PROC_NUMBER &&
			GetPGProcByNumber(owner)->waitLock != NULL)
			break;				/* it waits for a lock: run it ourselves */

		timeout = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
												  deadline);
		if (timeout <= 0)
			break;				/* fill_wait is over: run it ourselves */
		/* interruptible: cancel, timeouts and termination act here */
		(void) ConditionVariableTimedSleep(&s->cv,
										   Min(timeout, FLIGHT_LOCK_CHECK_MS),
										   PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	return stored;
}

/* Is hash marked as not storable?  With the lock held. */
static bool
flight_marked(uint64 hash)
{
	TimestampTz now = 0;

	for (int i = 0; i < FLIGHT_UNSTORABLE_MARKS; i++)
	{
		if (table->marks[i].hash != hash)
			continue;
		if (now == 0)
			now = GetCurrentTimestamp();
		return table->marks[i].until > now;
	}
	return false;
}

/*
 * Mark hash as not storable, or (unstorable false) remove its mark.
 */
static void
flight_mark(uint64 hash, bool unstorable)
{
	int			found = -1;

	LWLockAcquire(table->lock, LW_EXCLUSIVE);
	for (int i = 0; i < FLIGHT_UNSTORABLE_MARKS; i++)
		if (table->marks[i].hash == hash)
			found = i;
	if (unstorable)
	{
		if (found < 0)
		{
			found = table->next_mark;
			table->next_mark = (table->next_mark + 1) % FLIGHT_UNSTORABLE_MARKS;
		}
		table->marks[found].hash = hash;
		table->marks[found].until =
			TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										FLIGHT_UNSTORABLE_MS);
	}
	else if (found >= 0)
		table->marks[found].hash = 0;
	LWLockRelease(table->lock);
}

/*
 * A fill of the entry named by hash, by this backend, ended (shared with
 * waiters or not): stored, not storable (for a reason every session would
 * meet), or neither.  Keeps the marks of flight_marked.
 */
void
flight_outcome(uint64 hash, bool stored, bool unstorable)
{
	if (table == NULL)
		return;
	if (hash == 0)
		hash = 1;
	if (unstorable)
		flight_mark(hash, true);
	else if (stored)
	{
		bool		marked;

		LWLockAcquire(table->lock, LW_SHARED);
		marked = flight_marked(hash);
		LWLockRelease(table->lock);
		if (marked)
			flight_mark(hash, false);
	}
}

/*
 * A miss of the entry named by hash.  When another backend is filling it
 * and wait_ms is above 0, wait for that fill (at most wait_ms) and return
 * FLIGHT_WAITED, with *stored telling whether its result was stored and
 * *waited_ms how long it took.  Else claim a slot and return
 * FLIGHT_FILLER: the caller fills, and must call flight_end (an error, the
 * end of the transaction or exit do it for it).  FLIGHT_NONE when the
 * table is full, or when this backend is itself filling that entry.
 */
FlightRole
flight_begin(uint64 hash, int wait_ms, bool *stored, double *waited_ms)
{
	int			free_slot = -1;
	int			filling = -1;
	uint32		gen = 0;
	TimestampTz start;

	*stored = false;
	*waited_ms = 0;
	if (table == NULL || nowned == FLIGHT_MAX_OWNED)
		return FLIGHT_NONE;
	if (hash == 0)
		hash = 1;				/* 0 marks a free slot */
	if (!exit_callback_registered)
	{
		before_shmem_exit(flight_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}

	LWLockAcquire(table->lock, LW_EXCLUSIVE);
	if (flight_marked(hash))
	{
		LWLockRelease(table->lock);
		return FLIGHT_NONE;		/* its results are not stored: no waiting */
	}
	for (int i = 0; i < table->nslots; i++)
	{
		FlightSlot *s = &table->slots[i];

		if (s->hash == hash)
		{
			filling = i;
			break;
		}
		if (s->hash == 0 && free_slot < 0)
			free_slot = i;
	}
	if (filling >= 0)
	{
		FlightSlot *s = &table->slots[filling];
		bool		mine = (s->owner == MY_PROC_NUMBER);

		gen = s->generation;
		LWLockRelease(table->lock);
		if (mine || wait_ms <= 0)
			return FLIGHT_NONE;

		start = GetCurrentTimestamp();
		*stored = flight_wait(filling, gen,
							  TimestampTzPlusMilliseconds(start, wait_ms));
		*waited_ms = (double) TimestampDifferenceMilliseconds(start,
															  GetCurrentTimestamp());
		return FLIGHT_WAITED;
	}
	if (free_slot < 0)
	{
		LWLockRelease(table->lock);
		return FLIGHT_NONE;		/* full: fill without telling anyone */
	}

	/* claim it; nothing below can fail before it is recorded as owned */
	table->slots[free_slot].hash = hash;
	table->slots[free_slot].generation++;
	table->slots[free_slot].owner = MY_PROC_NUMBER;
	gen = table->slots[free_slot].generation;
	owned[nowned].slot = free_slot;
	owned[nowned].generation = gen;
	nowned++;
	LWLockRelease(table->lock);
	return FLIGHT_FILLER;
}

/*
 * How many fills are in progress in the cluster, or -1 without the table.
 */
int
flight_in_progress(void)
{
	int			n = 0;

	if (table == NULL)
		return -1;
	LWLockAcquire(table->lock, LW_SHARED);
	for (int i = 0; i < table->nslots; i++)
		if (table->slots[i].hash != 0)
			n++;
	LWLockRelease(table->lock);
	return n;
}

/*
 * The fill of hash, claimed by flight_begin, is over: stored or not.
 */
void
flight_end(uint64 hash, bool stored)
{
	if (hash == 0)
		hash = 1;
	for (int k = nowned - 1; k >= 0; k--)
	{
		FlightSlot *s = &table->slots[owned[k].slot];

		if (s->hash != hash)
			continue;
		flight_finish(owned[k].slot, owned[k].generation, stored);
		owned[k] = owned[--nowned];
		return;
	}
}
