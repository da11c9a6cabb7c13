/*-------------------------------------------------------------------------
 *
 * redis.h
 *	  The Redis client of cacheaside: requests, replies, failure policy.
 *
 * This is the only interface to Redis.  Replies are copied into palloc'd
 * RedisReply structs before the caller sees them, so no hiredis object
 * ever leaves redis.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_REDIS_H
#define CACHEASIDE_REDIS_H

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
} RedisRequest;

/* What redis_execute does when Redis cannot be used */
typedef enum RedisFailMode
{
	REDIS_FAIL_OPEN,			/* WARNING once per outage, back off, return
								 * NULL */
	REDIS_FAIL_ERROR			/* ERROR with SQLSTATE 08006 */
} RedisFailMode;

extern void redis_request_init(RedisRequest *req);
extern void redis_command(RedisRequest *req, int argc);
extern void redis_arg(RedisRequest *req, const char *data, size_t len);
extern void redis_arg_str(RedisRequest *req, const char *s);
extern void redis_arg_int(RedisRequest *req, long long value);
extern void redis_arg_begin(RedisRequest *req, size_t len);
extern void redis_arg_part(RedisRequest *req, const char *data, size_t len);
extern void redis_arg_end(RedisRequest *req);
extern void redis_request_free(RedisRequest *req);

extern RedisReply *redis_execute(RedisRequest *req, size_t reply_limit,
								 RedisFailMode mode);
extern bool redis_backing_off(void);
extern void redis_warn_reply_error(const char *command, const RedisReply *reply);
extern void redis_unexpected_reply(const char *command,
								   const RedisReply *reply) pg_attribute_noreturn();
extern void redis_disconnect(void);

#endif							/* CACHEASIDE_REDIS_H */
