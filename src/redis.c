/*-------------------------------------------------------------------------
 *
 * redis.c
 *	  The connection to Redis: the only file that includes hiredis.
 *
 * Each backend opens at most one connection, lazily, the first time a
 * cacheaside function needs Redis; it lives in TopMemoryContext-owned
 * state and is closed at process exit.  All I/O is non-blocking: the
 * socket is waited on together with the process latch, so that
 * connect_timeout, command_timeout, statement_timeout, query cancel and
 * postmaster death all act while Redis is slow or frozen.
 *
 * hiredis is used to open the socket and to parse replies.  Requests are
 * encoded here (RESP arrays of bulk strings, binary safe) and written with
 * send(); replies are read with recv() and fed to the hiredis reader, with
 * a bound on how many bytes one request may read, so a hostile or broken
 * server can never make hiredis allocate without limit.  Every hiredis
 * reply is converted into palloc'd memory and freed at once, and none is
 * held while we wait, so an error thrown by an interrupt cannot leak one.
 *
 * Failure policy: any failure (cannot connect, AUTH refused, I/O error,
 * timeout, protocol error, oversized reply) drops the connection.  Callers
 * that fail open (cache_aside_query) get NULL back, one WARNING is logged
 * per outage, and Redis is not tried again for cacheaside.retry_interval.
 * Callers that cannot pretend (cache_invalidate) get an ERROR.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "config.h"
#include "redis.h"

/* Size of the buffer replies are read into before being fed to hiredis */
#define RECV_CHUNK	65536

/* Longest password file we read */
#define PASSWORD_FILE_MAX	4096

/* The connection and its state; all of it outlives transactions */
static redisContext *conn = NULL;
static WaitEventSet *conn_waitset = NULL;
static int	conn_sock_pos = -1;
static uint32 conn_sock_events = 0;

/*
 * True from the moment a request starts until its last reply is read.  If
 * it is still true when the next request starts, an error (an interrupt, an
 * out-of-memory) cut the previous one short and the protocol state of the
 * connection is unknown: it must be dropped.
 */
static bool conn_in_request = false;

/* The settings the open connection, or the last failed attempt, used */
static char *conn_host = NULL;
static int	conn_port = 0;
static int	conn_database = 0;
static char *conn_password_file = NULL;

/*
 * hiredis allocates an array reply's table of elements from the count the
 * server announces, before any element arrives: "*2000000000" would make
 * it allocate 16 GB.  Its array constructor is wrapped to refuse counts no
 * reply within the request's byte limit could fill (every element takes at
 * least 4 bytes); the reader then reports an error and the connection is
 * dropped.
 */
#define MAX_ARRAY_ELEMENTS	(1024 * 1024)
static redisReplyObjectFunctions *hiredis_functions = NULL;
static redisReplyObjectFunctions bounded_functions;
static long long array_elements_limit = 0;

static void *
bounded_create_array(const redisReadTask *task, int elements)
{
	if (elements > array_elements_limit)
		return NULL;			/* the reader reports "out of memory" */
	return hiredis_functions->createArray(task, elements);
}

/* Back-off after a failure, and one WARNING per outage */
static TimestampTz last_failure = 0;
static bool outage_warned = false;
static bool reply_error_warned = false;
static bool exit_callback_registered = false;

typedef struct RedisError
{
	char		msg[256];
	bool		retryable;		/* failed before any reply byte arrived, and
								 * not by timing out */
} RedisError;

static void redis_seterr(RedisError *err, const char *fmt,...) pg_attribute_printf(2, 3);


/* ----------------------------------------------------------------
 * Request encoding
 * ----------------------------------------------------------------
 */

/*
 * Start an empty request in the current memory context.
 */
void
redis_request_init(RedisRequest *req)
{
	initStringInfo(&req->buf);
	req->ncommands = 0;
	req->arg_remaining = 0;
}

/*
 * Start a command of argc arguments (the command name counts).
 */
void
redis_command(RedisRequest *req, int argc)
{
	Assert(req->arg_remaining == 0);
	appendStringInfo(&req->buf, "*%d\r\n", argc);
	req->ncommands++;
}

/*
 * Append one binary-safe argument.
 */
void
redis_arg(RedisRequest *req, const char *data, size_t len)
{
	redis_arg_begin(req, len);
	redis_arg_part(req, data, len);
	redis_arg_end(req);
}

void
redis_arg_str(RedisRequest *req, const char *s)
{
	redis_arg(req, s, strlen(s));
}

void
redis_arg_int(RedisRequest *req, long long value)
{
	char		num[32];

	snprintf(num, sizeof(num), "%lld", value);
	redis_arg_str(req, num);
}

/*
 * Append one argument of len bytes given in several parts, so that an
 * entry header and its payload need not be concatenated first.
 */
void
redis_arg_begin(RedisRequest *req, size_t len)
{
	Assert(req->arg_remaining == 0);
	enlargeStringInfo(&req->buf, len + 32);
	appendStringInfo(&req->buf, "$%zu\r\n", len);
	req->arg_remaining = len;
}

void
redis_arg_part(RedisRequest *req, const char *data, size_t len)
{
	Assert(len <= req->arg_remaining);
	appendBinaryStringInfo(&req->buf, data, len);
	req->arg_remaining -= len;
}

void
redis_arg_end(RedisRequest *req)
{
	Assert(req->arg_remaining == 0);
	appendBinaryStringInfo(&req->buf, "\r\n", 2);
}

/*
 * Release a request's buffer, wiping it first: it may hold a password.
 */
void
redis_request_free(RedisRequest *req)
{
	if (req->buf.data)
	{
		explicit_bzero(req->buf.data, req->buf.maxlen);
		pfree(req->buf.data);
		req->buf.data = NULL;
	}
}


/* ----------------------------------------------------------------
 * Connection management
 * ----------------------------------------------------------------
 */

static void
redis_seterr(RedisError *err, const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, args);
	va_end(args);
	err->retryable = false;
}

/*
 * Close the connection, if any.  Safe to call at any time.
 */
void
redis_disconnect(void)
{
	if (conn_waitset != NULL)
	{
		FreeWaitEventSet(conn_waitset);
		conn_waitset = NULL;
		conn_sock_pos = -1;
		conn_sock_events = 0;
	}
	if (conn != NULL)
	{
		redisFree(conn);
		conn = NULL;
	}
	conn_in_request = false;
}

static void
redis_at_exit(int code, Datum arg)
{
	redis_disconnect();
}

/*
 * Do the connection settings still match those of the open connection?
 */
static bool
redis_settings_unchanged(void)
{
	return conn_port == cacheaside_port &&
		conn_database == cacheaside_database &&
		strcmp(conn_host, cacheaside_host) == 0 &&
		strcmp(conn_password_file, cacheaside_password_file) == 0;
}

static void
redis_remember_settings(void)
{
	if (conn_host)
		pfree(conn_host);
	if (conn_password_file)
		pfree(conn_password_file);
	conn_host = MemoryContextStrdup(TopMemoryContext, cacheaside_host);
	conn_password_file = MemoryContextStrdup(TopMemoryContext,
											 cacheaside_password_file);
	conn_port = cacheaside_port;
	conn_database = cacheaside_database;
}

/*
 * Wait until the socket is ready for the given event (WL_SOCKET_READABLE
 * or WL_SOCKET_WRITEABLE) or the deadline passes.  Interrupts are
 * serviced while waiting, so this can throw (query cancel, terminate);
 * postmaster death ends the process.
 */
static bool
redis_wait(uint32 event, TimestampTz deadline)
{
	for (;;)
	{
		long		timeout;
		WaitEvent	occurred;
		int			rc;

		timeout = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
												  deadline);
		if (timeout <= 0)
			return false;

		if (conn_sock_events != event)
		{
			ModifyWaitEvent(conn_waitset, conn_sock_pos, event, NULL);
			conn_sock_events = event;
		}

		rc = WaitEventSetWait(conn_waitset, timeout, &occurred, 1,
							  PG_WAIT_EXTENSION);
		if (rc == 0)
			continue;			/* timed out: the loop re-checks */

		if (occurred.events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if (occurred.events & event)
			return true;
	}
}

/*
 * Read the Redis credentials.  The file must not be readable by others,
 * under the rule PostgreSQL applies to ssl_key_file: owned by the server's
 * user with no group or other access, or owned by root with at most group
 * read access.  Its first line is a password, or a user name and a
 * password separated by a space.  Error messages name the file, never its
 * contents.
 */
static bool
redis_read_password_file(const char *path, char **user, char **password,
						 RedisError *err)
{
	struct stat st;
	char		buf[PASSWORD_FILE_MAX + 1];
	ssize_t		n;
	int			fd;
	char	   *eol;
	char	   *space;

	*user = NULL;
	*password = NULL;

	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
	{
		redis_seterr(err, "could not open password file \"%s\": %s",
					 path, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		redis_seterr(err, "password file \"%s\" is not a regular file", path);
		close(fd);
		return false;
	}
	if ((st.st_uid == geteuid() && (st.st_mode & (S_IRWXG | S_IRWXO))) ||
		(st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO))) ||
		(st.st_uid != geteuid() && st.st_uid != 0))
	{
		redis_seterr(err, "password file \"%s\" has group or world access, or a wrong owner; it must be owned by the database user with permissions u=rw (0600) or less, or by root with u=rw,g=r (0640) or less",
					 path);
		close(fd);
		return false;
	}

	n = read(fd, buf, PASSWORD_FILE_MAX);
	close(fd);
	if (n < 0)
	{
		redis_seterr(err, "could not read password file \"%s\": %s",
					 path, strerror(errno));
		return false;
	}
	buf[n] = '\0';
	eol = strpbrk(buf, "\r\n");
	if (eol)
		*eol = '\0';
	while (n > 0 && buf[0] != '\0' && buf[strlen(buf) - 1] == ' ')
		buf[strlen(buf) - 1] = '\0';
	if (buf[0] == '\0')
	{
		redis_seterr(err, "password file \"%s\" is empty", path);
		explicit_bzero(buf, sizeof(buf));
		return false;
	}

	space = strchr(buf, ' ');
	if (space)
	{
		*space = '\0';
		*user = pstrdup(buf);
		*password = pstrdup(space + 1);
	}
	else
		*password = pstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return true;
}

static void
redis_wipe_free(char *s)
{
	if (s)
	{
		explicit_bzero(s, strlen(s));
		pfree(s);
	}
}

static bool redis_exchange(RedisRequest *req, RedisReply *replies,
						   size_t reply_limit, TimestampTz deadline,
						   int timeout_ms, RedisError *err);

/*
 * Send AUTH and SELECT and read their replies.  An interrupt while waiting
 * must not leave the password in freed memory: the request and the copies
 * of the credentials are wiped before the error goes on unwinding.
 */
static bool
redis_handshake(RedisRequest *req, RedisReply *replies, TimestampTz deadline,
				char *user, char *password, RedisError *err)
{
	bool		ok;

	PG_TRY();
	{
		ok = redis_exchange(req, replies, 64 * 1024, deadline,
							cacheaside_connect_timeout, err);
	}
	PG_CATCH();
	{
		redis_request_free(req);
		redis_wipe_free(user);
		redis_wipe_free(password);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return ok;
}

/*
 * Open the connection: non-blocking connect, then AUTH and SELECT in one
 * round trip, all within cacheaside.connect_timeout.
 */
static bool
redis_connect(RedisError *err)
{
	TimestampTz deadline;
	redisContext *c;
	int			sockerr = 0;
	socklen_t	optlen = sizeof(sockerr);
	char	   *user = NULL;
	char	   *password = NULL;
	RedisRequest req;
	RedisReply *replies;
	bool		ok;

	Assert(conn == NULL);

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   cacheaside_connect_timeout);

	if (cacheaside_password_file[0] != '\0' &&
		!redis_read_password_file(cacheaside_password_file, &user, &password,
								  err))
		return false;

	if (cacheaside_host[0] == '/')
		c = redisConnectUnixNonBlock(cacheaside_host);
	else
		c = redisConnectNonBlock(cacheaside_host, cacheaside_port);
	if (c == NULL || c->err)
	{
		if (c == NULL)
			redis_seterr(err, "could not allocate a Redis connection");
		else
		{
			if (cacheaside_host[0] == '/')
				redis_seterr(err, "could not connect to Redis at \"%s\": %s",
							 cacheaside_host, c->errstr);
			else
				redis_seterr(err, "could not connect to Redis at %s:%d: %s",
							 cacheaside_host, cacheaside_port, c->errstr);
			redisFree(c);
		}
		redis_wipe_free(user);
		redis_wipe_free(password);
		return false;
	}
	conn = c;

	/* bound what the reader allocates for arrays (see bounded_create_array) */
	if (hiredis_functions == NULL)
	{
		hiredis_functions = conn->reader->fn;
		bounded_functions = *hiredis_functions;
		bounded_functions.createArray = bounded_create_array;
	}
	conn->reader->fn = &bounded_functions;

	/*
	 * Until the handshake is done, the connection is not usable: if an
	 * interrupt cuts the connect short, the next request drops it.
	 */
	conn_in_request = true;

	/* requests are written whole; never let Nagle hold one back */
	if (cacheaside_host[0] != '/')
	{
		int			one = 1;

		(void) setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one,
						  sizeof(one));
	}

	if (!exit_callback_registered)
	{
		on_proc_exit(redis_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}

	conn_waitset = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(conn_waitset, WL_LATCH_SET, PGINVALID_SOCKET,
					  MyLatch, NULL);
	AddWaitEventToSet(conn_waitset, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET,
					  NULL, NULL);
	conn_sock_pos = AddWaitEventToSet(conn_waitset, WL_SOCKET_WRITEABLE,
									  conn->fd, NULL, NULL);
	conn_sock_events = WL_SOCKET_WRITEABLE;

	/* The non-blocking connect completes when the socket is writable */
	if (!redis_wait(WL_SOCKET_WRITEABLE, deadline))
	{
		redis_seterr(err, "timed out after %d ms connecting to Redis",
					 cacheaside_connect_timeout);
		ok = false;
	}
	else if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &sockerr, &optlen) != 0 ||
			 sockerr != 0)
	{
		if (cacheaside_host[0] == '/')
			redis_seterr(err, "could not connect to Redis at \"%s\": %s",
						 cacheaside_host, strerror(sockerr ? sockerr : errno));
		else
			redis_seterr(err, "could not connect to Redis at %s:%d: %s",
						 cacheaside_host, cacheaside_port,
						 strerror(sockerr ? sockerr : errno));
		ok = false;
	}
	else
		ok = true;

	/* AUTH and SELECT, pipelined */
	if (ok && (password != NULL || cacheaside_database != 0))
	{
		int			i = 0;

		redis_request_init(&req);
		if (password != NULL)
		{
			redis_command(&req, user ? 3 : 2);
			redis_arg_str(&req, "AUTH");
			if (user)
				redis_arg_str(&req, user);
			redis_arg_str(&req, password);
		}
		if (cacheaside_database != 0)
		{
			redis_command(&req, 2);
			redis_arg_str(&req, "SELECT");
			redis_arg_int(&req, cacheaside_database);
		}
		replies = palloc0(sizeof(RedisReply) * req.ncommands);

		ok = redis_handshake(&req, replies, deadline, user, password, err);
		redis_request_free(&req);

		if (ok && password != NULL)
		{
			if (replies[i].kind != REDIS_KIND_STATUS)
			{
				redis_seterr(err, "Redis refused AUTH%s: %s",
							 user ? " for its user" : "",
							 replies[i].kind == REDIS_KIND_ERROR ?
							 replies[i].str : "unexpected reply");
				ok = false;
			}
			i++;
		}
		if (ok && cacheaside_database != 0 &&
			replies[i].kind != REDIS_KIND_STATUS)
		{
			redis_seterr(err, "Redis refused SELECT %d: %s",
						 cacheaside_database,
						 replies[i].kind == REDIS_KIND_ERROR ?
						 replies[i].str : "unexpected reply");
			ok = false;
		}
	}

	redis_wipe_free(user);
	redis_wipe_free(password);

	if (!ok)
	{
		redis_disconnect();
		return false;
	}

	redis_remember_settings();
	reply_error_warned = false;
	conn_in_request = false;
	return true;
}


/* ----------------------------------------------------------------
 * Replies
 * ----------------------------------------------------------------
 */

/*
 * Copy a hiredis reply into palloc'd memory.  The caller frees the hiredis
 * reply, also when this throws (out of memory).
 */
static void
redis_copy_reply(const redisReply *src, RedisReply *dst)
{
	memset(dst, 0, sizeof(RedisReply));
	switch (src->type)
	{
		case REDIS_REPLY_STRING:
		case REDIS_REPLY_STATUS:
		case REDIS_REPLY_ERROR:
			dst->kind = src->type == REDIS_REPLY_STRING ? REDIS_KIND_STRING :
				src->type == REDIS_REPLY_STATUS ? REDIS_KIND_STATUS :
				REDIS_KIND_ERROR;
			dst->len = src->len;
			dst->str = palloc_extended(src->len + 1, MCXT_ALLOC_HUGE);
			memcpy(dst->str, src->str, src->len);
			dst->str[src->len] = '\0';
			break;
		case REDIS_REPLY_INTEGER:
			dst->kind = REDIS_KIND_INTEGER;
			dst->integer = src->integer;
			break;
		case REDIS_REPLY_NIL:
			dst->kind = REDIS_KIND_NIL;
			break;
		case REDIS_REPLY_ARRAY:
			dst->kind = REDIS_KIND_ARRAY;
			dst->nelements = (int) src->elements;
			if (src->elements > 0)
			{
				dst->elements = palloc(sizeof(RedisReply) * src->elements);
				for (size_t i = 0; i < src->elements; i++)
					redis_copy_reply(src->element[i], &dst->elements[i]);
			}
			break;
		default:
			/* hiredis 0.14 knows no other types; treat as an error reply */
			dst->kind = REDIS_KIND_ERROR;
			dst->str = pstrdup("unknown reply type");
			dst->len = strlen(dst->str);
			break;
	}
}

/*
 * Copy a hiredis reply into dst and free it, also if copying throws.
 */
static void
redis_take_reply(redisReply *reply, RedisReply *dst)
{
	PG_TRY();
	{
		redis_copy_reply(reply, dst);
	}
	PG_CATCH();
	{
		freeReplyObject(reply);
		PG_RE_THROW();
	}
	PG_END_TRY();
	freeReplyObject(reply);
}

/*
 * Send a request and read one reply per command, until the deadline.
 * Reading more than reply_limit bytes in all is an error.  On failure the
 * connection must be dropped by the caller.
 */
static bool
redis_exchange(RedisRequest *req, RedisReply *replies, size_t reply_limit,
			   TimestampTz deadline, int timeout_ms, RedisError *err)
{
	size_t		sent = 0;
	size_t		received = 0;
	int			nreplies = 0;
	static char chunk[RECV_CHUNK];

	conn_in_request = true;
	array_elements_limit = Min(reply_limit / 4, MAX_ARRAY_ELEMENTS);

	while (sent < (size_t) req->buf.len)
	{
		ssize_t		n;

		n = send(conn->fd, req->buf.data + sent, req->buf.len - sent,
				 MSG_NOSIGNAL);
		if (n > 0)
			sent += n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		{
			if (!redis_wait(WL_SOCKET_WRITEABLE, deadline))
			{
				redis_seterr(err, "timed out after %d ms sending to Redis",
							 timeout_ms);
				return false;
			}
		}
		else
		{
			redis_seterr(err, "could not send to Redis: %s", strerror(errno));
			err->retryable = true;
			return false;
		}
	}

	while (nreplies < req->ncommands)
	{
		void	   *reply = NULL;
		ssize_t		n;

		if (redisReaderGetReply(conn->reader, &reply) != REDIS_OK)
		{
			redis_seterr(err, "invalid reply from Redis: %s",
						 conn->reader->errstr);
			return false;
		}
		if (reply != NULL)
		{
			redis_take_reply((redisReply *) reply, &replies[nreplies]);
			nreplies++;
			continue;
		}

		/* The reader needs more bytes */
		n = recv(conn->fd, chunk, RECV_CHUNK, 0);
		if (n > 0)
		{
			received += n;
			if (received > reply_limit)
			{
				redis_seterr(err, "reply from Redis exceeds %zu bytes",
							 reply_limit);
				return false;
			}
			if (redisReaderFeed(conn->reader, chunk, n) != REDIS_OK)
			{
				redis_seterr(err, "could not buffer reply from Redis: %s",
							 conn->reader->errstr);
				return false;
			}
		}
		else if (n == 0)
		{
			redis_seterr(err, "Redis closed the connection");
			err->retryable = (received == 0);
			return false;
		}
		else if (errno == EINTR)
			continue;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
		{
			if (!redis_wait(WL_SOCKET_READABLE, deadline))
			{
				redis_seterr(err, "timed out after %d ms waiting for Redis",
							 timeout_ms);
				return false;
			}
		}
		else
		{
			redis_seterr(err, "could not receive from Redis: %s",
						 strerror(errno));
			err->retryable = (received == 0);
			return false;
		}
	}
	conn_in_request = false;
	return true;
}


/* ----------------------------------------------------------------
 * Executing requests under the failure policy
 * ----------------------------------------------------------------
 */

/*
 * Redis could not be used: drop the connection, back off, and either warn
 * (once per outage) or raise an error.
 */
static void
redis_fail(RedisFailMode mode, RedisError *err)
{
	redis_disconnect();
	redis_remember_settings();
	last_failure = GetCurrentTimestamp();

	if (mode == REDIS_FAIL_ERROR)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("cacheaside could not use Redis"),
				 errdetail("%s", err->msg)));

	if (!outage_warned)
	{
		outage_warned = true;
		ereport(WARNING,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("cacheaside: Redis is unavailable, queries run without the cache"),
				 errdetail("%s", err->msg),
				 errhint("Caching resumes by itself once Redis answers; it is retried every %d ms.",
						 cacheaside_retry_interval)));
	}
}

/*
 * A request went through: an outage, if there was one, is over.
 */
static RedisReply *
redis_succeeded(RedisReply *replies)
{
	if (outage_warned)
	{
		ereport(LOG,
				(errmsg("cacheaside: Redis answers again, caching resumes")));
		outage_warned = false;
	}
	return replies;
}

/*
 * Is Redis being skipped after a recent failure?  Callers that fail open
 * use this to avoid preparing requests that would not be sent.  The
 * back-off ends after cacheaside.retry_interval, or as soon as the
 * connection settings change.
 */
bool
redis_backing_off(void)
{
	return conn == NULL && last_failure != 0 &&
		redis_settings_unchanged() &&
		GetCurrentTimestamp() <
		TimestampTzPlusMilliseconds(last_failure, cacheaside_retry_interval);
}

/*
 * Send the request and return one reply per command, in a palloc'd array.
 * reply_limit bounds the bytes all replies may take together.  When Redis
 * cannot be used, REDIS_FAIL_OPEN returns NULL (after at most one WARNING
 * per outage) and REDIS_FAIL_ERROR raises an error.
 *
 * A connection that dies between two requests (Redis restarted, the client
 * killed) is reopened and the request sent again, once, before anything is
 * reported: all cacheaside requests can be repeated safely.
 */
RedisReply *
redis_execute(RedisRequest *req, size_t reply_limit, RedisFailMode mode)
{
	RedisError	err;
	RedisReply *replies;
	TimestampTz deadline;
	bool		reused;

	Assert(req->ncommands > 0);

	if (conn != NULL && (conn_in_request || !redis_settings_unchanged()))
		redis_disconnect();

	if (conn == NULL)
	{
		if (mode == REDIS_FAIL_OPEN && redis_backing_off())
			return NULL;
		if (!redis_connect(&err))
		{
			redis_fail(mode, &err);
			return NULL;
		}
		reused = false;
	}
	else
		reused = true;

	replies = palloc0(sizeof(RedisReply) * req->ncommands);
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   cacheaside_command_timeout);
	if (redis_exchange(req, replies, reply_limit, deadline,
					   cacheaside_command_timeout, &err))
		return redis_succeeded(replies);

	/* A connection that was idle may have died while idle: retry once */
	if (reused && err.retryable)
	{
		redis_disconnect();
		if (redis_connect(&err))
		{
			memset(replies, 0, sizeof(RedisReply) * req->ncommands);
			deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   cacheaside_command_timeout);
			if (redis_exchange(req, replies, reply_limit, deadline,
							   cacheaside_command_timeout, &err))
				return redis_succeeded(replies);
		}
	}

	redis_fail(mode, &err);
	return NULL;
}

/*
 * Report an error reply to one of our commands, once per connection: the
 * connection itself is fine (Redis answered), but something refuses our
 * commands, e.g. an ACL, maxmemory with noeviction, or a read-only replica.
 */
void
redis_warn_reply_error(const char *command, const RedisReply *reply)
{
	if (reply_error_warned)
		return;
	reply_error_warned = true;
	ereport(WARNING,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("cacheaside: Redis refused %s, the cache is bypassed", command),
			 errdetail("Redis answered: %s",
					   reply->kind == REDIS_KIND_ERROR ? reply->str :
					   "an unexpected reply")));
}

/*
 * Raise the error for a reply that callers which cannot fail open did not
 * expect: Redis refused the command (08006), or answered something else.
 */
void
redis_unexpected_reply(const char *command, const RedisReply *reply)
{
	if (reply->kind == REDIS_KIND_ERROR)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("Redis refused %s", command),
				 errdetail("Redis answered: %s", reply->str)));
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("unexpected reply from Redis to %s", command)));
}
