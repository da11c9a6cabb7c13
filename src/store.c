/*-------------------------------------------------------------------------
 *
 * store.c
 *	  The entry store: entries in Redis, by name, and the failure policy.
 *
 * The SQL functions see entries (entry.h) under their callers' keys; this
 * file turns that into Redis commands and back:
 *
 *	read		one GETRANGE, bounded by cacheaside.max_value_bytes (one
 *				byte more tells "too large"), decoded by entry_decode,
 *				which bounds a compressed entry's size uncompressed by
 *				it too
 *	write		SET ... EX ttl of the header and the payload, compressed
 *				as cacheaside.compression and compress_min_bytes say,
 *				unless the entry uncompressed would exceed
 *				cacheaside.max_value_bytes
 *	remove		SCAN ... MATCH pages, each removed with UNLINK in the round
 *				trip of the next SCAN; or UNLINK of keys named outright
 *	TTL			TTL and EXPIRE of one entry
 *
 * Key names come from keyspace.c.  Nothing above this file builds a Redis
 * command or looks at a Redis reply.
 *
 * The near-cache (nearcache.c) sits in front of Redis: a read looks there
 * first and a Redis read that finds a value keeps a copy there (with the
 * key's PTTL, asked in the same round trip); every write, expiry change
 * and removal removes the copies it touches once Redis has answered,
 * before it returns.  Copies are the values' exact bytes, decoded by the
 * same entry_decode, so a near hit is checked as a Redis hit is.
 *
 * Failure policy.  Reads and writes for cache_aside_query fail open
 * (STORE_FAIL_OPEN): when Redis cannot be used the call goes on without
 * the cache, one WARNING is logged per outage (a LOG line says when it is
 * over), and Redis is not tried again for cacheaside.retry_interval, or
 * until the connection settings change.  When Redis answers but refuses a
 * command (an ACL, maxmemory with noeviction, a read-only replica), one
 * WARNING per connection says so.  The other functions act on the
 * caller's explicit request and cannot pretend (STORE_FAIL_ERROR): any
 * failure or refusal is an ERROR, SQLSTATE 08006, and a reply of the
 * wrong shape is 08P01.  Every such message is made in store_report.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "config.h"
#include "entry.h"
#include "keyspace.h"
#include "nearcache.h"
#include "redis.h"
#include "store.h"

/* Bytes of protocol framing allowed around one bulk reply */
#define REPLY_FRAMING		64

/* Bound on the replies of small commands (SET, TTL, EXPIRE) */
#define SMALL_REPLY_LIMIT	4096

/* Keys asked for per SCAN call */
/* Most times one cache_invalidate scans again after a new connection */
#define SCAN_RESTARTS_MAX	10

#define SCAN_COUNT			1000

/* Bound on the bytes of one SCAN (and UNLINK) round trip's replies */
#define SCAN_REPLY_LIMIT	(256 * 1024 * 1024)

/* Keys removed per UNLINK command of store_remove_keys */
#define UNLINK_BATCH		1000

/* What went wrong, for store_report */
typedef enum StoreTrouble
{
	STORE_TROUBLE_UNAVAILABLE,	/* Redis could not be used at all */
	STORE_TROUBLE_REFUSED,		/* Redis answered an error */
	STORE_TROUBLE_UNEXPECTED	/* Redis answered something else */
} StoreTrouble;

/* The state of the failure policy; all of it outlives transactions */
typedef struct StorePolicy
{
	TimestampTz last_failure;	/* when Redis last could not be used */
	bool		outage_warned;	/* the WARNING of this outage was given */
	uint64		refusal_warned; /* connection (redis_connections_opened)
								 * whose refusal was reported, or 0 */
} StorePolicy;

static StorePolicy policy;


/* ----------------------------------------------------------------
 * Failure policy
 * ----------------------------------------------------------------
 */

/*
 * Report trouble with Redis under the caller's mode.  For
 * STORE_TROUBLE_UNAVAILABLE, err says why and the back-off starts; for the
 * others, reply is what Redis answered to command.  Returns only in
 * STORE_FAIL_OPEN mode.
 */
static void
store_report(StoreFailMode mode, StoreTrouble trouble, const char *command,
			 const RedisReply *reply, const RedisError *err)
{
	switch (trouble)
	{
		case STORE_TROUBLE_UNAVAILABLE:
			/* a cluster node backs off alone (redis.c) */
			if (!err->node_only)
				policy.last_failure = GetCurrentTimestamp();
			if (mode == STORE_FAIL_ERROR)
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("cacheaside could not use Redis"),
						 errdetail("%s", err->msg)));
			if (err->node_only)
			{
				if (err->node_first)
					ereport(WARNING,
							(errcode(ERRCODE_CONNECTION_FAILURE),
							 errmsg("cacheaside: a Redis Cluster node is unavailable, queries on its slots run without the cache"),
							 errdetail("%s", err->msg),
							 errhint("Caching of its slots resumes by itself once the node answers, or once its slots move to another node; it is retried every %d ms.",
									 cacheaside_retry_interval)));
			}
			else if (!policy.outage_warned)
			{
				policy.outage_warned = true;
				ereport(WARNING,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("cacheaside: Redis is unavailable, queries run without the cache"),
						 errdetail("%s", err->msg),
						 errhint("Caching resumes by itself once Redis answers; it is retried every %d ms.",
								 cacheaside_retry_interval)));
			}
			break;

		case STORE_TROUBLE_REFUSED:
		case STORE_TROUBLE_UNEXPECTED:
			if (mode == STORE_FAIL_ERROR)
			{
				if (trouble == STORE_TROUBLE_REFUSED)
					ereport(ERROR,
							(errcode(ERRCODE_CONNECTION_FAILURE),
							 errmsg("Redis refused %s", command),
							 errdetail("Redis answered: %s", reply->str)));
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("unexpected reply from Redis to %s", command)));
			}
			/* the connection is fine, but our commands are refused */
			if (policy.refusal_warned == redis_connections_opened())
				break;
			policy.refusal_warned = redis_connections_opened();
			ereport(WARNING,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("cacheaside: Redis refused %s, the cache is bypassed",
							command),
					 errdetail("Redis answered: %s",
							   trouble == STORE_TROUBLE_REFUSED ? reply->str :
							   "an unexpected reply")));
			break;
	}
}

/*
 * Is Redis being skipped after a recent failure?  Callers that fail open
 * use this to avoid preparing requests that would not be sent.  The
 * back-off ends after cacheaside.retry_interval, or as soon as the
 * connection settings change.
 */
bool
store_backing_off(void)
{
	return policy.last_failure != 0 && !redis_ready() &&
		!redis_settings_changed() &&
		GetCurrentTimestamp() <
		TimestampTzPlusMilliseconds(policy.last_failure,
									cacheaside_retry_interval);
}

/*
 * When the back-off ends, or 0 when Redis is not being skipped.
 */
TimestampTz
store_retry_at(void)
{
	if (!store_backing_off())
		return 0;
	return TimestampTzPlusMilliseconds(policy.last_failure,
									   cacheaside_retry_interval);
}

/*
 * Send a request under the failure policy, then free it.  Returns one reply
 * per command, or NULL (fail open only) when Redis cannot be used.
 */
static RedisReply *
store_execute_master(RedisRequest *req, int master, size_t reply_limit,
					 StoreFailMode mode)
{
	RedisError	err;
	RedisReply *replies = NULL;

	req->try_failed_nodes = (mode == STORE_FAIL_ERROR);
	if (mode == STORE_FAIL_ERROR || !store_backing_off())
		replies = redis_execute_master(req, master, reply_limit, &err);
	else
	{
		err.msg[0] = '\0';		/* skipped: nothing to report */
		err.node_only = false;
	}
	redis_request_free(req);

	if (replies != NULL)
	{
		if (policy.outage_warned)
		{
			ereport(LOG,
					(errmsg("cacheaside: Redis answers again, caching resumes")));
			policy.outage_warned = false;
		}
		return replies;
	}
	if (err.msg[0] != '\0')
		store_report(mode, STORE_TROUBLE_UNAVAILABLE, NULL, NULL, &err);
	return NULL;
}

static RedisReply *
store_execute(RedisRequest *req, size_t reply_limit, StoreFailMode mode)
{
	return store_execute_master(req, 0, reply_limit, mode);
}

/*
 * How many masters commands without a key go to: 1 for a single server,
 * the masters of a Redis Cluster.  Fails with an error.
 */
static int
store_masters(void)
{
	RedisError	err;
	int			n = redis_masters(&err);

	if (n < 0)
		store_report(STORE_FAIL_ERROR, STORE_TROUBLE_UNAVAILABLE, NULL, NULL,
					 &err);
	return n;
}

/*
 * A reply of the wrong kind to a command of a caller that fails with an
 * error: refused (an error reply) or unexpected.  Does not return.
 */
static void
store_bad_reply(const char *command, const RedisReply *reply)
{
	store_report(STORE_FAIL_ERROR,
				 reply->kind == REDIS_KIND_ERROR ? STORE_TROUBLE_REFUSED :
				 STORE_TROUBLE_UNEXPECTED, command, reply, NULL);
	pg_unreachable();
}


/*
 * store_execute for a request that changes the entry under key in Redis:
 * the near copy of the entry is removed once Redis has answered, or
 * failed, or an interrupt cut the request short, before this returns (see
 * "the race of a refill" in nearcache.c).
 */
static RedisReply *
store_execute_changing(RedisRequest *req, size_t reply_limit,
					   StoreFailMode mode, const StoreKey *key)
{
	RedisReply *volatile reply = NULL;

	PG_TRY();
	{
		reply = store_execute(req, reply_limit, mode);
	}
	PG_CATCH();
	{
		nearcache_remove(key->name.data, key->name.len);
		PG_RE_THROW();
	}
	PG_END_TRY();
	nearcache_remove(key->name.data, key->name.len);
	return reply;
}


/* ----------------------------------------------------------------
 * Entries
 * ----------------------------------------------------------------
 */

/*
 * The name of the entry stored under the caller's key.
 */
void
store_key_init(StoreKey *key, const char *caller_key, size_t len)
{
	int			nslen;

	(void) keyspace_entry_namespace(&nslen);
	if (len > (size_t) (MaxAllocSize - 1 - nslen))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cache key is too long")));
	/* allocated at exactly the size the key needs */
	key->name.maxlen = nslen + (int) len + 1;
	key->name.data = palloc(key->name.maxlen);
	resetStringInfo(&key->name);
	keyspace_entry_key(&key->name, caller_key, len);
}

/* Start a request of one command on an entry; nextra more arguments follow */
static void
store_entry_command(RedisRequest *req, const char *command,
					const StoreKey *key, int nextra)
{
	redis_request_init(req);
	redis_command_key(req, 2 + nextra, key->name.data, key->name.len);
	redis_arg_str(req, command);
	redis_arg(req, key->name.data, key->name.len);
}

/*
 * Read the entry under key.  STORE_FOUND with *entry decoded when the
 * store holds a well-formed entry (of whatever query: the caller compares
 * fingerprints); STORE_ABSENT when it holds none, another program's value,
 * or one too large or malformed; STORE_UNAVAILABLE when Redis could not be
 * used (fail open; STORE_FAIL_ERROR raises an error instead, also for a
 * refusal or an unexpected reply).  *bytes: the size of the value read
 * (from Redis or the near-cache); *local: from the near-cache.
 *
 * The near-cache is looked at first, when it may be used (nearcache.c);
 * otherwise a Redis read that finds a value keeps a copy of it there,
 * with the expiry PTTL reports in the same round trip.
 */
StoreReadResult
store_read(const StoreKey *key, StoreFailMode mode, CacheEntry *entry,
		   size_t *bytes, bool *local)
{
	RedisRequest req;
	RedisReply *reply;
	const char *invalid;
	bool		near = nearcache_usable();
	uint64		generation = 0;
	uint64		asked;

	*bytes = 0;
	*local = false;
	if (near)
	{
		size_t		len;
		char	   *value = nearcache_get(key->name.data, key->name.len, &len);

		if (value != NULL)
		{
			if (len <= (size_t) cacheaside_max_value_bytes &&
				entry_decode_copy(value, len,
								  (size_t) cacheaside_max_value_bytes,
								  entry) == NULL)
			{
				*local = true;
				*bytes = len;
				return STORE_FOUND;
			}
			nearcache_remove(key->name.data, key->name.len);
			pfree(value);
		}
		/* before the read: see "the race of a refill" in nearcache.c */
		generation = nearcache_generation(key->name.data, key->name.len);
	}

	store_entry_command(&req, "GETRANGE", key, 2);
	redis_arg_str(&req, "0");
	/* at most one byte more than an entry may have: tells "too big" */
	redis_arg_int(&req, cacheaside_max_value_bytes);
	if (near)
	{
		redis_command_key(&req, 2, key->name.data, key->name.len);
		redis_arg_str(&req, "PTTL");
		redis_arg(&req, key->name.data, key->name.len);
	}

	asked = redis_ask_count();
	reply = store_execute(&req, (size_t) cacheaside_max_value_bytes + 1 +
						  REPLY_FRAMING * 2, mode);
	if (reply == NULL)
		return STORE_UNAVAILABLE;

	/*
	 * A value read through ASK (its slot being migrated) came from a node
	 * the near-cache's tracker may not follow yet: no copy of it
	 */
	if (redis_ask_count() != asked)
		near = false;

	if (reply->kind == REDIS_KIND_ERROR)
	{
		/* WRONGTYPE: someone else's value; SET will replace it */
		if (strncmp(reply->str, "WRONGTYPE", 9) == 0)
			return STORE_ABSENT;
		store_report(mode, STORE_TROUBLE_REFUSED, "GETRANGE", reply, NULL);
		return STORE_ABSENT;
	}
	if (reply->kind != REDIS_KIND_STRING)
	{
		if (mode == STORE_FAIL_ERROR)
			store_bad_reply("GETRANGE", reply);
		return STORE_ABSENT;
	}
	*bytes = reply->len;
	if (reply->len == 0)
		return STORE_ABSENT;	/* no entry */
	if (reply->len > (size_t) cacheaside_max_value_bytes)
	{
		elog(DEBUG1, "cacheaside: entry \"%s\" is larger than cacheaside.max_value_bytes",
			 key->name.data);
		return STORE_ABSENT;
	}

	invalid = entry_decode(reply->str, reply->len,
						   (size_t) cacheaside_max_value_bytes, entry);
	if (invalid != NULL)
	{
		if (near)
			nearcache_remove(key->name.data, key->name.len);
		elog(DEBUG1, "cacheaside: ignoring entry \"%s\": %s",
			 key->name.data, invalid);
		return STORE_ABSENT;
	}

	/*
	 * Only bytes that decoded are kept (near hits do not verify the
	 * checksum again), and before entry_payload_text writes into them.
	 */
	if (near && reply[1].kind == REDIS_KIND_INTEGER && reply[1].integer > 0)
		nearcache_put(key->name.data, key->name.len, reply->str, reply->len,
					  TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  reply[1].integer),
					  generation);
	return STORE_FOUND;
}

/*
 * Store entry under key for ttl seconds, unless it would exceed
 * cacheaside.max_value_bytes uncompressed.  Its payload is compressed when
 * cacheaside.compression and cacheaside.compress_min_bytes say so, and it
 * pays (entry_compress).  Fails open.  Returns REASON_NONE when the entry
 * was stored (*bytes of it, as stored), else why not: REASON_TOO_LARGE or
 * REASON_UNAVAILABLE (Redis could not be used, or refused).
 */
CacheReason
store_write(const StoreKey *key, const CacheEntry *entry, int ttl,
			size_t *bytes)
{
	StringInfoData header;
	EntryStored stored;
	RedisRequest req;
	RedisReply *reply;
	size_t		total;

	*bytes = 0;
	total = entry_raw_size(entry);
	if (total > (size_t) cacheaside_max_value_bytes)
	{
		elog(DEBUG1, "cacheaside: not caching \"%s\": %zu bytes exceed cacheaside.max_value_bytes",
			 key->name.data, total);
		return REASON_TOO_LARGE;
	}

	entry_compress(entry, (CodecId) cacheaside_compression,
				   (size_t) cacheaside_compress_min_bytes, &stored);
	initStringInfo(&header);
	entry_encode_header(&header, entry, &stored);
	total = header.len + stored.len;

	store_entry_command(&req, "SET", key, 3);
	redis_arg_begin(&req, total);
	redis_arg_part(&req, header.data, header.len);
	redis_arg_part(&req, stored.data, stored.len);
	redis_arg_end(&req);
	redis_arg_str(&req, "EX");
	redis_arg_int(&req, ttl);
	pfree(header.data);
	if (stored.codec != CODEC_NONE)
		pfree((char *) stored.data);

	reply = store_execute_changing(&req, SMALL_REPLY_LIMIT, STORE_FAIL_OPEN,
								   key);
	if (reply == NULL)
		return REASON_UNAVAILABLE;
	if (reply->kind != REDIS_KIND_STATUS)
	{
		store_report(STORE_FAIL_OPEN,
					 reply->kind == REDIS_KIND_ERROR ? STORE_TROUBLE_REFUSED :
					 STORE_TROUBLE_UNEXPECTED, "SET", reply, NULL);
		return REASON_UNAVAILABLE;
	}
	*bytes = total;
	return REASON_NONE;
}

/*
 * The version Redis reports (INFO server), palloc'd, or NULL when it
 * cannot be asked (fail open).
 */
char *
store_server_version(void)
{
	RedisRequest req;
	RedisReply *reply;
	const char *field = "redis_version:";
	char	   *p;

	redis_request_init(&req);
	redis_command(&req, 2);
	redis_arg_str(&req, "INFO");
	redis_arg_str(&req, "server");
	reply = store_execute(&req, 64 * 1024, STORE_FAIL_OPEN);
	if (reply == NULL || reply->kind != REDIS_KIND_STRING ||
		(p = strstr(reply->str, field)) == NULL)
		return NULL;
	p += strlen(field);
	return pnstrdup(p, strcspn(p, "\r\n"));
}

/*
 * Add to req the command that reads the beginning of the value under key:
 * enough to tell a cacheaside entry from another program's value.
 */
static void
store_add_magic_read(RedisRequest *req, const StoreKey *key)
{
	redis_command_key(req, 4, key->name.data, key->name.len);
	redis_arg_str(req, "GETRANGE");
	redis_arg(req, key->name.data, key->name.len);
	redis_arg_str(req, "0");
	redis_arg_int(req, ENTRY_OFF_HEADER_LEN - 1);
}

/*
 * Is the reply to store_add_magic_read the beginning of a cacheaside
 * entry?  No key, another program's string, and a value of another type
 * (WRONGTYPE) are not.
 */
static bool
store_reply_is_entry(const RedisReply *reply)
{
	if (reply->kind == REDIS_KIND_ERROR &&
		strncmp(reply->str, "WRONGTYPE", 9) == 0)
		return false;
	if (reply->kind != REDIS_KIND_STRING)
		store_bad_reply("GETRANGE", reply);
	return entry_has_magic(reply->str, reply->len);
}

/*
 * Seconds the entry under key has left: false when there is no entry, or
 * when the key holds another program's value.  One round trip: the
 * beginning of the value and its TTL, read one after the other.
 */
bool
store_get_ttl(const StoreKey *key, int32 *ttl)
{
	RedisRequest req;
	RedisReply *replies;

	redis_request_init(&req);
	store_add_magic_read(&req, key);
	redis_command_key(&req, 2, key->name.data, key->name.len);
	redis_arg_str(&req, "TTL");
	redis_arg(&req, key->name.data, key->name.len);
	replies = store_execute(&req, SMALL_REPLY_LIMIT, STORE_FAIL_ERROR);
	if (replies[1].kind != REDIS_KIND_INTEGER)
		store_bad_reply("TTL", &replies[1]);
	if (!store_reply_is_entry(&replies[0]))
		return false;
	/* -2: no such key (gone in between); -1: no expiry, never set by us */
	if (replies[1].integer < 0)
		return false;
	*ttl = (int32) Min(replies[1].integer, PG_INT32_MAX);
	return true;
}

/*
 * Give the entry under key a new time to live: false when there is none,
 * or when the key holds another program's value.  Two round trips: the
 * value is looked at first, and its TTL changed only when it is an entry
 * (a value another program writes under the key in between, inside
 * cacheaside's namespace, gets the TTL).
 */
bool
store_set_ttl(const StoreKey *key, int32 ttl)
{
	RedisRequest req;
	RedisReply *reply;

	redis_request_init(&req);
	store_add_magic_read(&req, key);
	reply = store_execute(&req, SMALL_REPLY_LIMIT, STORE_FAIL_ERROR);
	if (!store_reply_is_entry(reply))
		return false;

	store_entry_command(&req, "EXPIRE", key, 1);
	redis_arg_int(&req, ttl);
	req.confirm_master = true;
	/* the near copy goes: the next read keeps one with the new expiry */
	reply = store_execute_changing(&req, SMALL_REPLY_LIMIT, STORE_FAIL_ERROR,
								   key);
	if (reply->kind != REDIS_KIND_INTEGER)
		store_bad_reply("EXPIRE", reply);
	return reply->integer == 1;
}


/* ----------------------------------------------------------------
 * Removing entries
 * ----------------------------------------------------------------
 */

/*
 * Append the removal of keys to a request: one UNLINK of them all on a
 * single server; on a Redis Cluster one UNLINK per key, each sent to the
 * master of its slot (a command on several keys must not cross slots).
 * Returns the number of commands appended.
 */
static int
store_append_unlink(RedisRequest *req, const RedisReply *keys, int nkeys,
					bool cluster)
{
	if (!cluster)
	{
		redis_command(req, 1 + nkeys);
		redis_arg_str(req, "UNLINK");
		for (int i = 0; i < nkeys; i++)
			redis_arg(req, keys[i].str, keys[i].len);
		return 1;
	}
	for (int i = 0; i < nkeys; i++)
	{
		redis_command_key(req, 2, keys[i].str, keys[i].len);
		redis_arg_str(req, "UNLINK");
		redis_arg(req, keys[i].str, keys[i].len);
	}
	return nkeys;
}

/* The scan of one master by store_unlink_matching_masters */
typedef struct MasterScan
{
	const char *cursor;			/* to send, in the last round's context */
	RedisReply *pending;		/* keys of the last page, to UNLINK */
	int			npending;
	int			nunlink;		/* UNLINK commands of this round */
	bool		done;			/* the cursor came back to 0 */
	bool		restart;		/* scan again from the start */
} MasterScan;

/*
 * Send a request to each master at once (redis_execute_masters), under
 * the failure policy of callers that fail with an error, then free them.
 * replies[m]: the replies of reqs[m], NULL when it had no command.
 */
static void
store_execute_masters(RedisRequest *reqs, int nmasters, size_t reply_limit,
					  RedisReply **replies)
{
	RedisError	err;
	bool		ok;

	for (int m = 0; m < nmasters; m++)
		reqs[m].try_failed_nodes = true;
	ok = redis_execute_masters(reqs, nmasters, reply_limit, replies, &err);
	for (int m = 0; m < nmasters; m++)
		redis_request_free(&reqs[m]);
	if (!ok)
		store_report(STORE_FAIL_ERROR, STORE_TROUBLE_UNAVAILABLE, NULL, NULL,
					 &err);
	if (policy.outage_warned)
	{
		ereport(LOG,
				(errmsg("cacheaside: Redis answers again, caching resumes")));
		policy.outage_warned = false;
	}
}

/*
 * Remove the entries of every master (nmasters of redis_masters()) whose
 * keys match: see store_unlink_matching.  The masters are scanned at the
 * same time, in rounds: each round sends every master still scanning its
 * request (the UNLINK of the keys its last page found, and the SCAN of its
 * next page) before reading any reply.
 */
static int64
store_unlink_matching_masters(int nmasters, const StringInfo match,
							  bool cluster)
{
	MemoryContext pagecxt[2];
	MemoryContext oldcxt;
	MasterScan *scans = palloc0(sizeof(MasterScan) * nmasters);
	RedisRequest *reqs = palloc0(sizeof(RedisRequest) * nmasters);
	RedisReply **replies = palloc0(sizeof(RedisReply *) * nmasters);
	int64		removed = 0;
	int			restarts = 0;
	int			active = nmasters;

	for (int m = 0; m < nmasters; m++)
		scans[m].cursor = "0";

	/*
	 * Each round's replies live in one of two contexts, used in turn: the
	 * keys a round found are sent in the next round, after which the
	 * context is reset for the round after that.
	 */
	pagecxt[0] = AllocSetContextCreate(CurrentMemoryContext,
									   "cacheaside invalidate page",
									   ALLOCSET_DEFAULT_SIZES);
	pagecxt[1] = AllocSetContextCreate(CurrentMemoryContext,
									   "cacheaside invalidate page",
									   ALLOCSET_DEFAULT_SIZES);

	for (int round = 0; active > 0; round++)
	{
		uint64		opened;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(pagecxt[round % 2]);
		oldcxt = MemoryContextSwitchTo(pagecxt[round % 2]);

		for (int m = 0; m < nmasters; m++)
		{
			MasterScan *sc = &scans[m];

			redis_request_init(&reqs[m]);
			sc->nunlink = 0;
			if (sc->npending > 0)
				sc->nunlink = store_append_unlink(&reqs[m], sc->pending,
												  sc->npending, cluster);
			if (!sc->done)
			{
				redis_command(&reqs[m], 6);
				redis_arg_str(&reqs[m], "SCAN");
				redis_arg_str(&reqs[m], sc->cursor);
				redis_arg_str(&reqs[m], "MATCH");
				redis_arg(&reqs[m], match->data, match->len);
				redis_arg_str(&reqs[m], "COUNT");
				redis_arg_int(&reqs[m], SCAN_COUNT);
			}
			reqs[m].confirm_master = true;
		}

		opened = redis_connections_opened();
		store_execute_masters(reqs, nmasters, SCAN_REPLY_LIMIT, replies);

		/*
		 * A SCAN cursor means something only to the server that gave it:
		 * if this round ran on a new connection (Redis restarted, or the
		 * Sentinels named a new master), a cursor sent may have skipped
		 * keys there.  Scan again from the start, every master whose
		 * cursor was not 0, not knowing which one it was (the keys found
		 * are removed all the same; keys removed twice count once).
		 */
		if (opened != redis_connections_opened())
		{
			bool		any = false;

			for (int m = 0; m < nmasters; m++)
				if (!scans[m].done && strcmp(scans[m].cursor, "0") != 0)
					scans[m].restart = any = true;
			if (any && ++restarts > SCAN_RESTARTS_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("cacheaside could not use Redis"),
						 errdetail("The connection to Redis changed %d times during one cache_invalidate.",
								   restarts)));
		}

		active = 0;
		for (int m = 0; m < nmasters; m++)
		{
			MasterScan *sc = &scans[m];
			RedisReply *rep = replies[m];
			int			r = 0;

			if (rep == NULL)
				continue;		/* nothing was sent: done */
			for (; r < sc->nunlink; r++)
			{
				if (rep[r].kind != REDIS_KIND_INTEGER)
					store_bad_reply("UNLINK", &rep[r]);
				removed += rep[r].integer;
			}
			sc->npending = 0;

			if (!sc->done)
			{
				RedisReply *scan = &rep[r];

				if (scan->kind != REDIS_KIND_ARRAY || scan->nelements != 2 ||
					scan->elements[0].kind != REDIS_KIND_STRING ||
					scan->elements[1].kind != REDIS_KIND_ARRAY)
					store_bad_reply("SCAN", scan);
				for (int i = 0; i < scan->elements[1].nelements; i++)
					if (scan->elements[1].elements[i].kind != REDIS_KIND_STRING)
						store_bad_reply("SCAN", scan);

				sc->cursor = sc->restart ? "0" : scan->elements[0].str;
				sc->done = !sc->restart && strcmp(sc->cursor, "0") == 0;
				sc->restart = false;
				sc->pending = scan->elements[1].elements;
				sc->npending = scan->elements[1].nelements;
			}
			if (!sc->done || sc->npending > 0)
				active++;
		}

		MemoryContextSwitchTo(oldcxt);
	}

	MemoryContextDelete(pagecxt[0]);
	MemoryContextDelete(pagecxt[1]);
	pfree(scans);
	pfree(reqs);
	pfree(replies);
	return removed;
}

/*
 * Remove the entries whose Redis keys match match, a Redis MATCH pattern
 * made by keyspace_entry_pattern (the literal namespace of a database's
 * entries, then the caller's pattern), so it can reach nothing else.  SCAN
 * pages are removed with UNLINK; the UNLINK of one page travels in the
 * same round trip as the SCAN of the next.  On a Redis Cluster every
 * master is scanned, all at the same time.  Returns the number of entries
 * removed (each counted once, even if SCAN returns it twice).  Fails with
 * an error.
 */
static int64
store_unlink_matching(const char *match, size_t len)
{
	StringInfoData m;
	int			nmasters;
	bool		cluster;
	int64		removed = 0;

	initStringInfo(&m);
	appendBinaryStringInfo(&m, match, len);

	nmasters = store_masters();
	cluster = redis_is_cluster();
	removed = store_unlink_matching_masters(nmasters, &m, cluster);

	pfree(m.data);
	return removed;
}

/*
 * Remove the entries under the Redis keys names (a List of text, each made
 * by keyspace_entry_key), with UNLINK, in one round trip.  Returns how many there were.  Fails with an
 * error.
 */
static int64
store_unlink_keys(List *names)
{
	RedisRequest req;
	RedisReply *replies;
	ListCell   *lc;
	int			nkeys = list_length(names);
	int			ncommands = 0;
	int			batch = 0;
	int64		removed = 0;
	bool		cluster;

	if (nkeys == 0)
		return 0;

	/*
	 * A Redis Cluster: one UNLINK per key, each routed by its slot.  Only
	 * whether the server is a cluster matters here: it is asked once per
	 * connection, and the slot map is not read again.
	 */
	if (!redis_is_cluster())
		(void) store_masters();
	cluster = redis_is_cluster();

	redis_request_init(&req);
	foreach(lc, names)
	{
		text	   *name = lfirst(lc);
		const char *rkey = VARDATA_ANY(name);
		size_t		rkeylen = VARSIZE_ANY_EXHDR(name);

		if (cluster)
		{
			redis_command_key(&req, 2, rkey, rkeylen);
			redis_arg_str(&req, "UNLINK");
			ncommands++;
		}
		else if (batch == 0)
		{
			redis_command(&req, 1 + Min(nkeys, UNLINK_BATCH));
			redis_arg_str(&req, "UNLINK");
			ncommands++;
		}
		redis_arg(&req, rkey, rkeylen);
		nkeys--;
		if (++batch == UNLINK_BATCH)
			batch = 0;
	}
	req.confirm_master = true;
	replies = store_execute(&req, 1024 * (size_t) ncommands, STORE_FAIL_ERROR);
	for (int i = 0; i < ncommands; i++)
	{
		if (replies[i].kind != REDIS_KIND_INTEGER)
			store_bad_reply("UNLINK", &replies[i]);
		removed += replies[i].integer;
	}
	return removed;
}

/*
 * Remove the entries whose Redis keys match match (see
 * store_unlink_matching), then their near copies, also when Redis fails.
 */
int64
store_remove_matching(const char *match, size_t len)
{
	int64		removed = 0;

	PG_TRY();
	{
		removed = store_unlink_matching(match, len);
	}
	PG_CATCH();
	{
		nearcache_remove_matching(match, len);
		PG_RE_THROW();
	}
	PG_END_TRY();
	nearcache_remove_matching(match, len);
	return removed;
}

/* Remove the near copies of the entries under the Redis keys names */
static void
store_near_remove_keys(List *names)
{
	ListCell   *lc;

	foreach(lc, names)
		nearcache_remove(VARDATA_ANY((text *) lfirst(lc)),
						 VARSIZE_ANY_EXHDR((text *) lfirst(lc)));
}

/*
 * Remove the entries under the Redis keys names (see store_unlink_keys),
 * then their near copies, also when Redis fails.
 */
int64
store_remove_keys(List *names)
{
	int64		removed = 0;

	PG_TRY();
	{
		removed = store_unlink_keys(names);
	}
	PG_CATCH();
	{
		store_near_remove_keys(names);
		PG_RE_THROW();
	}
	PG_END_TRY();
	store_near_remove_keys(names);
	return removed;
}
