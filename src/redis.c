/*-------------------------------------------------------------------------
 *
 * redis.c
 *	  The transport to Redis: the only file that includes hiredis.
 *
 * Each backend opens at most one connection, lazily, the first time a
 * request is sent; its state (RedisConnection) outlives transactions and
 * the connection is closed at process exit.  All I/O is non-blocking: the
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
 * Opening a connection is two steps, each bounded by connect_timeout as a
 * whole: the socket (a non-blocking connect), then the handshake (AUTH
 * with the credentials of cacheaside.password_file, and SELECT), sent
 * together in one round trip.
 *
 * Any failure (cannot connect, AUTH refused, I/O error, timeout, protocol
 * error, oversized reply) drops the connection, and redis_execute returns
 * NULL with the reason; a connection that died while idle is reopened and
 * the request sent again once first, since every request cacheaside sends
 * can be repeated safely.  What a failure means for the caller is decided
 * by the entry store (store.c).
 *
 * Note about interrupted requests: an error thrown while a request waits
 * (cancel, statement_timeout) leaves the reply stream out of step with the
 * requests.  in_request stays true then, and the next request drops the
 * connection before it starts.
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

/* Bytes the replies of the handshake may take */
#define HANDSHAKE_REPLY_LIMIT	(64 * 1024)

/*
 * hiredis allocates an array reply's table of elements from the count the
 * server announces, before any element arrives: "*2000000000" would make
 * it allocate 16 GB.  Counts no reply within the request's byte limit
 * could fill (every element takes at least 4 bytes) are refused; the
 * reader then reports an error and the connection is dropped.  hiredis 1.x
 * has that limit itself (the reader's maxelements, which also bounds the
 * maps and sets of RESP3); with 0.14 the array constructor refuses them.
 */
#define MAX_ARRAY_ELEMENTS	(1024 * 1024)
#if HIREDIS_MAJOR >= 1
#define HIREDIS_READER_MAXELEMENTS 1
typedef size_t ReaderElements;	/* the count hiredis 1.x passes */
#else
typedef int ReaderElements;		/* the count hiredis 0.14 passes */
#endif

/*
 * How deeply arrays may nest in a reply: hiredis 0.14 parses 7 levels and
 * no more, hiredis 1.x any depth, and a reply is freed, checked and copied
 * by recursion.  The array constructor refuses deeper ones in both, so
 * that a hostile server cannot exhaust the stack.  cacheaside's deepest
 * reply (SCAN's) has two.
 */
#define MAX_REPLY_DEPTH		7

/* The settings a connection was opened with */
typedef struct RedisTarget
{
	char	   *host;			/* in TopMemoryContext */
	int			port;
	int			database;
	char	   *password_file;	/* in TopMemoryContext */
	char	   *sentinels;		/* in TopMemoryContext */
	char	   *sentinel_master;	/* in TopMemoryContext */
} RedisTarget;

/*
 * With Sentinels, how often a session asks them whether its master is
 * still the master (ms), besides before every invalidation
 */
#define MASTER_CHECK_INTERVAL	1000

/* Longest host name a Sentinel may give for the master */
#define MASTER_HOST_MAX		255

/* The connection of this backend, and everything that outlives a request */
typedef struct RedisConnection
{
	redisContext *context;		/* NULL when not connected */
	WaitEventSet *waitset;		/* latch, postmaster death, the socket */
	int			sock_pos;		/* the socket's position in waitset */
	uint32		sock_events;	/* what waitset waits for on the socket */

	/*
	 * True from the moment a request starts until its last reply is read
	 * (and during the handshake).  Still true when the next request
	 * starts: an error cut the last one short, the protocol state is
	 * unknown and the connection must be dropped.
	 */
	bool		in_request;

	RedisTarget target;			/* of the open connection, or of the last
								 * failure */

	/* The server connected to (or being connected to), for messages */
	char		server_host[MASTER_HOST_MAX + 1];
	int			server_port;

	bool		server_is_sentinel;

	/* The Sentinel that answered last: asked first next time */
	int			sentinel_first;

	/* When a Sentinel last named the master of the open connection */
	TimestampTz master_confirmed;

	/* A Sentinel's answer to AUTH, when it refused it */
	char		sentinel_auth_error[128];
	uint64		opened;			/* connections opened by this backend */

	/* hiredis's reply constructors, and ours that bound arrays */
	redisReplyObjectFunctions *hiredis_functions;
	redisReplyObjectFunctions bounded_functions;
	long long	array_elements_limit;	/* of the request being read */
	size_t		push_received;	/* bytes of the message being received
								 * (redis_receive) */

	bool		exit_callback_registered;
} RedisConnection;

static RedisConnection rconn;

/* What replies are read into before being fed to hiredis */
static char recv_chunk[RECV_CHUNK];

static void redis_seterr(RedisError *err, const char *fmt,...) pg_attribute_printf(2, 3);

/*
 * The array constructor of the reader: refuses arrays nested deeper than
 * MAX_REPLY_DEPTH, and with hiredis 0.14 counts over the request's limit
 * (1.x refuses those itself: maxelements).  The reader then reports "out
 * of memory" and the connection is dropped.
 */
static void *
bounded_create_array(const redisReadTask *task, ReaderElements elements)
{
	int			depth = 0;

	for (const redisReadTask *t = task->parent; t != NULL; t = t->parent)
		if (++depth >= MAX_REPLY_DEPTH)
			return NULL;
#ifndef HIREDIS_READER_MAXELEMENTS
	if (elements > rconn.array_elements_limit)
		return NULL;
#endif
	return rconn.hiredis_functions->createArray(task, elements);
}


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
	req->confirm_master = false;
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
 * Connection state
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

	/*
	 * Messages quote what servers sent (error replies, host names): keep
	 * them printable ASCII, so that no encoding conversion of the message
	 * can fail and turn a fail-open WARNING into an ERROR.
	 */
	for (char *c = err->msg; *c; c++)
		if ((unsigned char) *c >= 0x7f ||
			((unsigned char) *c < 0x20 && *c != '\n' && *c != '\t'))
			*c = '?';
}

/*
 * Close the connection, if any.  Safe to call at any time.
 */
void
redis_disconnect(void)
{
	if (rconn.waitset != NULL)
	{
		FreeWaitEventSet(rconn.waitset);
		rconn.waitset = NULL;
		rconn.sock_pos = -1;
		rconn.sock_events = 0;
	}
	if (rconn.context != NULL)
	{
		redisFree(rconn.context);
		rconn.context = NULL;
	}
	rconn.in_request = false;
	rconn.push_received = 0;
}

static void
redis_at_exit(int code, Datum arg)
{
	redis_disconnect();
}

/*
 * Do the connection settings differ from those of the open connection, or
 * of the last failure?  (An attempt cut short by an interrupt is neither.)
 */
bool
redis_settings_changed(void)
{
	return rconn.target.host == NULL ||
		rconn.target.port != cacheaside_port ||
		rconn.target.database != cacheaside_database ||
		strcmp(rconn.target.host, cacheaside_host) != 0 ||
		strcmp(rconn.target.password_file, cacheaside_password_file) != 0 ||
		strcmp(rconn.target.sentinels, cacheaside_sentinels) != 0 ||
		strcmp(rconn.target.sentinel_master, cacheaside_sentinel_master) != 0;
}

/*
 * Is the master found through Sentinels?  Also when only
 * cacheaside.sentinel_master is set: cacheaside.host is then not a
 * fallback (a malformed list in postgresql.conf is ignored by the server).
 */
static bool
redis_use_sentinels(void)
{
	return (cacheaside_sentinels != NULL && cacheaside_sentinels[0] != '\0') ||
		(cacheaside_sentinel_master != NULL &&
		 cacheaside_sentinel_master[0] != '\0');
}

static void
redis_remember_target(void)
{
	if (rconn.target.host)
		pfree(rconn.target.host);
	if (rconn.target.password_file)
		pfree(rconn.target.password_file);
	if (rconn.target.sentinels)
		pfree(rconn.target.sentinels);
	if (rconn.target.sentinel_master)
		pfree(rconn.target.sentinel_master);
	rconn.target.host = MemoryContextStrdup(TopMemoryContext, cacheaside_host);
	rconn.target.password_file = MemoryContextStrdup(TopMemoryContext,
													 cacheaside_password_file);
	rconn.target.sentinels = MemoryContextStrdup(TopMemoryContext,
												 cacheaside_sentinels);
	rconn.target.sentinel_master = MemoryContextStrdup(TopMemoryContext,
													   cacheaside_sentinel_master);
	rconn.target.port = cacheaside_port;
	rconn.target.database = cacheaside_database;
}

/*
 * Can a request be sent on the open connection as it is?  False when there
 * is none, when the last request was cut short, or when the settings have
 * changed since it was opened.
 */
bool
redis_ready(void)
{
	return rconn.context != NULL && !rconn.in_request &&
		!redis_settings_changed();
}

/*
 * How many connections this backend has opened: a caller that reports
 * something once per connection compares it with the number it saw.
 */
uint64
redis_connections_opened(void)
{
	return rconn.opened;
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

		if (rconn.sock_events != event)
		{
			ModifyWaitEvent(rconn.waitset, rconn.sock_pos, event, NULL);
			rconn.sock_events = event;
		}

		rc = WaitEventSetWait(rconn.waitset, timeout, &occurred, 1,
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


/* ----------------------------------------------------------------
 * Opening a connection: the socket
 * ----------------------------------------------------------------
 */

/* The server being connected to, as messages name it */
static void
redis_seterr_connect(RedisError *err, const char *why)
{
	const char *what = rconn.server_is_sentinel ? "Redis Sentinel" : "Redis";

	if (rconn.server_host[0] == '/')
		redis_seterr(err, "could not connect to %s at \"%s\": %s",
					 what, rconn.server_host, why);
	else
		redis_seterr(err, "could not connect to %s at %s:%d: %s",
					 what, rconn.server_host, rconn.server_port, why);
}

/* Name the server to connect to in rconn, for the socket and messages */
static void
redis_set_server(const char *host, int port, bool sentinel)
{
	strlcpy(rconn.server_host, host, sizeof(rconn.server_host));
	rconn.server_port = port;
	rconn.server_is_sentinel = sentinel;
}

/*
 * Open the socket with a non-blocking connect and wait until it completes
 * or the deadline passes.  On success rconn.context is set, the reader is
 * bounded and the wait event set is made; in_request is true until the
 * handshake is done, so that an interrupt in between makes the next
 * request drop the connection.
 */
static bool
redis_open_socket(TimestampTz deadline, RedisError *err)
{
	redisContext *c;
	int			sockerr = 0;
	socklen_t	optlen = sizeof(sockerr);

	Assert(rconn.context == NULL);

	if (rconn.server_host[0] == '/')
		c = redisConnectUnixNonBlock(rconn.server_host);
	else
		c = redisConnectNonBlock(rconn.server_host, rconn.server_port);
	if (c == NULL)
	{
		redis_seterr(err, "could not allocate a Redis connection");
		return false;
	}
	if (c->err)
	{
		redis_seterr_connect(err, c->errstr);
		redisFree(c);
		return false;
	}
	rconn.context = c;
	rconn.in_request = true;

	/*
	 * Bound what the reader allocates for arrays (MAX_ARRAY_ELEMENTS,
	 * MAX_REPLY_DEPTH): the array constructor is wrapped, and hiredis
	 * 1.x's maxelements is set for each request.
	 */
	if (rconn.hiredis_functions == NULL)
	{
		rconn.hiredis_functions = c->reader->fn;
		rconn.bounded_functions = *rconn.hiredis_functions;
		rconn.bounded_functions.createArray = bounded_create_array;
	}
	c->reader->fn = &rconn.bounded_functions;

	/* requests are written whole; never let Nagle hold one back */
	if (rconn.server_host[0] != '/')
	{
		int			one = 1;

		(void) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}

	if (!rconn.exit_callback_registered)
	{
		on_proc_exit(redis_at_exit, (Datum) 0);
		rconn.exit_callback_registered = true;
	}

	/* in TopMemoryContext; from 17 on, owned by no resource owner */
#if PG_VERSION_NUM >= 170000
	rconn.waitset = CreateWaitEventSet(NULL, 3);
#else
	rconn.waitset = CreateWaitEventSet(TopMemoryContext, 3);
#endif
	AddWaitEventToSet(rconn.waitset, WL_LATCH_SET, PGINVALID_SOCKET,
					  MyLatch, NULL);
	AddWaitEventToSet(rconn.waitset, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET,
					  NULL, NULL);
	rconn.sock_pos = AddWaitEventToSet(rconn.waitset, WL_SOCKET_WRITEABLE,
									   c->fd, NULL, NULL);
	rconn.sock_events = WL_SOCKET_WRITEABLE;

	/* the non-blocking connect completes when the socket is writable */
	if (!redis_wait(WL_SOCKET_WRITEABLE, deadline))
	{
		if (rconn.server_host[0] == '/')
			redis_seterr(err, "timed out after %d ms connecting to %s at \"%s\"",
						 cacheaside_connect_timeout,
						 rconn.server_is_sentinel ? "Redis Sentinel" : "Redis",
						 rconn.server_host);
		else
			redis_seterr(err, "timed out after %d ms connecting to %s at %s:%d",
						 cacheaside_connect_timeout,
						 rconn.server_is_sentinel ? "Redis Sentinel" : "Redis",
						 rconn.server_host, rconn.server_port);
		return false;
	}
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &sockerr, &optlen) != 0 ||
		sockerr != 0)
	{
		redis_seterr_connect(err, strerror(sockerr ? sockerr : errno));
		return false;
	}
	return true;
}


/* ----------------------------------------------------------------
 * Opening a connection: the handshake
 * ----------------------------------------------------------------
 */

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
 * The exchange of a request that holds credentials: the request and the
 * credentials are wiped on every path, also when an interrupt cuts the
 * exchange short.
 */
static bool
redis_exchange_secret(RedisRequest *req, RedisReply *replies,
					  TimestampTz deadline, char *user, char *password,
					  RedisError *err)
{
	bool		ok;

	PG_TRY();
	{
		ok = redis_exchange(req, replies, HANDSHAKE_REPLY_LIMIT, deadline,
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
	redis_request_free(req);
	redis_wipe_free(user);
	redis_wipe_free(password);
	return ok;
}

/* Did the handshake command have the status reply it needs? */
static bool
redis_handshake_reply_ok(const RedisReply *reply, const char *what,
						 RedisError *err)
{
	if (reply->kind == REDIS_KIND_STATUS)
		return true;
	redis_seterr(err, "Redis refused %s: %s", what,
				 reply->kind == REDIS_KIND_ERROR ? reply->str :
				 "unexpected reply");
	return false;
}

/*
 * Check ROLE's reply: the server must be a master ("master" first).
 */
static bool
redis_role_is_master(const RedisReply *reply, RedisError *err)
{
	if (reply->kind == REDIS_KIND_ARRAY && reply->nelements >= 1 &&
		(reply->elements[0].kind == REDIS_KIND_STRING ||
		 reply->elements[0].kind == REDIS_KIND_STATUS) &&
		strcmp(reply->elements[0].str, "master") == 0)
		return true;
	if (reply->kind == REDIS_KIND_ARRAY && reply->nelements >= 1 &&
		reply->elements[0].kind == REDIS_KIND_STRING)
		redis_seterr(err, "it is a %s, not a master", reply->elements[0].str);
	else if (reply->kind == REDIS_KIND_ERROR)
		redis_seterr(err, "it refused ROLE: %s", reply->str);
	else
		redis_seterr(err, "it gave an unexpected reply to ROLE");
	return false;
}

/*
 * The first request of a connection, in one round trip before the
 * deadline: AUTH with the credentials of cacheaside.password_file; on a
 * data node SELECT of cacheaside.database, and, when the master was named
 * by a Sentinel, ROLE to check that it still is the master; on a Sentinel
 * (rconn.server_is_sentinel) nothing else.  Nothing is sent when there is
 * nothing to ask.
 *
 * A Sentinel's refusal of AUTH is not an error here: Sentinels often run
 * without a password (or without the data nodes' ACL user), and then
 * answer the next command all the same.  The refusal is kept in
 * rconn.sentinel_auth_error, for the message when the Sentinel then
 * refuses to answer without it (NOAUTH).
 */
static bool
redis_handshake(TimestampTz deadline, RedisError *err)
{
	char	   *user = NULL;
	char	   *password = NULL;
	RedisRequest req;
	RedisReply *replies;
	bool		ok;
	int			i = 0;
	bool		sentinel = rconn.server_is_sentinel;
	bool		select = !sentinel && cacheaside_database != 0;
	bool		role = !sentinel && redis_use_sentinels();

	rconn.sentinel_auth_error[0] = '\0';
	if (cacheaside_password_file[0] != '\0' &&
		!redis_read_password_file(cacheaside_password_file, &user, &password,
								  err))
		return false;
	if (password == NULL && !select && !role)
		return true;

	redis_request_init(&req);

	/*
	 * Room for everything at once: a buffer that grew after the password
	 * was appended would be freed by repalloc without being wiped.
	 */
	enlargeStringInfo(&req.buf, 128 + (user ? strlen(user) : 0) +
					  (password ? strlen(password) : 0));
	if (password != NULL)
	{
		redis_command(&req, user ? 3 : 2);
		redis_arg_str(&req, "AUTH");
		if (user)
			redis_arg_str(&req, user);
		redis_arg_str(&req, password);
	}
	if (select)
	{
		redis_command(&req, 2);
		redis_arg_str(&req, "SELECT");
		redis_arg_int(&req, cacheaside_database);
	}
	if (role)
	{
		redis_command(&req, 1);
		redis_arg_str(&req, "ROLE");
	}
	replies = palloc0(sizeof(RedisReply) * req.ncommands);

	ok = redis_exchange_secret(&req, replies, deadline, user, password, err);
	if (ok && password != NULL)
	{
		if (sentinel && replies[i].kind == REDIS_KIND_ERROR)
			strlcpy(rconn.sentinel_auth_error, replies[i].str,
					sizeof(rconn.sentinel_auth_error));
		else
			ok = redis_handshake_reply_ok(&replies[i],
										  user ? "AUTH for its user" : "AUTH",
										  err);
		i++;
	}
	if (ok && select)
	{
		char		what[32];

		snprintf(what, sizeof(what), "SELECT %d", cacheaside_database);
		ok = redis_handshake_reply_ok(&replies[i++], what, err);
	}
	if (ok && role)
	{
		RedisError	why;

		if (!redis_role_is_master(&replies[i++], &why))
		{
			redis_seterr(err, "Redis at %s:%d, named master \"%s\" by a Sentinel, is not usable: %s",
						 rconn.server_host, rconn.server_port,
						 cacheaside_sentinel_master, why.msg);
			ok = false;
		}
	}
	return ok;
}

/*
 * Ask the Sentinel named in rconn for the address of the master
 * cacheaside.sentinel_master, within cacheaside.connect_timeout.  Returns
 * true with *found set when it answered: *found is false when it knows no
 * master of that name.  The connection to the Sentinel is closed on every
 * path that returns.  Only a host name or an address is accepted, never a
 * Unix socket path (real Sentinels give none): a Sentinel cannot send this
 * server's credentials to a local socket of its choosing.
 */
static bool
redis_ask_sentinel(char *host, int *port, bool *found, RedisError *err)
{
	TimestampTz deadline;
	RedisRequest req;
	RedisReply	reply;
	bool		ok;

	*found = false;
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   cacheaside_connect_timeout);
	if (!redis_open_socket(deadline, err) || !redis_handshake(deadline, err))
	{
		redis_disconnect();
		return false;
	}

	redis_request_init(&req);
	redis_command(&req, 3);
	redis_arg_str(&req, "SENTINEL");
	redis_arg_str(&req, "get-master-addr-by-name");
	redis_arg_str(&req, cacheaside_sentinel_master);
	ok = redis_exchange(&req, &reply, HANDSHAKE_REPLY_LIMIT, deadline,
						cacheaside_connect_timeout, err);
	redis_request_free(&req);
	redis_disconnect();
	if (!ok)
		return false;

	if (reply.kind == REDIS_KIND_NIL)
		return true;			/* no master of that name */
	if (reply.kind == REDIS_KIND_ARRAY && reply.nelements == 2 &&
		reply.elements[0].kind == REDIS_KIND_STRING &&
		reply.elements[1].kind == REDIS_KIND_STRING &&
		reply.elements[0].len > 0 &&
		reply.elements[0].len <= MASTER_HOST_MAX &&
		reply.elements[0].str[0] != '/' &&
		strlen(reply.elements[0].str) == reply.elements[0].len)
	{
		char	   *end;
		long		p;

		errno = 0;
		p = strtol(reply.elements[1].str, &end, 10);
		if (errno == 0 && end != reply.elements[1].str && *end == '\0' &&
			p >= 1 && p <= 65535)
		{
			strlcpy(host, reply.elements[0].str, MASTER_HOST_MAX + 1);
			*port = (int) p;
			*found = true;
			return true;
		}
	}
	if (reply.kind == REDIS_KIND_ERROR &&
		strncmp(reply.str, "NOAUTH", 6) == 0 &&
		rconn.sentinel_auth_error[0] != '\0')
		redis_seterr(err, "Redis Sentinel at %s:%d refused AUTH: %s",
					 rconn.server_host, rconn.server_port,
					 rconn.sentinel_auth_error);
	else if (reply.kind == REDIS_KIND_ERROR)
		redis_seterr(err, "Redis Sentinel at %s:%d refused SENTINEL get-master-addr-by-name: %s",
					 rconn.server_host, rconn.server_port, reply.str);
	else
		redis_seterr(err, "Redis Sentinel at %s:%d gave an unexpected reply to SENTINEL get-master-addr-by-name",
					 rconn.server_host, rconn.server_port);
	return false;
}

/* Name the Sentinel in a message of the transport, which says "Redis" */
static void
redis_name_sentinel(RedisError *err, const char *host, int port)
{
	char		msg[sizeof(err->msg)];

	if (strstr(err->msg, "Redis Sentinel") != NULL)
		return;
	strlcpy(msg, err->msg, sizeof(msg));
	redis_seterr(err, "Redis Sentinel at %s:%d: %s", host, port, msg);
}

/* The Sentinels of cacheaside.sentinels, parsed into buf */
static int
redis_sentinel_list(char **buf, char **hosts, int *ports, RedisError *err)
{
	const char *why = NULL;
	int			n;

	if (cacheaside_sentinels[0] == '\0')
	{
		redis_seterr(err, "cacheaside.sentinel_master is set but cacheaside.sentinels is empty (a malformed value in the configuration file is ignored: see the server log)");
		return -1;
	}
	if (cacheaside_sentinel_master[0] == '\0')
	{
		redis_seterr(err, "cacheaside.sentinels is set but cacheaside.sentinel_master is empty");
		return -1;
	}
	*buf = pstrdup(cacheaside_sentinels);
	n = config_parse_sentinels(*buf, hosts, ports, CONFIG_MAX_SENTINELS, &why);
	if (n <= 0)
	{
		/* not reached: the setting's check refused it */
		redis_seterr(err, "cacheaside.sentinels is invalid: %s",
					 why ? why : "empty");
		return -1;
	}
	return n;
}

/*
 * Connect to the master through the Sentinels of cacheaside.sentinels: ask
 * each in turn, from the one that answered last, and connect to the master
 * it names (checking its role).  A Sentinel that does not answer, knows no
 * such master, or names a server that cannot be used as the master (down,
 * a replica) is passed over for the next one.  Each Sentinel asked and
 * each master tried is given cacheaside.connect_timeout.
 */
static bool
redis_connect_via_sentinels(RedisError *err)
{
	char	   *buf = NULL;
	char	   *hosts[CONFIG_MAX_SENTINELS];
	int			ports[CONFIG_MAX_SENTINELS];
	int			n;
	int			unknown = 0;
	int			silent = 0;
	bool		master_failed = false;
	char		master_host[MASTER_HOST_MAX + 1];
	int			master_port = 0;
	RedisError	last;

	n = redis_sentinel_list(&buf, hosts, ports, err);
	if (n < 0)
		return false;

	last.msg[0] = '\0';
	for (int k = 0; k < n; k++)
	{
		int			s = (rconn.sentinel_first + k) % n;
		bool		found;
		TimestampTz deadline;

		redis_set_server(hosts[s], ports[s], true);
		if (!redis_ask_sentinel(master_host, &master_port, &found,
								master_failed ? err : &last))
		{
			if (!master_failed)
			{
				redis_name_sentinel(&last, hosts[s], ports[s]);
				silent++;
			}
			continue;
		}
		if (!found)
		{
			unknown++;
			continue;
		}

		redis_set_server(master_host, master_port, false);
		deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											   cacheaside_connect_timeout);
		if (redis_open_socket(deadline, &last) &&
			redis_handshake(deadline, &last))
		{
			rconn.sentinel_first = s;
			rconn.master_confirmed = GetCurrentTimestamp();
			pfree(buf);
			return true;
		}
		redis_disconnect();

		/* the most useful message: why the master named could not be used */
		{
			char		msg[sizeof(last.msg)];

			strlcpy(msg, last.msg, sizeof(msg));
			redis_seterr(err, "%s (named by the Redis Sentinel at %s:%d)",
						 msg, hosts[s], ports[s]);
		}
		master_failed = true;
	}
	pfree(buf);

	if (master_failed)
		;						/* err says why the last master failed */
	else if (unknown > 0)
		redis_seterr(err, "no Redis Sentinel of cacheaside.sentinels knows a master named \"%s\" (%d of %d answered that they do not, %d did not answer)",
					 cacheaside_sentinel_master, unknown, n, silent);
	else if (n == 1)
		memcpy(err, &last, sizeof(RedisError));
	else
		redis_seterr(err, "no Redis Sentinel of cacheaside.sentinels answered; the last: %s",
					 last.msg);
	err->retryable = false;
	return false;
}

/*
 * Open the connection: through the Sentinels when they are set, else to
 * cacheaside.host and cacheaside.port; the socket and the handshake within
 * cacheaside.connect_timeout.  On failure nothing stays open.
 */
static bool
redis_connect(RedisError *err)
{
	if (redis_use_sentinels())
	{
		if (!redis_connect_via_sentinels(err))
			return false;
	}
	else
	{
		TimestampTz deadline;

		redis_set_server(cacheaside_host, cacheaside_port, false);
		deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											   cacheaside_connect_timeout);
		if (!redis_open_socket(deadline, err) ||
			!redis_handshake(deadline, err))
		{
			redis_disconnect();
			return false;
		}
	}
	redis_remember_target();
	rconn.in_request = false;
	rconn.opened++;
	return true;
}

/*
 * With Sentinels: is the master this connection goes to still the one the
 * Sentinels name?  After a failover the old master may stay a writable
 * master for seconds until the Sentinels reconfigure it, and what is
 * written there is lost: invalidations must reach the new one.  Asks the
 * Sentinels (from the one that answered last) while the master connection
 * is set aside.  Returns false when a Sentinel names another master (the
 * caller reconnects); true when one names this one, and also when none
 * answers (Sentinels down do not mean the master changed).
 */
static bool
redis_master_still_named(void)
{
	redisContext *context = rconn.context;
	WaitEventSet *waitset = rconn.waitset;
	int			sock_pos = rconn.sock_pos;
	uint32		sock_events = rconn.sock_events;
	size_t		push_received = rconn.push_received;
	char		host[MASTER_HOST_MAX + 1];
	int			port = rconn.server_port;
	char	   *buf = NULL;
	char	   *hosts[CONFIG_MAX_SENTINELS];
	int			ports[CONFIG_MAX_SENTINELS];
	int			n;
	volatile bool same = true;
	RedisError	err;

	strlcpy(host, rconn.server_host, sizeof(host));
	n = redis_sentinel_list(&buf, hosts, ports, &err);
	if (n < 0)
		return false;

	/* set the master's connection aside while a Sentinel is asked */
	rconn.context = NULL;
	rconn.waitset = NULL;
	PG_TRY();
	{
		for (int k = 0; k < n; k++)
		{
			int			s = (rconn.sentinel_first + k) % n;
			char		master_host[MASTER_HOST_MAX + 1];
			int			master_port;
			bool		found;

			redis_set_server(hosts[s], ports[s], true);
			if (!redis_ask_sentinel(master_host, &master_port, &found, &err))
				continue;
			/* a Sentinel that forgot the master says nothing of it */
			if (!found)
				continue;
			rconn.sentinel_first = s;
			same = (strcmp(master_host, host) == 0 && master_port == port);
			break;
		}
	}
	PG_CATCH();
	{
		redis_disconnect();
		rconn.context = context;
		rconn.waitset = waitset;
		rconn.sock_pos = sock_pos;
		rconn.sock_events = sock_events;
		rconn.push_received = push_received;
		redis_set_server(host, port, false);
		PG_RE_THROW();
	}
	PG_END_TRY();
	redis_disconnect();			/* nothing is open: only for clarity */
	rconn.context = context;
	rconn.waitset = waitset;
	rconn.sock_pos = sock_pos;
	rconn.sock_events = sock_events;
	rconn.push_received = push_received;
	redis_set_server(host, port, false);
	pfree(buf);
	if (same)
		rconn.master_confirmed = GetCurrentTimestamp();
	return same;
}


/* ----------------------------------------------------------------
 * Replies
 * ----------------------------------------------------------------
 */

/*
 * Is a reply made of RESP2 types only?  cacheaside never asks for RESP3
 * (no HELLO 3): a RESP3 type (double, boolean, map, set, push...), which
 * hiredis 1.x parses and 0.14 rejects as a protocol error, means a server
 * out of step or hostile, and is treated as 0.14 treats it.
 */
static bool
reply_is_resp2(const redisReply *reply)
{
	switch (reply->type)
	{
		case REDIS_REPLY_STRING:
		case REDIS_REPLY_STATUS:
		case REDIS_REPLY_ERROR:
		case REDIS_REPLY_INTEGER:
		case REDIS_REPLY_NIL:
			return true;
		case REDIS_REPLY_ARRAY:
			for (size_t i = 0; i < reply->elements; i++)
				if (!reply_is_resp2(reply->element[i]))
					return false;
			return true;
		default:
			return false;
	}
}

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
			/* not reached: reply_is_resp2 refused any other type */
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

/* Bound the arrays the reader may make for replies of reply_limit bytes */
static void
redis_bound_reader(size_t reply_limit)
{
	rconn.array_elements_limit = Min(reply_limit / 4, MAX_ARRAY_ELEMENTS);
#ifdef HIREDIS_READER_MAXELEMENTS
	rconn.context->reader->maxelements = rconn.array_elements_limit;
#endif
}

/*
 * Write the whole request, waiting for the socket until the deadline.
 */
static bool
redis_send_all(RedisRequest *req, TimestampTz deadline, int timeout_ms,
			   RedisError *err)
{
	size_t		sent = 0;

	while (sent < (size_t) req->buf.len)
	{
		ssize_t		n;

		n = send(rconn.context->fd, req->buf.data + sent, req->buf.len - sent,
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
	return true;
}

/*
 * The next complete reply the reader holds, if any (*reply NULL: it needs
 * more bytes).  False on a protocol error or a reply of a RESP3 type.
 */
static bool
redis_reader_next(void **reply, RedisError *err)
{
	*reply = NULL;
	if (redisReaderGetReply(rconn.context->reader, reply) != REDIS_OK)
	{
		redis_seterr(err, "invalid reply from Redis: %s",
					 rconn.context->reader->errstr);
		return false;
	}
	if (*reply != NULL && !reply_is_resp2((redisReply *) *reply))
	{
		freeReplyObject(*reply);
		*reply = NULL;
		redis_seterr(err, "invalid reply from Redis: a RESP3 type in answer to a RESP2 request");
		return false;
	}
	return true;
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
	size_t		received = 0;
	int			nreplies = 0;
	char	   *chunk = recv_chunk;

	rconn.in_request = true;
	redis_bound_reader(reply_limit);
	if (!redis_send_all(req, deadline, timeout_ms, err))
		return false;

	while (nreplies < req->ncommands)
	{
		void	   *reply = NULL;
		ssize_t		n;

		if (!redis_reader_next(&reply, err))
			return false;
		if (reply != NULL)
		{
			redis_take_reply((redisReply *) reply, &replies[nreplies]);
			nreplies++;
			continue;
		}

		/* The reader needs more bytes */
		n = recv(rconn.context->fd, chunk, RECV_CHUNK, 0);
		if (n > 0)
		{
			received += n;
			if (received > reply_limit)
			{
				redis_seterr(err, "reply from Redis exceeds %zu bytes",
							 reply_limit);
				return false;
			}
			if (redisReaderFeed(rconn.context->reader, chunk, n) != REDIS_OK)
			{
				redis_seterr(err, "could not buffer reply from Redis: %s",
							 rconn.context->reader->errstr);
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
	rconn.in_request = false;
	return true;
}


/* ----------------------------------------------------------------
 * Executing requests
 * ----------------------------------------------------------------
 */

/*
 * With Sentinels, does a reply say that the server is no longer the master
 * (a failover demoted it: READONLY; or it is a replica that lost its
 * master: MASTERDOWN)?  The commands were refused, so sending them again
 * to the new master is safe: err is set as retryable.
 */
static bool
redis_master_lost(const RedisReply *replies, int nreplies, RedisError *err)
{
	if (!redis_use_sentinels())
		return false;
	for (int i = 0; i < nreplies; i++)
	{
		const RedisReply *r = &replies[i];

		if (r->kind == REDIS_KIND_ERROR &&
			(strncmp(r->str, "READONLY", 8) == 0 ||
			 strncmp(r->str, "MASTERDOWN", 10) == 0))
		{
			redis_seterr(err, "Redis at %s:%d is no longer the master \"%s\": %s",
						 rconn.server_host, rconn.server_port,
						 cacheaside_sentinel_master, r->str);
			err->retryable = true;
			return true;
		}
	}
	return false;
}

/*
 * With Sentinels, has the master of the open connection been replaced (do
 * the Sentinels name another one)?  For a connection that does not go
 * through redis_execute (the near-cache tracker's subscribed one), which
 * calls this about once a second.  False without Sentinels, without a
 * connection, or when no Sentinel answers.
 */
bool
redis_master_replaced(void)
{
	if (rconn.context == NULL || rconn.in_request || !redis_use_sentinels())
		return false;
	return !redis_master_still_named();
}

/*
 * Send the request and return one reply per command, in a palloc'd array.
 * reply_limit bounds the bytes all replies may take together.  Returns
 * NULL, with the reason in *err and the connection dropped, when Redis
 * could not be used.  The connection is opened first if needed, or
 * reopened when the settings changed or the last request was cut short.
 *
 * A connection that dies between two requests (Redis restarted, the client
 * killed) is reopened and the request sent again, once, before a failure
 * is returned: all cacheaside requests can be repeated safely.
 */
RedisReply *
redis_execute(RedisRequest *req, size_t reply_limit, RedisError *err)
{
	RedisReply *replies;
	TimestampTz deadline;
	bool		reused;

	Assert(req->ncommands > 0);

	if (rconn.context != NULL && !redis_ready())
		redis_disconnect();

	reused = (rconn.context != NULL);

	/*
	 * With Sentinels, check that the master is still the one they name
	 * before an invalidation, and at most every MASTER_CHECK_INTERVAL
	 * otherwise.
	 */
	if (reused && redis_use_sentinels() &&
		(req->confirm_master ||
		 TimestampDifferenceExceeds(rconn.master_confirmed,
									GetCurrentTimestamp(),
									MASTER_CHECK_INTERVAL)) &&
		!redis_master_still_named())
	{
		redis_disconnect();
		reused = false;
	}

	if (!reused && !redis_connect(err))
	{
		redis_remember_target();
		return NULL;
	}

	replies = palloc0(sizeof(RedisReply) * req->ncommands);
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   cacheaside_command_timeout);
	if (redis_exchange(req, replies, reply_limit, deadline,
					   cacheaside_command_timeout, err) &&
		!redis_master_lost(replies, req->ncommands, err))
		return replies;

	/*
	 * A connection that was idle may have died while idle, or the master
	 * Sentinels named may have lost its role since: retry once (a new
	 * connection asks the Sentinels again).
	 */
	if (reused && err->retryable)
	{
		redis_disconnect();
		if (redis_connect(err))
		{
			memset(replies, 0, sizeof(RedisReply) * req->ncommands);
			deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   cacheaside_command_timeout);
			if (redis_exchange(req, replies, reply_limit, deadline,
							   cacheaside_command_timeout, err) &&
				!redis_master_lost(replies, req->ncommands, err))
				return replies;
		}
	}

	redis_disconnect();
	redis_remember_target();
	pfree(replies);
	return NULL;
}


/* ----------------------------------------------------------------
 * Messages pushed by Redis (a subscribed connection)
 * ----------------------------------------------------------------
 */

/*
 * Send a request on the open connection without reading any reply: for a
 * connection in the subscribed state, whose replies arrive among the
 * messages redis_receive reads.  False, with the connection dropped, when
 * it cannot be sent within cacheaside.command_timeout, or when there is no
 * connection.
 */
bool
redis_send(RedisRequest *req, RedisError *err)
{
	TimestampTz deadline;

	if (rconn.context == NULL)
	{
		redis_seterr(err, "not connected to Redis");
		return false;
	}
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   cacheaside_command_timeout);
	if (!redis_send_all(req, deadline, cacheaside_command_timeout, err))
	{
		redis_disconnect();
		return false;
	}
	return true;
}

/*
 * Read the next message Redis sends on the open connection, waiting until
 * the deadline.  Returns it in palloc'd memory; NULL when the deadline
 * passed first (*timed_out, the connection kept, a partial message kept by
 * the reader) or when the connection failed (the reason in *err, the
 * connection dropped).  One message may take at most message_limit bytes.
 * The wait is interruptible and wakes for the process latch, which it
 * resets after servicing interrupts.
 */
RedisReply *
redis_receive(TimestampTz deadline, size_t message_limit, bool *timed_out,
			  RedisError *err)
{
	*timed_out = false;
	if (rconn.context == NULL)
	{
		redis_seterr(err, "not connected to Redis");
		return NULL;
	}
	redis_bound_reader(message_limit);

	for (;;)
	{
		void	   *reply = NULL;
		ssize_t		n;

		if (!redis_reader_next(&reply, err))
			break;
		if (reply != NULL)
		{
			RedisReply *message = palloc(sizeof(RedisReply));

			rconn.push_received = 0;
			redis_take_reply((redisReply *) reply, message);
			return message;
		}

		n = recv(rconn.context->fd, recv_chunk, RECV_CHUNK, 0);
		if (n > 0)
		{
			rconn.push_received += n;
			if (rconn.push_received > message_limit + RECV_CHUNK)
			{
				redis_seterr(err, "message from Redis exceeds %zu bytes",
							 message_limit);
				break;
			}
			if (redisReaderFeed(rconn.context->reader, recv_chunk, n) != REDIS_OK)
			{
				redis_seterr(err, "could not buffer message from Redis: %s",
							 rconn.context->reader->errstr);
				break;
			}
		}
		else if (n == 0)
		{
			redis_seterr(err, "Redis closed the connection");
			break;
		}
		else if (errno == EINTR)
			continue;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
		{
			if (!redis_wait(WL_SOCKET_READABLE, deadline))
			{
				*timed_out = true;
				return NULL;
			}
		}
		else
		{
			redis_seterr(err, "could not receive from Redis: %s",
						 strerror(errno));
			break;
		}
	}
	rconn.push_received = 0;
	redis_disconnect();
	return NULL;
}
