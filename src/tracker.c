/*-------------------------------------------------------------------------
 *
 * tracker.c
 *	  The near-cache's tracker: a background worker that hears from Redis
 *	  which keys changed, and keeps the near-cache in step.
 *
 * A backend removes the near copies of what it changes itself (store.c).
 * Everything else that changes an entry in Redis (another PostgreSQL
 * server sharing it, a user's DEL or EXPIRE, expiry, eviction, FLUSHDB)
 * reaches the near-cache through this worker, registered when the library
 * is preloaded and cacheaside.local_cache_size is above 0.
 *
 * Protocol.  One connection per server (see "Redis Cluster" below),
 * RESP2, using Redis's client-side caching in broadcasting mode,
 * redirected to itself:
 *
 *	CLIENT SETNAME cacheaside-tracker			for CLIENT LIST
 *	CLIENT ID									its own id
 *	CLIENT TRACKING ON REDIRECT <id> BCAST PREFIX <cacheaside.key_prefix>
 *	SUBSCRIBE __redis__:invalidate
 *
 * From then on Redis pushes a message on that channel whenever a key
 * under the prefix changes in any way, whoever changed it: its payload is
 * the array of keys, or nil when a database was flushed.  Each key's near
 * copy is removed (nil: all of them).  The worker sends a PING every
 * TRACKER_PING_INTERVAL_MS (allowed in the subscribed state of RESP2;
 * answered by a "pong" message).
 *
 * Note about the sync bound.  In broadcast mode Redis does not send the
 * invalidation message of a change before it answers the command that
 * made it: the messages of the changes made during one pass of its event
 * loop are sent at the end of that pass (trackingBroadcastInvalidationMessages
 * in beforeSleep), possibly after a PONG written during the same pass.  So
 * the answer to one PING proves nothing by itself; the answer to the next
 * one does: that PING is sent after the previous PONG arrived, so Redis
 * reads it in a later pass, after the end of the pass in which it received
 * the previous PING, and every message of a change made before the
 * previous PING was sent precedes the next PONG on the connection.  When a
 * PONG arrives, the time the PING before it was sent is written to shared
 * memory as "synced": the near-cache reflects every change made in Redis
 * before it.  Backends serve near copies only while synced is less than
 * NEARCACHE_SYNC_BOUND_MS old (nearcache_usable): a change made in Redis by
 * others is seen within that bound, whatever happens to Redis, the network
 * or this worker.
 *
 * Redis Cluster.  Client-side caching is per server: a connection hears
 * of the changes made on its own node only.  So with a cluster the worker
 * opens one such connection per master of the slot map (CLUSTER SLOTS,
 * loaded and checked by redis.c), at most REDIS_MAX_SUBSCRIBED, each set
 * up as above (its own CLIENT ID, tracking redirected to itself,
 * subscribed).  PINGs go out in rounds, one on every master; a round is
 * answered when every master answered its PING, and the rule above holds
 * master by master, so when a round is answered every change made on any
 * master before the previous round was sent has been applied: that time
 * is "synced".  The near-cache is in step only while all masters are
 * (one sync time for every key, not one per master): which master owns a
 * key changes with the map, and a copy is served only when no master the
 * key may have lived on could have a change not yet heard.
 *
 * The masters followed must stay the masters: each round first loads the
 * slot map again (on a connection of redis.c's node table, never on a
 * subscribed one) and compares it with the map tracking started from.
 * Any difference (slots moved by a reshard, a master added, removed or
 * failed over) is handled as a failure below: flush, and tracking starts
 * again on the new masters.  A master that received slots did not track
 * their keys before (broadcasting mode tracks them from subscription on),
 * so the flush is needed, not just cautious.  Since a round's map is read
 * after the previous round was sent, a change of masters before that time
 * is always seen before that time becomes "synced".
 *
 * Failures.  On any error, unexpected message, missing PONG within
 * TRACKER_PING_TIMEOUT_MS, or change of the connection settings (on
 * SIGHUP), the worker marks itself out of step (backends stop using the
 * near-cache at once), flushes the near-cache and reconnects, with a
 * back-off doubling from TRACKER_BACKOFF_MIN_MS to TRACKER_BACKOFF_MAX_MS.
 * Once tracking is set up again it flushes once more (copies made while
 * nothing was tracked are gone) before its first PING may mark it in step.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "config.h"
#include "nearcache.h"
#include "redis.h"
#include "tracker.h"

#define TRACKER_PING_INTERVAL_MS	100
#define TRACKER_PING_TIMEOUT_MS		1000
/* With Sentinels, how often to ask whether the master was replaced */
#define TRACKER_MASTER_CHECK_MS		1000
#define TRACKER_BACKOFF_MIN_MS		100
#define TRACKER_BACKOFF_MAX_MS		2000

/* Bound on one message: the keys of one invalidation */
#define TRACKER_MESSAGE_LIMIT		(64 * 1024 * 1024)

#define TRACKER_CHANNEL				"__redis__:invalidate"

/* How the worker's connection is named in Redis's CLIENT LIST */
#define TRACKER_CLIENT_NAME			"cacheaside-tracker"

PGDLLEXPORT void tracker_main(Datum arg);

/*
 * Register the worker (from _PG_init, while preloading).
 */
void
tracker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	/* connected to no database: only to be seen in pg_stat_activity */
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "cacheaside");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "tracker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "cacheaside near-cache tracker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "cacheaside near-cache tracker");
	RegisterBackgroundWorker(&worker);
}

/* Out of step and empty: when the worker exits, whatever the reason */
static void
tracker_at_exit(int code, Datum arg)
{
	nearcache_set_synced(0, 0);
	nearcache_flush();
}

/*
 * Set up tracking on subscriber sub: CLIENT ID, then CLIENT TRACKING and
 * SUBSCRIBE in one round trip.  False with the reason in *err.
 */
static bool
tracker_follow_one(int sub, RedisError *err)
{
	RedisRequest req;
	RedisReply *reply;
	long long	id;

	redis_request_init(&req);
	redis_command(&req, 3);
	redis_arg_str(&req, "CLIENT");
	redis_arg_str(&req, "SETNAME");
	redis_arg_str(&req, TRACKER_CLIENT_NAME);
	redis_command(&req, 2);
	redis_arg_str(&req, "CLIENT");
	redis_arg_str(&req, "ID");
	reply = redis_subscriber_execute(sub, &req, 2048, err);
	redis_request_free(&req);
	if (reply == NULL)
		return false;
	if (reply[1].kind != REDIS_KIND_INTEGER)
	{
		snprintf(err->msg, sizeof(err->msg), "Redis refused CLIENT ID: %s",
				 reply[1].kind == REDIS_KIND_ERROR ? reply[1].str : "unexpected reply");
		return false;
	}
	id = reply[1].integer;

	redis_request_init(&req);
	redis_command(&req, 8);
	redis_arg_str(&req, "CLIENT");
	redis_arg_str(&req, "TRACKING");
	redis_arg_str(&req, "ON");
	redis_arg_str(&req, "REDIRECT");
	redis_arg_int(&req, id);
	redis_arg_str(&req, "BCAST");
	redis_arg_str(&req, "PREFIX");
	redis_arg_str(&req, cacheaside_key_prefix);
	redis_command(&req, 2);
	redis_arg_str(&req, "SUBSCRIBE");
	redis_arg_str(&req, TRACKER_CHANNEL);
	reply = redis_subscriber_execute(sub, &req, 4096, err);
	redis_request_free(&req);
	if (reply == NULL)
		return false;
	if (reply[0].kind != REDIS_KIND_STATUS)
	{
		snprintf(err->msg, sizeof(err->msg), "Redis refused CLIENT TRACKING: %s",
				 reply[0].kind == REDIS_KIND_ERROR ? reply[0].str : "unexpected reply");
		return false;
	}
	if (reply[1].kind != REDIS_KIND_ARRAY || reply[1].nelements != 3 ||
		reply[1].elements[0].kind != REDIS_KIND_STRING ||
		strcmp(reply[1].elements[0].str, "subscribe") != 0)
	{
		snprintf(err->msg, sizeof(err->msg), "Redis refused SUBSCRIBE: %s",
				 reply[1].kind == REDIS_KIND_ERROR ? reply[1].str : "unexpected reply");
		return false;
	}
	return true;
}

/*
 * Set up tracking on every master: one subscriber for a single server,
 * one per master of the slot map for a Redis Cluster (*map: the hash of
 * that map, 0 for a single server).  Returns the number of subscribers,
 * or -1 with the reason in *err.
 */
static int
tracker_follow(uint64 *map, RedisError *err)
{
	int			n;

	n = redis_subscribers_open(err);
	if (n < 0)
		return -1;
	*map = redis_slot_map_hash();
	for (int i = 0; i < n; i++)
		if (!tracker_follow_one(i, err))
			return -1;
	return n;
}

/*
 * With a Redis Cluster, is the slot map still the one followed?  Loads it
 * again (CLUSTER SLOTS, on a connection of the node table, not on a
 * subscribed one).  False with the reason in *err.
 */
static bool
tracker_map_unchanged(uint64 map, RedisError *err)
{
	if (map == 0)
		return true;			/* a single server */
	if (redis_masters(err) < 0)
		return false;
	if (redis_slot_map_hash() != map)
	{
		snprintf(err->msg, sizeof(err->msg),
				 "the slot map of the Redis Cluster changed");
		return false;
	}
	return true;
}

/* Send a PING on subscriber sub */
static bool
tracker_ping(int sub, RedisError *err)
{
	RedisRequest req;
	bool		ok;

	redis_request_init(&req);
	redis_command(&req, 1);
	redis_arg_str(&req, "PING");
	ok = redis_subscriber_send(sub, &req, err);
	redis_request_free(&req);
	return ok;
}

/*
 * Apply one invalidation message's payload: the keys changed, or nil (a
 * flush).
 */
static void
tracker_invalidate(const RedisReply *payload)
{
	if (payload->kind == REDIS_KIND_NIL)
	{
		nearcache_flush();
		return;
	}
	/* anything not understood: forget everything, to be safe */
	if (payload->kind != REDIS_KIND_ARRAY)
	{
		nearcache_flush();
		return;
	}
	for (int i = 0; i < payload->nelements; i++)
	{
		if (payload->elements[i].kind == REDIS_KIND_STRING)
			nearcache_remove(payload->elements[i].str,
							 payload->elements[i].len);
		else
		{
			nearcache_flush();
			return;
		}
	}
}

/*
 * Read messages and ping until something fails; returns why in *err.
 * nsubs subscribers are followed (the masters of slot map `map`, or one
 * server: map 0).  *synced_once: a round of PINGs was answered; *lost: an
 * outage was logged (and its end is, at the first answer).
 */
static void
tracker_listen(uint64 target, int nsubs, uint64 map, MemoryContext msgcxt,
			   bool *synced_once, bool *lost, RedisError *err)
{
	TimestampTz round_sent = 0;	/* PINGs of the round out since, or 0 */
	TimestampTz prev_round_sent = 0;	/* of the round answered last */
	bool		pong_due[REDIS_MAX_SUBSCRIBED];
	int			pongs_due = 0;
	TimestampTz master_checked = GetCurrentTimestamp();
	TimestampTz next_ping = GetCurrentTimestamp();

	Assert(nsubs > 0 && nsubs <= REDIS_MAX_SUBSCRIBED);
	memset(pong_due, 0, sizeof(pong_due));

	for (;;)
	{
		TimestampTz now;
		TimestampTz deadline;
		RedisReply *msg;
		bool		timed_out;
		const char *kind;
		int			sub;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			if (redis_settings_changed() || nearcache_target_hash() != target)
			{
				snprintf(err->msg, sizeof(err->msg),
						 "the connection settings changed");
				return;
			}
		}

		now = GetCurrentTimestamp();

		/* with Sentinels: follow a new master even if this one stays up */
		if (round_sent == 0 &&
			now >= TimestampTzPlusMilliseconds(master_checked,
											   TRACKER_MASTER_CHECK_MS))
		{
			master_checked = now;
			if (redis_master_replaced())
			{
				snprintf(err->msg, sizeof(err->msg),
						 "the Sentinels name another master");
				return;
			}
		}

		if (round_sent == 0 && now >= next_ping)
		{
			/*
			 * With a cluster, every round starts by checking the slot map
			 * (see "Redis Cluster" above): when this round is answered, the
			 * round before it counts only if the masters were still the
			 * ones followed after it was sent.
			 */
			if (!tracker_map_unchanged(map, err))
				return;
			round_sent = GetCurrentTimestamp();
			for (int i = 0; i < nsubs; i++)
			{
				if (!tracker_ping(i, err))
					return;
				pong_due[i] = true;
			}
			pongs_due = nsubs;
			now = GetCurrentTimestamp();
		}
		if (round_sent != 0 &&
			now >= TimestampTzPlusMilliseconds(round_sent, TRACKER_PING_TIMEOUT_MS))
		{
			snprintf(err->msg, sizeof(err->msg),
					 "Redis did not answer PING within %d ms",
					 TRACKER_PING_TIMEOUT_MS);
			return;
		}
		deadline = round_sent != 0 ?
			TimestampTzPlusMilliseconds(round_sent, TRACKER_PING_TIMEOUT_MS) :
			next_ping;

		MemoryContextReset(msgcxt);
		msg = redis_subscribers_receive(deadline, TRACKER_MESSAGE_LIMIT, &sub,
										&timed_out, err);
		if (msg == NULL)
		{
			if (timed_out)
				continue;
			return;
		}

		if (msg->kind != REDIS_KIND_ARRAY || msg->nelements < 1 ||
			msg->elements[0].kind != REDIS_KIND_STRING)
		{
			snprintf(err->msg, sizeof(err->msg), "unexpected message from Redis%s%s",
					 msg->kind == REDIS_KIND_ERROR ? ": " : "",
					 msg->kind == REDIS_KIND_ERROR ? msg->str : "");
			return;
		}
		kind = msg->elements[0].str;
		if (strcmp(kind, "message") == 0 && msg->nelements == 3)
			tracker_invalidate(&msg->elements[2]);
		else if (strcmp(kind, "pong") == 0 && pong_due[sub])
		{
			pong_due[sub] = false;
			if (--pongs_due > 0)
				continue;

			/*
			 * Every master answered this round: every change made before
			 * the previous round was sent has been applied (see "the sync
			 * bound" above); the first round only starts the count, and
			 * the next one follows at once.
			 */
			if (prev_round_sent != 0)
			{
				nearcache_set_synced(prev_round_sent, target);
				*synced_once = true;
				if (*lost)
				{
					ereport(LOG,
							(errmsg("cacheaside near-cache tracker: in step with Redis again")));
					*lost = false;
				}
				next_ping = TimestampTzPlusMilliseconds(round_sent,
														TRACKER_PING_INTERVAL_MS);
			}
			else
				next_ping = GetCurrentTimestamp();
			prev_round_sent = round_sent;
			round_sent = 0;
		}
		else if (strcmp(kind, "subscribe") != 0)
		{
			snprintf(err->msg, sizeof(err->msg),
					 "unexpected message from Redis: \"%s\"", kind);
			return;
		}
	}
}

/*
 * The worker: follow Redis, and after any failure start again.
 */
void
tracker_main(Datum arg)
{
	MemoryContext cxt;
	MemoryContext msgcxt;
	int			backoff = TRACKER_BACKOFF_MIN_MS;
	bool		lost = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	before_shmem_exit(tracker_at_exit, (Datum) 0);
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("cacheaside near-cache tracker");

	cxt = AllocSetContextCreate(TopMemoryContext, "cacheaside tracker",
								ALLOCSET_DEFAULT_SIZES);
	msgcxt = AllocSetContextCreate(cxt, "cacheaside tracker message",
								   ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);

	for (;;)
	{
		RedisError	err;
		uint64		target;
		uint64		map = 0;
		int			nsubs;
		bool		synced_once = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(msgcxt);
		MemoryContextSwitchTo(msgcxt);

		target = nearcache_target_hash();
		err.msg[0] = '\0';
		nsubs = tracker_follow(&map, &err);
		if (nsubs > 0)
		{
			/* copies made while nothing was tracked go */
			nearcache_flush();
			tracker_listen(target, nsubs, map, msgcxt, &synced_once, &lost,
						   &err);
		}
		MemoryContextSwitchTo(cxt);

		/* out of step: backends stop using the near-cache at once */
		nearcache_set_synced(0, 0);
		nearcache_flush();
		redis_disconnect();

		if (synced_once)
			backoff = TRACKER_BACKOFF_MIN_MS;
		if (!lost)
		{
			ereport(LOG,
					(errmsg("cacheaside near-cache tracker: not in step with Redis, the near-cache is not used"),
					 errdetail("%s", err.msg),
					 errhint("It is tried again every %d ms at most; queries use Redis meanwhile.",
							 TRACKER_BACKOFF_MAX_MS)));
			lost = true;
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 backoff, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		backoff = Min(backoff * 2, TRACKER_BACKOFF_MAX_MS);
	}
}
