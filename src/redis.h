/*-------------------------------------------------------------------------
 *
 * redis.h
 *	  The transport to Redis: one connection per backend, requests and
 *	  replies.
 *
 * This is the only interface to hiredis.  Replies are copied into palloc'd
 * RedisReply structs before the caller sees them, so no hiredis object
 * ever leaves redis.c.  What a failure means for a caller (fail open or
 * raise an error, warn, back off) is decided above, by the entry store
 * (store.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_REDIS_H
#define CACHEASIDE_REDIS_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

typedef enum RedisReplyKind
{
	REDIS_KIND_STRING,			/* bulk string */
	REDIS_KIND_STATUS,			/* +OK and friends */
	REDIS_KIND_ERROR,			/* -ERR ... */
	REDIS_KIND_INTEGER,
	REDIS_KIND_NIL,
	REDIS_KIND_ARRAY
} RedisReplyKind;

typedef struct RedisReply
{
	RedisReplyKind kind;
	long long	integer;		/* REDIS_KIND_INTEGER */
	char	   *str;			/* STRING, STATUS, ERROR: palloc'd, MAXALIGNed,
								 * NUL-terminated; may be scribbled on */
	size_t		len;
	int			nelements;		/* REDIS_KIND_ARRAY */
	struct RedisReply *elements;
} RedisReply;

/* Commands encoded in the Redis protocol, sent together in one round trip */
typedef struct RedisRequest
{
	StringInfoData buf;
	int			ncommands;
	size_t		arg_remaining;	/* bytes still owed by redis_arg_part() */
	bool		confirm_master; /* with Sentinels: check that the master is
								 * still the one they name before sending
								 * (invalidations) */

	/* Where each command starts in buf, and its key's hash slot (-1: none) */
	int		   *cmd_start;
	int		   *cmd_slot;
	int			cmd_alloc;

	/* Try cluster nodes even while they back off (the caller fails hard) */
	bool		try_failed_nodes;
} RedisRequest;

/* Why Redis could not be used */
typedef struct RedisError
{
	char		msg[512];
	bool		retryable;		/* failed before any reply byte arrived, and
								 * not by timing out */
	bool		node_only;		/* a Redis Cluster node failed: its slots
								 * only, no back-off of the whole store */
	bool		node_first;		/* node_only: the first failure of this
								 * node's outage (warn once) */
} RedisError;

extern void redis_request_init(RedisRequest *req);
extern void redis_command(RedisRequest *req, int argc);
extern void redis_command_key(RedisRequest *req, int argc, const char *key,
							  size_t len);
extern int	redis_key_slot(const char *key, size_t len);
extern void redis_arg(RedisRequest *req, const char *data, size_t len);
extern void redis_arg_str(RedisRequest *req, const char *s);
extern void redis_arg_int(RedisRequest *req, long long value);
extern void redis_arg_begin(RedisRequest *req, size_t len);
extern void redis_arg_part(RedisRequest *req, const char *data, size_t len);
extern void redis_arg_end(RedisRequest *req);
extern void redis_request_free(RedisRequest *req);

extern RedisReply *redis_execute(RedisRequest *req, size_t reply_limit,
								 RedisError *err);
extern RedisReply *redis_execute_master(RedisRequest *req, int master,
										size_t reply_limit, RedisError *err);
extern bool redis_execute_masters(RedisRequest *reqs, int nreqs,
								  size_t reply_limit, RedisReply **replies,
								  RedisError *err);
extern int	redis_masters(RedisError *err);
extern bool redis_is_cluster(void);
extern uint64 redis_ask_count(void);
extern bool redis_send(RedisRequest *req, RedisError *err);
extern RedisReply *redis_receive(TimestampTz deadline, size_t message_limit,
								 bool *timed_out, RedisError *err);

/*
 * Subscribed connections: one per master of a Redis Cluster (at most
 * REDIS_MAX_SUBSCRIBED), or the one connection to a single server
 */
#define REDIS_MAX_SUBSCRIBED	16
extern int	redis_subscribers_open(RedisError *err);
extern RedisReply *redis_subscriber_execute(int sub, RedisRequest *req,
											size_t reply_limit,
											RedisError *err);
extern bool redis_subscriber_send(int sub, RedisRequest *req,
								  RedisError *err);
extern RedisReply *redis_subscribers_receive(TimestampTz deadline,
											 size_t message_limit, int *sub,
											 bool *timed_out,
											 RedisError *err);
extern uint64 redis_slot_map_hash(void);

extern bool redis_ready(void);
extern bool redis_master_replaced(void);
extern bool redis_settings_changed(void);
extern uint64 redis_connections_opened(void);
extern void redis_disconnect(void);

#endif							/* CACHEASIDE_REDIS_H */
