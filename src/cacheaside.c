/*-------------------------------------------------------------------------
 *
 * cacheaside.c
 *	  Module entry point: wires the parts of cacheaside together.
 *
 * The architecture, one job per file, from the SQL functions down:
 *
 *	cache_query.c	cache_aside_query(): the cache-aside logic
 *	cache_admin.c	cache_invalidate() (and its repeat after commit),
 *					cache_get_ttl(), cache_set_ttl(), cache_dependencies()
 *	cache_status.c	cache_status(): connection, back-off, preloading, epoch
 *	stats.c			statistics of calls in shared memory, cache_stats and
 *					cache_stats_reset()
 *	flight.c		fills in progress shared between backends: one query
 *					per cold entry, the others wait
 *	fill.c			recording what a query reads while its result is
 *					computed, and whether that result may be stored
 *	validity.c		whether an entry may be served, or a result stored, in
 *					this transaction
 *	commits.c		this backend's writing transactions, recorded in the
 *					commit ledger at pre-commit, commit, prepare and abort
 *	writeset.c		what this transaction wrote: relations and ancestors
 *	lockscan.c		the relations this backend holds writing locks on, read
 *					from the lock manager's shared state (the one file tied
 *					to its private layout, which differs between versions)
 *	prepared.c		the registry of prepared transactions that wrote
 *	invalidations.c	this backend's cache_invalidate calls, recorded in the
 *					ledger (keys) and the ring of patterns at the call,
 *					pre-commit, commit and abort
 *	ledger.c		the commit ledger in shared memory
 *	patterns.c		the recent glob patterns of cache_invalidate
 *	ledger_save.c	the ledger kept across a clean restart
 *	privs.c			privilege checks: encoded from what a query passes,
 *					made again on hits
 *	store.c			the entry store: entries in Redis by name, the failure
 *					policy
 *	nearcache.c		the near-cache: copies of Redis values in shared memory
 *	tracker.c		the background worker that keeps the near-cache in step
 *					with changes made in Redis by others
 *	redis.c			the transport to Redis (the only file that includes
 *					hiredis)
 *	keyspace.c		Redis key names and glob escaping
 *	entry.c			the binary entry format (offsets in entry.h)
 *	fingerprint.c	what identifies the computation behind an entry
 *	query.c			read-only check and execution of a query into JSON
 *	untyped.c		parameters sent without a type: typed cache_untyped
 *					at parse analysis, their types inferred from the
 *					cached SQL
 *	config.c		the cacheaside.* settings
 *
 * This file installs every hook and callback, in one place, and does
 * nothing else: each hook hands what it sees to the module that uses it
 * and chains to the hook installed before it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "optimizer/planner.h"
#include "parser/analyze.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/inval.h"

#include "cache_admin.h"
#include "commits.h"
#include "config.h"
#include "ddl.h"
#include "fill.h"
#include "fingerprint.h"
#include "flight.h"
#include "invalidations.h"
#include "ledger.h"
#include "ledger_save.h"
#include "nearcache.h"
#include "patterns.h"
#include "prepared.h"
#include "privs.h"
#include "stats.h"
#include "untyped.h"
#include "tracker.h"
#include "writeset.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Hooks installed before ours */
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static planner_hook_type prev_planner_hook = NULL;
static object_access_hook_type prev_object_access_hook = NULL;
static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;


/* ----------------------------------------------------------------
 * Shared memory (preloaded only)
 * ----------------------------------------------------------------
 */

static void
cacheaside_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(add_size(add_size(ledger_shmem_size(),
													  prepared_shmem_size()),
											 add_size(stats_shmem_size(),
													  flight_shmem_size())),
									add_size(nearcache_shmem_size(),
											 patterns_shmem_size())));
	patterns_shmem_request();
	stats_shmem_request();
	flight_shmem_request();
	nearcache_shmem_request();
}

static void
cacheaside_shmem_startup(void)
{
	bool		made;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	made = ledger_shmem_init();
	patterns_shmem_init();
	prepared_shmem_init();
	stats_shmem_init();
	flight_shmem_init();
	nearcache_shmem_init();
	LWLockRelease(AddinShmemInitLock);

	/* in the postmaster: the ledger of the last clean shutdown, if any */
	if (made && !IsUnderPostmaster)
		ledger_save_startup();
}


/* ----------------------------------------------------------------
 * What queries do, for the fills in progress (fill.c)
 * ----------------------------------------------------------------
 */

static void
cacheaside_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	fill_executor_start(queryDesc);
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* ExecutorRun lost its execute_once argument in PostgreSQL 18 */
#if PG_VERSION_NUM >= 180000
static void
cacheaside_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
					   uint64 count)
{
	fill_executor_run(queryDesc);
	if (prev_ExecutorRun)
		prev_ExecutorRun(queryDesc, direction, count);
	else
		standard_ExecutorRun(queryDesc, direction, count);
}
#else
static void
cacheaside_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
					   uint64 count, bool execute_once)
{
	fill_executor_run(queryDesc);
	if (prev_ExecutorRun)
		prev_ExecutorRun(queryDesc, direction, count, execute_once);
	else
		standard_ExecutorRun(queryDesc, direction, count, execute_once);
}
#endif

static void
cacheaside_ExecutorEnd(QueryDesc *queryDesc)
{
	fill_executor_end(queryDesc);
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

static PlannedStmt *
cacheaside_planner(Query *parse, const char *query_string, int cursorOptions,
				   ParamListInfo boundParams)
{
	fill_planner(parse);
	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursorOptions,
								 boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

static void
cacheaside_object_access(ObjectAccessType access, Oid classId, Oid objectId,
						 int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access == OAT_POST_CREATE || access == OAT_DROP ||
		access == OAT_POST_ALTER)
	{
		fingerprint_objects_changed();
		ddl_note(access, classId, objectId, subId, arg);
	}
	fill_object_access(access, objectId, arg);
}


/* ----------------------------------------------------------------
 * Statements with parameters sent without a type (untyped.c)
 * ----------------------------------------------------------------
 */

/*
 * Parameters a driver sent without a type, given to cache_aside_query:
 * typed cache_untyped after the hooks before ours saw the statement.
 * Installed in every backend that loads the library, preloaded or not: a
 * session that has not loaded it yet parses without it (README).
 */
static void
cacheaside_post_parse_analyze(ParseState *pstate, Query *query,
							  JumbleState *jstate)
{
	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(pstate, query, jstate);
	untyped_post_parse_analyze(pstate, query);
}


/* ----------------------------------------------------------------
 * The ends of transactions
 * ----------------------------------------------------------------
 */

/*
 * One callback for every part that acts at the ends of a transaction, in
 * this order:
 *
 *	pre-prepare	cache_invalidate's refusal first, before anything is
 *				recorded; then the ledger's record of the prepared
 *				transaction.
 *	pre-commit	what the transaction wrote, then what it invalidated, is
 *				marked in flight.
 *	commit		the ledger first: the commit and its invalidations are
 *				recorded, so that no entry of what it wrote or invalidated
 *				is served or stored any more; only then cache_invalidate's
 *				repeat in Redis, which waits on Redis and which a
 *				concurrent refill must not be able to undo.
 *	end			then any fill left behind by an error is forgotten, and
 *				any fill other sessions wait for is ended (as not stored).
 */
static void
cacheaside_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			commits_pre_commit();
			invalidations_pre_commit();
			break;
		case XACT_EVENT_PRE_PREPARE:
			cache_admin_pre_prepare();
			commits_pre_prepare();
			break;
		case XACT_EVENT_COMMIT:
			commits_commit();
			ddl_reset();
			fingerprint_committed();
			invalidations_commit();
			cache_admin_commit();
			fill_reset();
			flight_release_all();
			break;
		case XACT_EVENT_PREPARE:
			commits_prepare();
			ddl_reset();
			fingerprint_committed();
			invalidations_forget();
			cache_admin_forget();
			fill_reset();
			flight_release_all();
			break;
		case XACT_EVENT_ABORT:
			commits_abort();
			ddl_reset();
			fingerprint_rolled_back(true);
			invalidations_forget();
			cache_admin_forget();
			fill_reset();
			flight_release_all();
			break;
		default:
			break;
	}
}


/*
 * A subtransaction rolled back: it may bring back a temporary object that
 * hid another (fingerprint.c).
 */
static void
cacheaside_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		fingerprint_rolled_back(false);
}

/* ----------------------------------------------------------------
 * Set-up
 * ----------------------------------------------------------------
 */

/*
 * Every backend that loads the library records fills and repeats
 * invalidations; shared memory (the ledger and the registry of prepared
 * transactions) and the cache of parents need shared_preload_libraries.
 */
void
_PG_init(void)
{
	config_define_gucs();

	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = cacheaside_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = cacheaside_ExecutorRun;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = cacheaside_ExecutorEnd;
	prev_planner_hook = planner_hook;
	planner_hook = cacheaside_planner;
	prev_object_access_hook = object_access_hook;
	object_access_hook = cacheaside_object_access;
	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = cacheaside_post_parse_analyze;
	RegisterXactCallback(cacheaside_xact_callback, NULL);
	RegisterSubXactCallback(cacheaside_subxact_callback, NULL);
	privs_init();

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = cacheaside_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = cacheaside_shmem_startup;
	CacheRegisterRelcacheCallback(writeset_relcache_callback, (Datum) 0);
	if (cacheaside_local_cache_size > 0)
		tracker_register();
}
