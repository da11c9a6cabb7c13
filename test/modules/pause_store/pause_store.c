/*-------------------------------------------------------------------------
 *
 * pause_store.c
 *	  For tests only: hold a fill of cache_aside_query after it decided
 *	  that its result may be stored and before it writes it to Redis.
 *
 * cacheaside calls the function found in the rendezvous variable
 * "cacheaside_before_store" (find_rendezvous_variable) at that point; this
 * library puts its own there when it is loaded.  A session that sets
 * pause_store.lock to a number other than 0 takes the shared
 * transaction-level advisory lock of that number there, so that it waits
 * while another session holds the lock in exclusive mode: the isolation
 * tester sees it blocked, and other sessions can commit and invalidate
 * meanwhile.  That window is otherwise microseconds wide.
 *
 * Load it with LOAD 'pause_store' in the session that fills.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

typedef void (*before_store_function) (const char *key);

static int	pause_lock = 0;

static void
pause_before_store(const char *key)
{
	if (pause_lock != 0)
		(void) DirectFunctionCall1(pg_advisory_xact_lock_shared_int8,
								   Int64GetDatum((int64) pause_lock));
}

void
_PG_init(void)
{
	before_store_function *hook;

	DefineCustomIntVariable("pause_store.lock",
							"Fills of this session wait on this advisory lock before they store.",
							"0 disables the wait.",
							&pause_lock,
							0, 0, INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("pause_store");
	hook = (before_store_function *) find_rendezvous_variable("cacheaside_before_store");
	*hook = pause_before_store;
}
