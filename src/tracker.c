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
 * Protocol.  One connection, RESP2, using Redis's client-side caching in
 * broadcasting mode, redirected to itself:
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
 * Set up tracking on a new connection: CLIENT ID, then CLIENT TRACKING
 * and SUBSCRIBE in one round trip.  False with the reason in *err.
 */
static bool
tracker_follow(RedisError *err)
{
	RedisRequest req;
	RedisReply *reply;
	long long	id;

	/*
	 * CLIENT TRACKING is per server, and this worker follows one: with a
	 * Redis Cluster the near-cache is not used (never in step).
	 */
	if (redis_masters(err) < 0)
		return false;
	if (redis_is_cluster())
	{
		snprintf(err->msg, sizeof(err->msg),
				 "cacheaside.host is a node of a Redis Cluster: the near-cache is not used");
		return false;
	}

	redis_request_init(&req);
	redis_command(&req, 3);
	redis_arg_str(&req, "CLIENT");
	redis_arg_str(&req, "SETNAME");
	redis_arg_str(&req, TRACKER_CLIENT_NAME);
	redis_command(&req, 2);
	redis_arg_str(&req, "CLIENT");
	redis_arg_str(&req, "ID");
	reply = redis_execute(&req, 2048, err);
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
	reply = redis_execute(&req, 4096, err);
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

/* Send a PING on the subscribed connection */
static bool
tracker_ping(RedisError *err)
{
	RedisRequest req;
	bool		ok;

	redis_request_init(&req);
	redis_command(&req, 1);
	redis_arg_str(&req, "PING");
	ok = redis_send(&req, err);
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
 * *synced_once: a PING was answered; *lost: an outage was logged (and
 * its end is, at the first answer).
 */
static void
tracker_listen(uint64 target, MemoryContext msgcxt, bool *synced_once,
			   bool *lost, RedisError *err)
{
	TimestampTz ping_sent = 0;
	TimestampTz prev_ping_sent = 0;	/* of the PING answered last */
	TimestampTz master_checked = GetCurrentTimestamp();
	TimestampTz next_ping = GetCurrentTimestamp();

	for (;;)
	{
		TimestampTz now;
		TimestampTz deadline;
		RedisReply *msg;
		bool		timed_out;
		const char *kind;

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
		if (ping_sent == 0 &&
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

		if (ping_sent == 0 && now >= next_ping)
		{
			if (!tracker_ping(err))
				return;
			ping_sent = now;
		}
		if (ping_sent != 0 &&
			now >= TimestampTzPlusMilliseconds(ping_sent, TRACKER_PING_TIMEOUT_MS))
		{
			snprintf(err->msg, sizeof(err->msg),
					 "Redis did not answer PING within %d ms",
					 TRACKER_PING_TIMEOUT_MS);
			return;
		}
		deadline = ping_sent != 0 ?
			TimestampTzPlusMilliseconds(ping_sent, TRACKER_PING_TIMEOUT_MS) :
			next_ping;

		MemoryContextReset(msgcxt);
		msg = redis_receive(deadline, TRACKER_MESSAGE_LIMIT, &timed_out, err);
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
		else if (strcmp(kind, "pong") == 0 && ping_sent != 0)
		{
			/*
			 * every change before the previous PING was sent has been
			 * applied (see "the sync bound" above); the first answer only
			 * starts the count, and the next PING follows at once
			 */
			if (prev_ping_sent != 0)
			{
				nearcache_set_synced(prev_ping_sent, target);
				*synced_once = true;
				if (*lost)
				{
					ereport(LOG,
							(errmsg("cacheaside near-cache tracker: in step with Redis again")));
					*lost = false;
				}
				next_ping = TimestampTzPlusMilliseconds(ping_sent,
														TRACKER_PING_INTERVAL_MS);
			}
			else
				next_ping = GetCurrentTimestamp();
			prev_ping_sent = ping_sent;
			ping_sent = 0;
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
		if (tracker_follow(&err))
		{
			/* copies made while nothing was tracked go */
			nearcache_flush();
			tracker_listen(target, msgcxt, &synced_once, &lost, &err);
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
