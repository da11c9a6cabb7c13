/*-------------------------------------------------------------------------
 *
 * redis.c
 *	  The transport to Redis: the only file that includes hiredis.
 *
 * Each backend opens at most one connection per server, lazily, the first
 * time a request goes there; that state (RedisConnection, a RedisNode per
 * server) outlives transactions, and the connections are closed at process
 * exit.  A single server (or the master Sentinels name) is one node; a
 * Redis Cluster is a node per master (see "Redis Cluster" below).  With
 * Sentinels the server is never taken for a cluster: the two are
 * exclusive.  All I/O is non-blocking: the
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
 * requests.  The node's in_request stays true then, and the next request
 * to that node drops its connection before it starts.
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

#include "common/hashfn.h"
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

/* Longest host name a Sentinel or a Redis Cluster may give for a node */
#define MASTER_HOST_MAX		255

/* Hash slots of a Redis Cluster */
#define CLUSTER_SLOTS		16384

/*
 * Nodes a backend may know of in a Redis Cluster (the seed included): a
 * slot map that names more is refused.  Each known node costs a few
 * hundred bytes; only those a request goes to are connected.
 */
#define MAX_NODES			128

/* Redirections (MOVED, ASK) followed for one command before giving up */
#define MAX_REDIRECTS		5

/* Shortest time between two reloads of the slot map, in ms */
#define SLOT_MAP_RELOAD_MS	100

/*
 * A cluster node's failure gives no WARNING while another node's reported
 * outage goes on: one that failed a request less than this long ago (ms),
 * or twice cacheaside.retry_interval if longer
 */
#define OUTAGE_EPISODE_MS	10000

/* Bytes CLUSTER SLOTS may answer */
#define SLOT_MAP_REPLY_LIMIT	(4 * 1024 * 1024)

/* One server this backend talks to, and its connection */
typedef struct RedisNode
{
	bool		known;			/* the entry names a node */
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

	/* The server (to be) connected to, also for messages */
	char		host[MASTER_HOST_MAX + 1];
	int			port;
	bool		is_sentinel;

	/* bytes of the pushed message being received (redis_receive) */
	size_t		push_received;

	/* Cluster nodes only: the per-node back-off and its WARNING */
	TimestampTz failed_at;		/* last failure, or 0 */
	bool		warned;			/* the WARNING of this outage was given */
} RedisNode;

/* What the configured server turned out to be */
typedef enum RedisMode
{
	REDIS_MODE_UNKNOWN,			/* not yet asked, not yet redirected */
	REDIS_MODE_SINGLE,			/* one server (or the master of Sentinels) */
	REDIS_MODE_CLUSTER			/* a node of a Redis Cluster */
} RedisMode;

/* The connections of this backend, and everything that outlives a request */
typedef struct RedisConnection
{
	/*
	 * nodes[0] is the seed: the configured server, or the master the
	 * Sentinels named.  In a cluster the others are the masters of the
	 * slot map (the seed too when it is one of them).
	 */
	RedisNode	nodes[MAX_NODES];

	RedisTarget target;			/* of the open connection, or of the last
								 * failure */

	RedisMode	mode;

	/* Cluster: the node (index into nodes) of each slot, -1 if none */
	int16		slots[CLUSTER_SLOTS];
	int			masters[MAX_NODES]; /* nodes owning slots, in slot order */
	int			nmasters;
	bool		map_stale;		/* a MOVED or a node failure since loaded */
	TimestampTz map_loaded;

	/* The Sentinel that answered last: asked first next time */
	int			sentinel_first;

	/* When a Sentinel last named the master of the open connection */
	TimestampTz master_confirmed;

	/* A Sentinel's answer to AUTH, when it refused it */
	char		sentinel_auth_error[128];
	uint64		opened;			/* connections opened by this backend */
	uint64		asked;			/* commands sent again after ASK */

	/* hiredis's reply constructors, and ours that bound arrays */
	redisReplyObjectFunctions *hiredis_functions;
	redisReplyObjectFunctions bounded_functions;
	long long	array_elements_limit;	/* of the request being read */

	bool		exit_callback_registered;
} RedisConnection;

static RedisConnection rconn;

/* The node the functions below talk to */
static RedisNode *node = &rconn.nodes[0];
/* What replies are read into before being fed to hiredis */
static char recv_chunk[RECV_CHUNK];

static void redis_seterr(RedisError *err, const char *fmt,...) pg_attribute_printf(2, 3);
static void redis_subscribers_close(void);

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
	req->cmd_start = NULL;
	req->cmd_slot = NULL;
	req->cmd_alloc = 0;
	req->try_failed_nodes = false;
}

/*
 * Start a command of argc arguments (the command name counts).  It has no
 * key: in a Redis Cluster it goes to the node the caller names
 * (redis_execute_master), or to the first master.
 */
void
redis_command(RedisRequest *req, int argc)
{
	Assert(req->arg_remaining == 0);
	if (req->ncommands == req->cmd_alloc)
	{
		int			n = Max(8, req->cmd_alloc * 2);

		if (req->cmd_start == NULL)
		{
			req->cmd_start = palloc(sizeof(int) * n);
			req->cmd_slot = palloc(sizeof(int) * n);
		}
		else
		{
			req->cmd_start = repalloc(req->cmd_start, sizeof(int) * n);
			req->cmd_slot = repalloc(req->cmd_slot, sizeof(int) * n);
		}
		req->cmd_alloc = n;
	}
	req->cmd_start[req->ncommands] = req->buf.len;
	req->cmd_slot[req->ncommands] = -1;
	appendStringInfo(&req->buf, "*%d\r\n", argc);
	req->ncommands++;
}

/*
 * Start a command on one key (given again among its arguments by the
 * caller): in a Redis Cluster it is sent to the master of the key's slot.
 */
void
redis_command_key(RedisRequest *req, int argc, const char *key, size_t len)
{
	redis_command(req, argc);
	req->cmd_slot[req->ncommands - 1] = redis_key_slot(key, len);
}

/*
 * CRC16 of Redis Cluster (XMODEM: polynomial 0x1021, initial value 0).
 */
static uint16
redis_crc16(const char *buf, size_t len)
{
	uint16		crc = 0;

	for (size_t i = 0; i < len; i++)
	{
		crc ^= (uint16) ((unsigned char) buf[i]) << 8;
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? (uint16) ((crc << 1) ^ 0x1021) :
				(uint16) (crc << 1);
	}
	return crc;
}

/*
 * The hash slot of a key, as Redis Cluster computes it: when the key holds
 * a non-empty hash tag (the part between the first '{' and the next '}'),
 * only the tag is hashed.
 */
int
redis_key_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len);

	if (open != NULL)
	{
		size_t		from = open - key + 1;
		const char *close = memchr(open + 1, '}', len - from);

		if (close != NULL && close > open + 1)
			return redis_crc16(open + 1, close - open - 1) % CLUSTER_SLOTS;
	}
	return redis_crc16(key, len) % CLUSTER_SLOTS;
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
	if (req->cmd_start != NULL)
	{
		pfree(req->cmd_start);
		pfree(req->cmd_slot);
		req->cmd_start = NULL;
		req->cmd_slot = NULL;
		req->cmd_alloc = 0;
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
	err->node_only = false;
	err->node_first = false;
}

/*
 * Close a node's connection, if any.  Safe to call at any time.
 */
static void
node_disconnect(RedisNode *n)
{
	if (n->waitset != NULL)
	{
		FreeWaitEventSet(n->waitset);
		n->waitset = NULL;
		n->sock_pos = -1;
		n->sock_events = 0;
	}
	if (n->context != NULL)
	{
		redisFree(n->context);
		n->context = NULL;
	}
	n->in_request = false;
	n->push_received = 0;
}

/*
 * Close every connection of this backend.  Safe to call at any time.
 */
void
redis_disconnect(void)
{
	for (int i = 0; i < MAX_NODES; i++)
		node_disconnect(&rconn.nodes[i]);
	redis_subscribers_close();
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
	if (redis_settings_changed())
		return false;
	if (rconn.mode == REDIS_MODE_CLUSTER)
	{
		/* in a cluster: some node connected */
		for (int i = 0; i < MAX_NODES; i++)
			if (rconn.nodes[i].context != NULL && !rconn.nodes[i].in_request)
				return true;
		return false;
	}
	return rconn.nodes[0].context != NULL && !rconn.nodes[0].in_request;
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

		if (node->sock_events != event)
		{
			ModifyWaitEvent(node->waitset, node->sock_pos, event, NULL);
			node->sock_events = event;
		}

		rc = WaitEventSetWait(node->waitset, timeout, &occurred, 1,
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
	const char *what = node->is_sentinel ? "Redis Sentinel" : "Redis";

	if (node->host[0] == '/')
		redis_seterr(err, "could not connect to %s at \"%s\": %s",
					 what, node->host, why);
	else
		redis_seterr(err, "could not connect to %s at %s:%d: %s",
					 what, node->host, node->port, why);
}

/* Name the server to connect to in rconn, for the socket and messages */
static void
redis_set_server(const char *host, int port, bool sentinel)
{
	strlcpy(node->host, host, sizeof(node->host));
	node->port = port;
	node->is_sentinel = sentinel;
}

/*
 * Open the socket with a non-blocking connect and wait until it completes
 * or the deadline passes.  On success node->context is set, the reader is
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

	Assert(node->context == NULL);

	if (node->host[0] == '/')
		c = redisConnectUnixNonBlock(node->host);
	else
		c = redisConnectNonBlock(node->host, node->port);
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
	node->context = c;
	node->in_request = true;

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
	if (node->host[0] != '/')
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
	node->waitset = CreateWaitEventSet(NULL, 3);
#else
	node->waitset = CreateWaitEventSet(TopMemoryContext, 3);
#endif
	AddWaitEventToSet(node->waitset, WL_LATCH_SET, PGINVALID_SOCKET,
					  MyLatch, NULL);
	AddWaitEventToSet(node->waitset, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET,
					  NULL, NULL);
	node->sock_pos = AddWaitEventToSet(node->waitset, WL_SOCKET_WRITEABLE,
									   c->fd, NULL, NULL);
	node->sock_events = WL_SOCKET_WRITEABLE;

	/* the non-blocking connect completes when the socket is writable */
	if (!redis_wait(WL_SOCKET_WRITEABLE, deadline))
	{
		if (node->host[0] == '/')
			redis_seterr(err, "timed out after %d ms connecting to %s at \"%s\"",
						 cacheaside_connect_timeout,
						 node->is_sentinel ? "Redis Sentinel" : "Redis",
						 node->host);
		else
			redis_seterr(err, "timed out after %d ms connecting to %s at %s:%d",
						 cacheaside_connect_timeout,
						 node->is_sentinel ? "Redis Sentinel" : "Redis",
						 node->host, node->port);
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
static bool redis_exchange_receive(int ncommands, RedisReply *replies,
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
 * (node->is_sentinel) nothing else.  Nothing is sent when there is
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
	bool		sentinel = node->is_sentinel;
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
						 node->host, node->port,
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
		node_disconnect(node);
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
	node_disconnect(node);
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
					 node->host, node->port,
					 rconn.sentinel_auth_error);
	else if (reply.kind == REDIS_KIND_ERROR)
		redis_seterr(err, "Redis Sentinel at %s:%d refused SENTINEL get-master-addr-by-name: %s",
					 node->host, node->port, reply.str);
	else
		redis_seterr(err, "Redis Sentinel at %s:%d gave an unexpected reply to SENTINEL get-master-addr-by-name",
					 node->host, node->port);
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

	memset(&last, 0, sizeof(last));
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
		node_disconnect(node);

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
 * Open the connection of the current node: for the seed (nodes[0]),
 * through the Sentinels when they are set, else to cacheaside.host and
 * cacheaside.port; a cluster node has its address already.  The socket and
 * the handshake within cacheaside.connect_timeout (each Sentinel asked,
 * and each master it names, has its own).  On failure nothing stays open.
 */
static bool
redis_connect(RedisError *err)
{
	if (node == &rconn.nodes[0] && rconn.mode == REDIS_MODE_SINGLE)
		rconn.mode = REDIS_MODE_UNKNOWN;	/* ask again when needed */
	if (node == &rconn.nodes[0] && redis_use_sentinels())
	{
		if (!redis_connect_via_sentinels(err))
			return false;
	}
	else
	{
		TimestampTz deadline;

		if (node == &rconn.nodes[0])
			redis_set_server(cacheaside_host, cacheaside_port, false);
		deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											   cacheaside_connect_timeout);
		if (!redis_open_socket(deadline, err) ||
			!redis_handshake(deadline, err))
		{
			node_disconnect(node);
			return false;
		}
	}
	redis_remember_target();
	node->in_request = false;
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
	redisContext *context = node->context;
	WaitEventSet *waitset = node->waitset;
	int			sock_pos = node->sock_pos;
	uint32		sock_events = node->sock_events;
	size_t		push_received = node->push_received;
	char		host[MASTER_HOST_MAX + 1];
	int			port = node->port;
	char	   *buf = NULL;
	char	   *hosts[CONFIG_MAX_SENTINELS];
	int			ports[CONFIG_MAX_SENTINELS];
	int			n;
	volatile bool same = true;
	RedisError	err;

	strlcpy(host, node->host, sizeof(host));
	n = redis_sentinel_list(&buf, hosts, ports, &err);
	if (n < 0)
		return false;

	/* set the master's connection aside while a Sentinel is asked */
	node->context = NULL;
	node->waitset = NULL;
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
		node_disconnect(node);
		node->context = context;
		node->waitset = waitset;
		node->sock_pos = sock_pos;
		node->sock_events = sock_events;
		node->push_received = push_received;
		redis_set_server(host, port, false);
		PG_RE_THROW();
	}
	PG_END_TRY();
	node_disconnect(node);			/* nothing is open: only for clarity */
	node->context = context;
	node->waitset = waitset;
	node->sock_pos = sock_pos;
	node->sock_events = sock_events;
	node->push_received = push_received;
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
	node->context->reader->maxelements = rconn.array_elements_limit;
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

		n = send(node->context->fd, req->buf.data + sent, req->buf.len - sent,
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
	if (redisReaderGetReply(node->context->reader, reply) != REDIS_OK)
	{
		redis_seterr(err, "invalid reply from Redis: %s",
					 node->context->reader->errstr);
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
	node->in_request = true;
	redis_bound_reader(reply_limit);
	if (!redis_send_all(req, deadline, timeout_ms, err))
		return false;
	return redis_exchange_receive(req->ncommands, replies, reply_limit,
								  deadline, timeout_ms, err);
}

/*
 * The second half of redis_exchange: read ncommands replies of the
 * request sent on the current node.
 */
static bool
redis_exchange_receive(int ncommands, RedisReply *replies, size_t reply_limit,
					   TimestampTz deadline, int timeout_ms, RedisError *err)
{
	size_t		received = 0;
	int			nreplies = 0;
	char	   *chunk = recv_chunk;

	redis_bound_reader(reply_limit);
	while (nreplies < ncommands)
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
		n = recv(node->context->fd, chunk, RECV_CHUNK, 0);
		if (n > 0)
		{
			received += n;
			if (received > reply_limit)
			{
				redis_seterr(err, "reply from Redis exceeds %zu bytes",
							 reply_limit);
				return false;
			}
			if (redisReaderFeed(node->context->reader, chunk, n) != REDIS_OK)
			{
				redis_seterr(err, "could not buffer reply from Redis: %s",
							 node->context->reader->errstr);
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
	node->in_request = false;
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
						 node->host, node->port,
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
	node = &rconn.nodes[0];
	if (node->context == NULL || node->in_request || !redis_use_sentinels())
		return false;
	return !redis_master_still_named();
}

/*
 * Send a request on the current node and read one reply per command into
 * replies.  The connection is opened first if needed, or reopened when the
 * last request on it was cut short.  A connection that dies between two
 * requests (Redis restarted, the client killed) is reopened and the request
 * sent again, once, before a failure is returned: all cacheaside requests
 * can be repeated safely.  On failure the node's connection is closed.
 */
static bool
node_execute(RedisRequest *req, RedisReply *replies, size_t reply_limit,
			 RedisError *err)
{
	TimestampTz deadline;
	bool		reused;

	if (node->context != NULL && node->in_request)
		node_disconnect(node);

	reused = (node->context != NULL);

	/*
	 * With Sentinels, check that the master is still the one they name
	 * before an invalidation, and at most every MASTER_CHECK_INTERVAL
	 * otherwise.
	 */
	if (reused && node == &rconn.nodes[0] && redis_use_sentinels() &&
		(req->confirm_master ||
		 TimestampDifferenceExceeds(rconn.master_confirmed,
									GetCurrentTimestamp(),
									MASTER_CHECK_INTERVAL)) &&
		!redis_master_still_named())
	{
		node_disconnect(node);
		reused = false;
	}

	if (!reused && !redis_connect(err))
		return false;

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   cacheaside_command_timeout);
	if (redis_exchange(req, replies, reply_limit, deadline,
					   cacheaside_command_timeout, err) &&
		!redis_master_lost(replies, req->ncommands, err))
		return true;

	/*
	 * A connection that was idle may have died while idle, or the master
	 * Sentinels named may have lost its role since: retry once (a new
	 * connection asks the Sentinels again).
	 */
	if (reused && err->retryable)
	{
		node_disconnect(node);
		if (redis_connect(err))
		{
			memset(replies, 0, sizeof(RedisReply) * req->ncommands);
			deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   cacheaside_command_timeout);
			if (redis_exchange(req, replies, reply_limit, deadline,
							   cacheaside_command_timeout, err) &&
				!redis_master_lost(replies, req->ncommands, err))
				return true;
		}
	}

	node_disconnect(node);
	return false;
}

/*
 * When the connection settings changed, close every connection and forget
 * what was learnt of the server: whether it is a cluster, and its nodes.
 */
static void
redis_check_settings(void)
{
	if (!redis_settings_changed())
		return;
	redis_disconnect();
	rconn.mode = REDIS_MODE_UNKNOWN;
	for (int i = 1; i < MAX_NODES; i++)
		memset(&rconn.nodes[i], 0, sizeof(RedisNode));
	rconn.nodes[0].failed_at = 0;
	rconn.nodes[0].warned = false;
	for (int s = 0; s < CLUSTER_SLOTS; s++)
		rconn.slots[s] = -1;
	rconn.nmasters = 0;
	rconn.map_stale = false;
}


/* ----------------------------------------------------------------
 * Redis Cluster
 *
 * The configured server is taken for a single server until it redirects a
 * command (MOVED or ASK), or until a caller asks for the masters
 * (redis_masters: CLUSTER SLOTS, refused by a server not in cluster
 * mode).  From then on it is the seed of a cluster: the slot map (CLUSTER
 * SLOTS) says which master owns each of the 16384 hash slots, and each
 * command on a key goes to the master of the key's slot, each node having
 * its own connection, opened when a command first goes there.  A request
 * is split by node, each part pipelined on its node, the replies put back
 * in the order of the commands.
 *
 * MOVED: the slot has a new owner; the map is patched for that slot, the
 * command sent again there, and the whole map reloaded before the next
 * request (at most every SLOT_MAP_RELOAD_MS).  ASK: the slot is being
 * migrated and the key is already on the target; ASKING and the command
 * are sent there, once, without touching the map.  A command is redirected
 * at most MAX_REDIRECTS times: a loop ends in a failure of the request.
 *
 * A node that cannot be used fails the requests that need it (node_only:
 * the caller falls back for them) and backs off for
 * cacheaside.retry_interval, without touching the other nodes; the first
 * failure of its outage is flagged so that the caller warns once.  Nodes
 * the map no longer names are disconnected and forgotten when it is
 * reloaded.
 *
 * Failover.  When a master with replicas dies, the cluster promotes one of
 * them after cluster-node-timeout and an election; until then the dead
 * node fails its requests (connection refused, or a timeout) and backs
 * off, and with cluster-require-full-coverage yes the other masters answer
 * CLUSTERDOWN, which is taken as the same failure of the node that gave
 * it (as are TRYAGAIN and READONLY: refused commands, the connection in
 * step).  Each failure marks the map stale, so the next request reloads it
 * (asking a connected master first) and, once the promotion is known,
 * goes to the new master, which is another node entry: the dead one,
 * owning no slot any more, is forgotten with its outage.  Caching of its
 * slots thus resumes at most one retry_interval after the promotion.  A
 * graceful failover (CLUSTER FAILOVER) holds writes on the old master
 * until the replica took over, then the old master answers MOVED.  The
 * WARNING is given once per episode: not again while any node's outage
 * that was reported goes on (a failure of it in the last
 * OUTAGE_EPISODE_MS).
 * ----------------------------------------------------------------
 */

/*
 * The index in rconn.nodes of the node at host:port, added when unknown.
 * -1 with err set when the table is full.
 */
static int
cluster_node_index(const char *host, int port, RedisError *err)
{
	int			free_entry = -1;

	for (int i = 0; i < MAX_NODES; i++)
	{
		RedisNode  *n = &rconn.nodes[i];

		if (i == 0 || n->known)
		{
			if (n->port == port && strcmp(n->host, host) == 0)
				return i;
		}
		else if (free_entry < 0)
			free_entry = i;
	}
	if (free_entry < 0)
	{
		redis_seterr(err, "the Redis Cluster names more than %d nodes",
					 MAX_NODES - 1);
		return -1;
	}
	memset(&rconn.nodes[free_entry], 0, sizeof(RedisNode));
	rconn.nodes[free_entry].known = true;
	strlcpy(rconn.nodes[free_entry].host, host, MASTER_HOST_MAX + 1);
	rconn.nodes[free_entry].port = port;
	rconn.nodes[free_entry].sock_pos = -1;
	return free_entry;
}

/*
 * Forget the nodes (but the seed) that own no slot, closing their
 * connections, and list the masters in the order of their slots.
 */
static void
cluster_forget_unused(void)
{
	bool		owns[MAX_NODES];

	memset(owns, 0, sizeof(owns));
	rconn.nmasters = 0;
	for (int s = 0; s < CLUSTER_SLOTS; s++)
	{
		int			n = rconn.slots[s];

		if (n >= 0 && !owns[n])
		{
			owns[n] = true;
			rconn.masters[rconn.nmasters++] = n;
		}
	}
	for (int i = 1; i < MAX_NODES; i++)
		if (rconn.nodes[i].known && !owns[i])
		{
			if (rconn.nodes[i].warned)
				ereport(LOG,
						(errmsg("cacheaside: Redis Cluster node %s:%d serves no slot any more, caching of its former slots resumes on their new masters",
								rconn.nodes[i].host, rconn.nodes[i].port)));
			node_disconnect(&rconn.nodes[i]);
			rconn.nodes[i].known = false;
		}
	/* the seed is never forgotten: its outage ends with its slots */
	if (!owns[0] && rconn.nmasters > 0 && rconn.nodes[0].warned)
	{
		ereport(LOG,
				(errmsg("cacheaside: Redis Cluster node %s:%d serves no slot any more, caching of its former slots resumes on their new masters",
						rconn.nodes[0].host, rconn.nodes[0].port)));
		rconn.nodes[0].warned = false;
		rconn.nodes[0].failed_at = 0;
	}
	/* the seed keeps no connection it does not need */
	if (!owns[0] && rconn.nmasters > 0)
		node_disconnect(&rconn.nodes[0]);
}

/*
 * Take the reply of node `from` to CLUSTER SLOTS as the slot map.  Each
 * element: the first and last slot of a range, then its master (host,
 * port, ...), then its replicas (ignored).  Anything out of shape or out of
 * bounds refuses the whole map.
 */
static bool
cluster_parse_slots(const RedisReply *reply, int from, RedisError *err)
{
	int16	   *map;
	const char *why = NULL;
	long long	assigned;

	if (reply->kind != REDIS_KIND_ARRAY)
	{
		why = "not an array";
		goto bad;
	}
	if (reply->nelements > CLUSTER_SLOTS)
	{
		why = "more ranges than slots";
		goto bad;
	}

	map = palloc(sizeof(int16) * CLUSTER_SLOTS);
	assigned = 0;
	for (int s = 0; s < CLUSTER_SLOTS; s++)
		map[s] = -1;
	for (int i = 0; i < reply->nelements; i++)
	{
		const RedisReply *e = &reply->elements[i];
		const RedisReply *m;
		long long	first;
		long long	last;
		const char *host;
		int			n;

		if (e->kind != REDIS_KIND_ARRAY || e->nelements < 3 ||
			e->elements[0].kind != REDIS_KIND_INTEGER ||
			e->elements[1].kind != REDIS_KIND_INTEGER ||
			e->elements[2].kind != REDIS_KIND_ARRAY ||
			e->elements[2].nelements < 2 ||
			e->elements[2].elements[0].kind != REDIS_KIND_STRING ||
			e->elements[2].elements[1].kind != REDIS_KIND_INTEGER)
		{
			why = "a range of the wrong shape";
			break;
		}
		first = e->elements[0].integer;
		last = e->elements[1].integer;
		if (first < 0 || last < first || last >= CLUSTER_SLOTS)
		{
			why = "a range out of the slots";
			break;
		}
		assigned += last - first + 1;
		if (assigned > CLUSTER_SLOTS)
		{
			why = "ranges that overlap";
			break;
		}
		m = &e->elements[2];
		if (m->elements[0].len > MASTER_HOST_MAX ||
			strlen(m->elements[0].str) != m->elements[0].len)
		{
			why = "an invalid host name";
			break;
		}
		if (m->elements[1].integer < 1 || m->elements[1].integer > 65535)
		{
			why = "an invalid port";
			break;
		}
		/* an unknown endpoint: the host of the node asked */
		host = m->elements[0].str;
		if (host[0] == '\0' || strcmp(host, "?") == 0)
			host = rconn.nodes[from].host;
		n = cluster_node_index(host, (int) m->elements[1].integer, err);
		if (n < 0)
		{
			pfree(map);
			cluster_forget_unused();
			return false;
		}
		for (long long s = first; s <= last; s++)
			map[s] = (int16) n;
	}
	if (why == NULL)
		memcpy(rconn.slots, map, sizeof(int16) * CLUSTER_SLOTS);
	pfree(map);
	cluster_forget_unused();
	if (why == NULL)
	{
		rconn.map_stale = false;
		return true;
	}

bad:
	redis_seterr(err, "Redis Cluster node %s:%d gave an invalid slot map: %s",
				 rconn.nodes[from].host, rconn.nodes[from].port, why);
	return false;
}

/*
 * Ask node `from` for the slot map (CLUSTER SLOTS) and take it.  *refused
 * (when not NULL) says that the node answered with an error: it is no
 * cluster node.
 */
static bool
cluster_load_slots_from(int from, bool *refused, RedisError *err)
{
	RedisRequest req;
	RedisReply	reply;
	bool		ok;

	if (refused)
		*refused = false;
	redis_request_init(&req);
	redis_command(&req, 2);
	redis_arg_str(&req, "CLUSTER");
	redis_arg_str(&req, "SLOTS");
	memset(&reply, 0, sizeof(reply));
	node = &rconn.nodes[from];
	ok = node_execute(&req, &reply, SLOT_MAP_REPLY_LIMIT, err);
	node = &rconn.nodes[0];
	redis_request_free(&req);
	rconn.map_loaded = GetCurrentTimestamp();
	if (!ok)
		return false;
	if (reply.kind == REDIS_KIND_ERROR)
	{
		if (refused)
			*refused = true;
		redis_seterr(err, "Redis at %s:%d refused CLUSTER SLOTS: %s",
					 rconn.nodes[from].host, rconn.nodes[from].port,
					 reply.str);
		return false;
	}
	return cluster_parse_slots(&reply, from, err);
}

/*
 * Reload the slot map from one node: a connected master first, else the
 * seed, else a master not connected; at most three are tried.
 */
static bool
cluster_load_slots(RedisError *err)
{
	int			tried = 0;
	int			candidates[MAX_NODES + 1];
	int			ncandidates = 0;

	for (int i = 0; i < rconn.nmasters; i++)
		if (rconn.nodes[rconn.masters[i]].context != NULL &&
			rconn.masters[i] != 0)
			candidates[ncandidates++] = rconn.masters[i];
	candidates[ncandidates++] = 0;
	for (int i = 0; i < rconn.nmasters; i++)
		if (rconn.nodes[rconn.masters[i]].context == NULL &&
			rconn.masters[i] != 0)
			candidates[ncandidates++] = rconn.masters[i];

	for (int i = 0; i < ncandidates && tried < 3; i++)
	{
		int			c = candidates[i];

		/* skip a node backing off, unless there is no other */
		if (c != 0 && rconn.nodes[c].failed_at != 0 &&
			GetCurrentTimestamp() <
			TimestampTzPlusMilliseconds(rconn.nodes[c].failed_at,
										cacheaside_retry_interval))
			continue;
		tried++;
		if (cluster_load_slots_from(c, NULL, err))
			return true;
	}
	if (tried == 0)
		redis_seterr(err, "no node of the Redis Cluster could be asked for the slot map");
	return false;
}

/*
 * Does a reply of a cluster node say that it cannot serve its slots now?
 * CLUSTERDOWN: the node sees the cluster down (with
 * cluster-require-full-coverage yes, Redis's default, every master answers
 * so from the moment a master is flagged as failed until its replica is
 * promoted); TRYAGAIN: a slot is being migrated or failed over; READONLY: a
 * demoted master, for a command it does not redirect.  The node is then
 * treated as unavailable for this request (its slots fail open, it backs
 * off, the slot map is read again), its connection kept: it is in step.
 * The commands were refused, so nothing happened on the node.
 */
static bool
cluster_node_refuses(const RedisReply *replies, int nreplies, RedisError *err)
{
	for (int i = 0; i < nreplies; i++)
	{
		const RedisReply *r = &replies[i];

		if (r->kind == REDIS_KIND_ERROR &&
			(strncmp(r->str, "CLUSTERDOWN", 11) == 0 ||
			 strncmp(r->str, "TRYAGAIN", 8) == 0 ||
			 strncmp(r->str, "READONLY", 8) == 0))
		{
			redis_seterr(err, "Redis Cluster node %s:%d answered: %.128s",
						 node->host, node->port, r->str);
			return true;
		}
	}
	return false;
}

/*
 * Is a node of the cluster in an outage that was reported (the WARNING of
 * the episode given), and that failed a request less than
 * OUTAGE_EPISODE_MS ago (a node this session stopped asking may have come
 * back long ago)?  Nodes the slot map no longer names are forgotten, with
 * their outage (cluster_forget_unused).
 */
static bool
cluster_outage_warned(void)
{
	TimestampTz now = GetCurrentTimestamp();
	int			window = Max(OUTAGE_EPISODE_MS, 2 * cacheaside_retry_interval);

	for (int i = 0; i < MAX_NODES; i++)
	{
		RedisNode  *n = &rconn.nodes[i];

		if ((i == 0 || n->known) && n->warned && n->failed_at != 0 &&
			!TimestampDifferenceExceeds(n->failed_at, now, window))
			return true;
	}
	return false;
}

/*
 * Execute a request on cluster node n, under its back-off.  On failure err
 * is flagged node_only, with node_first on the first failure of an outage.
 */
static bool
cluster_node_execute(int n, RedisRequest *req, RedisReply *replies,
					 size_t reply_limit, RedisError *err)
{
	RedisNode  *nd = &rconn.nodes[n];
	char		addr[MASTER_HOST_MAX + 16];
	bool		ok;

	snprintf(addr, sizeof(addr), "%s:%d", nd->host, nd->port);
	if (nd->failed_at != 0 && !req->try_failed_nodes &&
		GetCurrentTimestamp() <
		TimestampTzPlusMilliseconds(nd->failed_at, cacheaside_retry_interval))
	{
		redis_seterr(err, "Redis Cluster node %s failed less than cacheaside.retry_interval ago",
					 addr);
		err->node_only = true;
		return false;
	}

	node = nd;
	ok = node_execute(req, replies, reply_limit, err) &&
		!cluster_node_refuses(replies, req->ncommands, err);
	node = &rconn.nodes[0];
	if (ok)
	{
		if (nd->warned)
			ereport(LOG,
					(errmsg("cacheaside: Redis Cluster node %s answers again, caching resumes for its slots",
							addr)));
		nd->warned = false;
		nd->failed_at = 0;
		err->node_only = false;
		return true;
	}

	if (strstr(err->msg, addr) == NULL)
	{
		char		msg[sizeof(err->msg)];

		strlcpy(msg, err->msg, sizeof(msg));
		redis_seterr(err, "Redis Cluster node %s: %s", addr, msg);
	}
	/* one WARNING per episode: none while another node's outage goes on */
	err->node_first = !nd->warned && !cluster_outage_warned();
	nd->failed_at = GetCurrentTimestamp();
	err->node_only = true;
	nd->warned = true;
	rconn.map_stale = true;
	return false;
}

/* Is a reply a redirection?  0: no; 1: MOVED; 2: ASK */
static int
redirect_kind(const RedisReply *r)
{
	if (r->kind != REDIS_KIND_ERROR)
		return 0;
	if (strncmp(r->str, "MOVED ", 6) == 0)
		return 1;
	if (strncmp(r->str, "ASK ", 4) == 0)
		return 2;
	return 0;
}

/*
 * The slot and the node of a redirection, "MOVED <slot> <host>:<port>" (or
 * ASK), from node `from`; an empty host is from's host.
 */
static bool
redirect_target(const RedisReply *r, int from, int *slot, int *target,
				RedisError *err)
{
	const char *p = strchr(r->str, ' ') + 1;
	const char *colon;
	char	   *end;
	char		host[MASTER_HOST_MAX + 1];
	size_t		hostlen;
	long		sl;
	long		port;

	errno = 0;
	sl = strtol(p, &end, 10);
	if (errno != 0 || end == p || *end != ' ' || sl < 0 || sl >= CLUSTER_SLOTS)
		goto bad;
	p = end + 1;
	colon = strrchr(p, ':');
	if (colon == NULL || (hostlen = colon - p) > MASTER_HOST_MAX)
		goto bad;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 ||
		port > 65535)
		goto bad;
	if (hostlen == 0)
		strlcpy(host, rconn.nodes[from].host, sizeof(host));
	else
	{
		memcpy(host, p, hostlen);
		host[hostlen] = '\0';
	}
	*slot = (int) sl;
	*target = cluster_node_index(host, (int) port, err);
	return *target >= 0;

bad:
	redis_seterr(err, "Redis Cluster node %s:%d gave an invalid redirection: %.64s",
				 rconn.nodes[from].host, rconn.nodes[from].port, r->str);
	return false;
}

/* Append command i of req to another request */
static void
request_copy_command(RedisRequest *to, const RedisRequest *req, int i)
{
	int			end = (i + 1 < req->ncommands) ? req->cmd_start[i + 1] :
		req->buf.len;

	appendBinaryStringInfo(&to->buf, req->buf.data + req->cmd_start[i],
						   end - req->cmd_start[i]);
	to->ncommands++;
}

/*
 * Follow the redirections among replies: send each redirected command
 * again to the node named (after ASKING for ASK), at most MAX_REDIRECTS
 * times.  target[i]: the node that gave reply i.
 */
static bool
cluster_follow_redirects(RedisRequest *req, RedisReply *replies, int *target,
						 size_t reply_limit, RedisError *err)
{
	for (int i = 0; i < req->ncommands; i++)
	{
		int			kind;
		int			redirects = 0;

		while ((kind = redirect_kind(&replies[i])) != 0)
		{
			RedisRequest one;
			RedisReply	two[2];
			int			slot;
			int			t;
			bool		ok;

			if (++redirects > MAX_REDIRECTS)
			{
				redis_seterr(err, "Redis Cluster redirected a command %d times, the last time: %.64s",
							 MAX_REDIRECTS, replies[i].str);
				rconn.map_stale = true;
				return false;
			}
			if (!redirect_target(&replies[i], target[i], &slot, &t, err))
				return false;
			if (kind == 1)
			{
				rconn.slots[slot] = (int16) t;
				rconn.map_stale = true;
			}

			redis_request_init(&one);
			one.try_failed_nodes = req->try_failed_nodes;
			if (kind == 2)
			{
				redis_command(&one, 1);
				redis_arg_str(&one, "ASKING");
				rconn.asked++;
			}
			request_copy_command(&one, req, i);
			memset(two, 0, sizeof(two));
			ok = cluster_node_execute(t, &one, two, reply_limit, err);
			redis_request_free(&one);
			if (!ok)
				return false;
			replies[i] = two[kind == 2 ? 1 : 0];
			target[i] = t;
		}
	}
	return true;
}

/*
 * Execute a request on a cluster: each command on a key goes to the master
 * of its slot, each command without one to master number `master`.
 */
static RedisReply *
cluster_execute(RedisRequest *req, int master, size_t reply_limit,
				RedisError *err)
{
	int			n = req->ncommands;
	RedisReply *replies;
	int		   *target;
	bool	   *sent;
	int			keyless;

	if (rconn.map_stale &&
		GetCurrentTimestamp() >=
		TimestampTzPlusMilliseconds(rconn.map_loaded, SLOT_MAP_RELOAD_MS))
	{
		RedisError	ignored;

		/* on failure the map as patched by MOVED replies serves on */
		(void) cluster_load_slots(&ignored);
	}

	if (rconn.nmasters == 0)
		keyless = 0;
	else if (master < rconn.nmasters)
		keyless = rconn.masters[master];
	else
	{
		redis_seterr(err, "the masters of the Redis Cluster changed during the request");
		return NULL;
	}

	replies = palloc0(sizeof(RedisReply) * n);
	target = palloc(sizeof(int) * n);
	sent = palloc0(sizeof(bool) * n);
	for (int i = 0; i < n; i++)
	{
		int			slot = req->cmd_slot[i];

		if (slot < 0)
			target[i] = keyless;
		else if (rconn.slots[slot] >= 0)
			target[i] = rconn.slots[slot];
		else					/* no owner known: any master redirects */
			target[i] = rconn.nmasters > 0 ? rconn.masters[0] : 0;
	}

	/* one pipelined part per node, in the order of the commands */
	for (int i = 0; i < n; i++)
	{
		RedisRequest part;
		RedisReply *part_replies;
		int		   *index;
		int			m = 0;
		bool		ok;

		if (sent[i])
			continue;
		redis_request_init(&part);
		part.try_failed_nodes = req->try_failed_nodes;
		index = palloc(sizeof(int) * n);
		for (int j = i; j < n; j++)
			if (!sent[j] && target[j] == target[i])
			{
				request_copy_command(&part, req, j);
				index[m++] = j;
				sent[j] = true;
			}
		part_replies = palloc0(sizeof(RedisReply) * m);
		ok = cluster_node_execute(target[i], &part, part_replies, reply_limit,
								  err);
		redis_request_free(&part);
		if (!ok)
		{
			pfree(replies);
			return NULL;
		}
		for (int k = 0; k < m; k++)
			replies[index[k]] = part_replies[k];
		pfree(index);
		pfree(part_replies);
	}

	if (!cluster_follow_redirects(req, replies, target, reply_limit, err))
	{
		pfree(replies);
		return NULL;
	}
	pfree(target);
	pfree(sent);
	return replies;
}

/*
 * How many commands this backend has sent again after an ASK redirection.
 * A caller compares it with the number it saw: a reply that came through
 * ASK came from a node the slot map does not name for the key's slot yet,
 * possibly a master that owns no slot at all (the near-cache's tracker
 * follows the masters of the map only).
 */
uint64
redis_ask_count(void)
{
	return rconn.asked;
}

/*
 * Is the configured server known to be a node of a Redis Cluster?
 */
bool
redis_is_cluster(void)
{
	return rconn.mode == REDIS_MODE_CLUSTER && !redis_settings_changed();
}

/*
 * How many masters the commands without a key must be sent to
 * (redis_execute_master): 1 for a single server, the masters of the slot
 * map, freshly loaded, for a cluster.  Asks the server whether it is a
 * cluster when not known yet.  -1 with err set on failure.
 */
int
redis_masters(RedisError *err)
{
	bool		refused;

	err->msg[0] = '\0';
	err->retryable = false;
	err->node_only = false;
	err->node_first = false;
	node = &rconn.nodes[0];
	redis_check_settings();
	if (redis_use_sentinels() || rconn.mode == REDIS_MODE_SINGLE)
		return 1;

	if (rconn.mode != REDIS_MODE_CLUSTER)
	{
		if (cluster_load_slots_from(0, &refused, err))
			rconn.mode = REDIS_MODE_CLUSTER;
		else if (refused)
		{
			rconn.mode = REDIS_MODE_SINGLE;
			return 1;
		}
		else
		{
			redis_remember_target();
			return -1;
		}
	}
	else if (!cluster_load_slots(err))
		return -1;
	if (rconn.nmasters == 0)
	{
		redis_seterr(err, "the Redis Cluster serves no slot");
		return -1;
	}
	return rconn.nmasters;
}

/*
 * Send the request and return one reply per command, in a palloc'd array.
 * reply_limit bounds the bytes all replies (of one node) may take
 * together.  Returns NULL, with the reason in *err, when Redis could not
 * be used.  Connections are opened first if needed, or reopened when the
 * settings changed or the last request was cut short.
 */
RedisReply *
redis_execute(RedisRequest *req, size_t reply_limit, RedisError *err)
{
	return redis_execute_master(req, 0, reply_limit, err);
}

/*
 * redis_execute, with the commands that have no key sent to master number
 * `master` (0 to redis_masters() - 1) of a cluster.
 */
RedisReply *
redis_execute_master(RedisRequest *req, int master, size_t reply_limit,
					 RedisError *err)
{
	RedisReply *replies;

	Assert(req->ncommands > 0);
	err->msg[0] = '\0';
	err->retryable = false;
	err->node_only = false;
	err->node_first = false;
	node = &rconn.nodes[0];
	redis_check_settings();

	if (rconn.mode == REDIS_MODE_CLUSTER)
		return cluster_execute(req, master, reply_limit, err);

	replies = palloc0(sizeof(RedisReply) * req->ncommands);
	if (!node_execute(req, replies, reply_limit, err))
	{
		redis_remember_target();
		pfree(replies);
		return NULL;
	}

	/* a redirected command: the server is a cluster node */
	if (!redis_use_sentinels())
	{
		for (int i = 0; i < req->ncommands; i++)
		{
			int		   *target;
			RedisError	ignored;

			if (redirect_kind(&replies[i]) == 0)
				continue;
			rconn.mode = REDIS_MODE_CLUSTER;
			/* without a map, commands go to the seed, which redirects */
			(void) cluster_load_slots_from(0, NULL, &ignored);
			target = palloc0(sizeof(int) * req->ncommands);
			if (!cluster_follow_redirects(req, replies, target, reply_limit,
										  err))
			{
				pfree(replies);
				return NULL;
			}
			pfree(target);
			break;
		}
	}
	return replies;
}


/*
 * Can request req go to master number m of the cluster in one piece,
 * sent together with those of other masters (redis_execute_masters)?  Its
 * commands must all go to that master by the slot map, the map must not be
 * stale, and the master must have an idle connection and not back off:
 * anything else takes the sequential path, which connects, retries and
 * reports.
 */
static bool
cluster_request_whole(const RedisRequest *req, int m)
{
	int			n;
	RedisNode  *nd;

	if (rconn.map_stale || m >= rconn.nmasters)
		return false;
	n = rconn.masters[m];
	nd = &rconn.nodes[n];
	if (nd->context == NULL || nd->in_request || nd->failed_at != 0)
		return false;
	for (int i = 0; i < req->ncommands; i++)
		if (req->cmd_slot[i] >= 0 && rconn.slots[req->cmd_slot[i]] != n)
			return false;
	return true;
}

/*
 * Execute reqs[0 .. nreqs - 1], request m as redis_execute_master(&reqs[m],
 * m, ...) would (a request without commands is skipped: replies[m] NULL).
 * On a Redis Cluster the requests that go to one master each are sent to
 * all their masters first, then the replies are read, so that the masters
 * work at the same time: the wait is that of the slowest, not the sum
 * (cache_invalidate's SCAN and UNLINK).  A request that cannot go that way
 * (a key of another master, no connection yet, a node backing off), or
 * whose master fails, is executed alone afterwards (every request
 * cacheaside sends can be repeated).  False, with err set, when one of
 * them could not be executed.
 */
bool
redis_execute_masters(RedisRequest *reqs, int nreqs, size_t reply_limit,
					  RedisReply **replies, RedisError *err)
{
	bool	   *sent = palloc0(sizeof(bool) * nreqs);

	err->msg[0] = '\0';
	err->retryable = false;
	err->node_only = false;
	err->node_first = false;
	node = &rconn.nodes[0];
	redis_check_settings();
	for (int m = 0; m < nreqs; m++)
		replies[m] = NULL;

	if (rconn.mode == REDIS_MODE_CLUSTER && nreqs > 1)
	{
		TimestampTz deadline;

		deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											   cacheaside_command_timeout);
		/* send every request that can go whole to its master */
		for (int m = 0; m < nreqs; m++)
		{
			RedisError	ignored;

			if (reqs[m].ncommands == 0 || !cluster_request_whole(&reqs[m], m))
				continue;
			node = &rconn.nodes[rconn.masters[m]];
			node->in_request = true;
			redis_bound_reader(reply_limit);
			if (redis_send_all(&reqs[m], deadline, cacheaside_command_timeout,
							   &ignored))
				sent[m] = true;
			else
				node_disconnect(node);
		}
		/* read their replies, in the same order */
		for (int m = 0; m < nreqs; m++)
		{
			RedisError	ignored;
			RedisReply *r;
			int		   *target;

			if (!sent[m])
				continue;
			node = &rconn.nodes[rconn.masters[m]];
			r = palloc0(sizeof(RedisReply) * reqs[m].ncommands);
			if (!redis_exchange_receive(reqs[m].ncommands, r, reply_limit,
										deadline, cacheaside_command_timeout,
										&ignored))
			{
				/* executed again alone below, on a new connection */
				node_disconnect(node);
				pfree(r);
				sent[m] = false;
				continue;
			}
			node->in_request = false;
			if (cluster_node_refuses(r, reqs[m].ncommands, &ignored))
			{
				/* executed again alone below, to be reported */
				pfree(r);
				sent[m] = false;
				continue;
			}
			node = &rconn.nodes[0];

			/* a key moved since the map was read */
			target = palloc(sizeof(int) * reqs[m].ncommands);
			for (int i = 0; i < reqs[m].ncommands; i++)
				target[i] = rconn.masters[m];
			if (!cluster_follow_redirects(&reqs[m], r, target, reply_limit,
										  err))
			{
				pfree(target);
				pfree(r);
				pfree(sent);
				return false;
			}
			pfree(target);
			replies[m] = r;
		}
		node = &rconn.nodes[0];
	}

	/* the others, one after the other */
	for (int m = 0; m < nreqs; m++)
	{
		if (sent[m] || reqs[m].ncommands == 0)
			continue;
		replies[m] = redis_execute_master(&reqs[m], m, reply_limit, err);
		if (replies[m] == NULL)
		{
			pfree(sent);
			return false;
		}
	}
	pfree(sent);
	return true;
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

	node = &rconn.nodes[0];		/* a subscribed connection: the seed's */
	if (node->context == NULL)
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

/* What one read of a subscribed connection's socket gave */
typedef enum PushFeed
{
	PUSH_FED,					/* bytes, given to the connection's reader */
	PUSH_WOULD_BLOCK,			/* nothing at hand */
	PUSH_FAILED					/* closed, too long or refused: err set */
} PushFeed;

/*
 * Read what n's socket has at hand into its reader, counting the bytes of
 * the message being read against message_limit (push_received).
 */
static PushFeed
push_feed(RedisNode *n, size_t message_limit, RedisError *err)
{
	for (;;)
	{
		ssize_t		got = recv(n->context->fd, recv_chunk, RECV_CHUNK, 0);

		if (got > 0)
		{
			n->push_received += got;
			if (n->push_received > message_limit + RECV_CHUNK)
			{
				redis_seterr(err, "message from Redis exceeds %zu bytes",
							 message_limit);
				return PUSH_FAILED;
			}
			if (redisReaderFeed(n->context->reader, recv_chunk, got) != REDIS_OK)
			{
				redis_seterr(err, "could not buffer message from Redis: %s",
							 n->context->reader->errstr);
				return PUSH_FAILED;
			}
			return PUSH_FED;
		}
		if (got == 0)
		{
			redis_seterr(err, "Redis closed the connection");
			return PUSH_FAILED;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return PUSH_WOULD_BLOCK;
		redis_seterr(err, "could not receive from Redis: %s",
					 strerror(errno));
		return PUSH_FAILED;
	}
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
	node = &rconn.nodes[0];		/* a subscribed connection: the seed's */
	if (node->context == NULL)
	{
		redis_seterr(err, "not connected to Redis");
		return NULL;
	}
	redis_bound_reader(message_limit);

	for (;;)
	{
		void	   *reply = NULL;
		PushFeed	fed;

		if (!redis_reader_next(&reply, err))
			break;
		if (reply != NULL)
		{
			RedisReply *message = palloc(sizeof(RedisReply));

			node->push_received = 0;
			redis_take_reply((redisReply *) reply, message);
			return message;
		}

		fed = push_feed(node, message_limit, err);
		if (fed == PUSH_FAILED)
			break;
		if (fed == PUSH_WOULD_BLOCK &&
			!redis_wait(WL_SOCKET_READABLE, deadline))
		{
			*timed_out = true;
			return NULL;
		}
	}
	node->push_received = 0;
	redis_disconnect();
	return NULL;
}


/* ----------------------------------------------------------------
 * Subscribed connections to every master (the near-cache tracker)
 *
 * Client-side caching is per server: a connection tracking keys hears of
 * the changes made on its own server only.  To follow a Redis Cluster the
 * tracker needs one tracking, subscribed connection per master.  Those
 * are not the node table's connections: a subscribed connection answers
 * nothing but PING and (UN)SUBSCRIBE, so redis_execute must never pick
 * one (to reload the slot map, say).  They live in their own table,
 * subscribed[], opened together for the masters of a freshly loaded slot
 * map, with the handshake of any node (AUTH, SELECT), and read together:
 * redis_subscribers_receive waits on all their sockets at once.
 *
 * With one server (or the master Sentinels name) there is one subscriber,
 * and it is the seed's own connection (nodes[0]), used through
 * redis_execute, redis_send and redis_receive as before.
 *
 * Nothing here follows the cluster's changes: the caller compares
 * redis_slot_map_hash() with the one it started from and opens the
 * subscribers again when it differs.
 * ----------------------------------------------------------------
 */

/*
 * The subscribed connections of a cluster (nsubscribed of them), and a
 * wait event set on all their sockets; subscribed_cluster false: the one
 * subscriber is nodes[0].
 */
static RedisNode subscribed[REDIS_MAX_SUBSCRIBED];
static int	nsubscribed = 0;
static bool subscribed_cluster = false;
static WaitEventSet *subscribed_waitset = NULL;
static int	subscribed_next = 0;	/* read first by the next receive */

/* Close the subscribed connections of a cluster, if any */
static void
redis_subscribers_close(void)
{
	if (subscribed_waitset != NULL)
	{
		FreeWaitEventSet(subscribed_waitset);
		subscribed_waitset = NULL;
	}
	for (int i = 0; i < REDIS_MAX_SUBSCRIBED; i++)
		node_disconnect(&subscribed[i]);
	nsubscribed = 0;
	subscribed_next = 0;
	subscribed_cluster = false;
}

/* The address of subscriber sub, for messages */
static void
redis_subscriber_seterr(RedisError *err, int sub)
{
	char		msg[sizeof(err->msg)];

	strlcpy(msg, err->msg, sizeof(msg));
	redis_seterr(err, "Redis Cluster master %s:%d: %s",
				 subscribed[sub].host, subscribed[sub].port, msg);
}

/*
 * Open the connections to subscribe on: with a Redis Cluster one per
 * master of the slot map, loaded afresh (redis_masters), at most
 * REDIS_MAX_SUBSCRIBED; else nodes[0] serves (it is opened by the first
 * redis_subscriber_execute).  Returns how many subscribers there are, or -1
 * with err set (nothing stays open then).
 */
int
redis_subscribers_open(RedisError *err)
{
	int			n;

	redis_subscribers_close();
	n = redis_masters(err);
	if (n < 0)
		return -1;
	if (!redis_is_cluster())
	{
		nsubscribed = 1;
		return 1;
	}
	if (n > REDIS_MAX_SUBSCRIBED)
	{
		redis_seterr(err, "the Redis Cluster has %d masters, more than the %d the near-cache can follow",
					 n, REDIS_MAX_SUBSCRIBED);
		return -1;
	}

	for (int i = 0; i < n; i++)
	{
		RedisNode  *m = &rconn.nodes[rconn.masters[i]];
		bool		ok;

		memset(&subscribed[i], 0, sizeof(RedisNode));
		subscribed[i].known = true;
		strlcpy(subscribed[i].host, m->host, sizeof(subscribed[i].host));
		subscribed[i].port = m->port;
		subscribed[i].sock_pos = -1;
		node = &subscribed[i];
		ok = redis_connect(err);
		node = &rconn.nodes[0];
		if (!ok)
		{
			redis_subscriber_seterr(err, i);
			redis_subscribers_close();
			return -1;
		}
	}

#if PG_VERSION_NUM >= 170000
	subscribed_waitset = CreateWaitEventSet(NULL, n + 2);
#else
	subscribed_waitset = CreateWaitEventSet(TopMemoryContext, n + 2);
#endif
	AddWaitEventToSet(subscribed_waitset, WL_LATCH_SET, PGINVALID_SOCKET,
					  MyLatch, NULL);
	AddWaitEventToSet(subscribed_waitset, WL_EXIT_ON_PM_DEATH,
					  PGINVALID_SOCKET, NULL, NULL);
	for (int i = 0; i < n; i++)
		AddWaitEventToSet(subscribed_waitset, WL_SOCKET_READABLE,
						  subscribed[i].context->fd, NULL, NULL);
	nsubscribed = n;
	subscribed_cluster = true;
	return n;
}

/*
 * redis_execute on subscriber sub, before it subscribes (CLIENT ID, CLIENT
 * TRACKING, SUBSCRIBE).  On a cluster master the connection is never
 * reopened: CLIENT TRACKING must name the id of the very connection that
 * asked CLIENT ID.  NULL with err set on failure (the connection closed).
 */
RedisReply *
redis_subscriber_execute(int sub, RedisRequest *req, size_t reply_limit,
						 RedisError *err)
{
	RedisReply *replies;
	TimestampTz deadline;
	bool		ok;

	if (!subscribed_cluster)
		return redis_execute(req, reply_limit, err);

	err->msg[0] = '\0';
	err->retryable = false;
	err->node_only = false;
	err->node_first = false;
	Assert(sub >= 0 && sub < nsubscribed);
	if (subscribed[sub].context == NULL || subscribed[sub].in_request)
	{
		redis_seterr(err, "not connected to Redis");
		redis_subscriber_seterr(err, sub);
		return NULL;
	}
	replies = palloc0(sizeof(RedisReply) * req->ncommands);
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   cacheaside_command_timeout);
	node = &subscribed[sub];
	ok = redis_exchange(req, replies, reply_limit, deadline,
						cacheaside_command_timeout, err);
	if (!ok)
		node_disconnect(node);
	node = &rconn.nodes[0];
	if (!ok)
	{
		redis_subscriber_seterr(err, sub);
		pfree(replies);
		return NULL;
	}
	return replies;
}

/*
 * redis_send on subscriber sub: a request whose replies arrive among the
 * messages (PING on a subscribed connection).
 */
bool
redis_subscriber_send(int sub, RedisRequest *req, RedisError *err)
{
	TimestampTz deadline;
	bool		ok;

	if (!subscribed_cluster)
		return redis_send(req, err);

	Assert(sub >= 0 && sub < nsubscribed);
	if (subscribed[sub].context == NULL)
	{
		redis_seterr(err, "not connected to Redis");
		redis_subscriber_seterr(err, sub);
		return false;
	}
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   cacheaside_command_timeout);
	node = &subscribed[sub];
	ok = redis_send_all(req, deadline, cacheaside_command_timeout, err);
	node = &rconn.nodes[0];
	if (!ok)
	{
		redis_subscriber_seterr(err, sub);
		redis_subscribers_close();
	}
	return ok;
}

/*
 * Read subscriber sub's next message if its bytes are at hand, without
 * waiting: true with *message set (NULL: none complete yet); false with
 * err set when the connection failed.
 */
static bool
subscriber_take(int sub, size_t message_limit, RedisReply **message,
				RedisError *err)
{
	RedisNode  *n = &subscribed[sub];

	*message = NULL;
	node = n;
	redis_bound_reader(message_limit);
	for (;;)
	{
		void	   *reply = NULL;
		PushFeed	fed;

		if (!redis_reader_next(&reply, err))
			break;
		if (reply != NULL)
		{
			*message = palloc(sizeof(RedisReply));
			n->push_received = 0;
			node = &rconn.nodes[0];
			redis_take_reply((redisReply *) reply, *message);
			return true;
		}

		fed = push_feed(n, message_limit, err);
		if (fed == PUSH_FAILED)
			break;
		if (fed == PUSH_WOULD_BLOCK)
		{
			node = &rconn.nodes[0];
			return true;
		}
	}
	node = &rconn.nodes[0];
	return false;
}

/*
 * redis_receive on every subscriber at once: the next message any of them
 * sends, with *sub saying which, waiting until the deadline.  NULL when
 * the deadline passed first (*timed_out), or when a connection failed
 * (err set, naming the master; every subscriber closed).
 */
RedisReply *
redis_subscribers_receive(TimestampTz deadline, size_t message_limit,
						  int *sub, bool *timed_out, RedisError *err)
{
	*timed_out = false;
	*sub = 0;
	if (!subscribed_cluster)
		return redis_receive(deadline, message_limit, timed_out, err);

	for (;;)
	{
		long		timeout;
		WaitEvent	occurred;

		/* from the one after the last that gave a message: none starves */
		for (int k = 0; k < nsubscribed; k++)
		{
			int			i = (subscribed_next + k) % nsubscribed;
			RedisReply *message;

			*sub = i;
			if (subscribed[i].context == NULL)
			{
				redis_seterr(err, "not connected to Redis");
				redis_subscriber_seterr(err, i);
				redis_subscribers_close();
				return NULL;
			}
			if (!subscriber_take(i, message_limit, &message, err))
			{
				redis_subscriber_seterr(err, i);
				redis_subscribers_close();
				return NULL;
			}
			if (message != NULL)
			{
				subscribed_next = (i + 1) % nsubscribed;
				return message;
			}
		}

		timeout = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
												  deadline);
		if (timeout <= 0)
		{
			*timed_out = true;
			return NULL;
		}
		if (WaitEventSetWait(subscribed_waitset, timeout, &occurred, 1,
							 PG_WAIT_EXTENSION) > 0 &&
			(occurred.events & WL_LATCH_SET))
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
}

/*
 * A hash of the slot map (each slot's master, by address): a caller that
 * follows the masters compares it with the one it started from.  0 when
 * the server is not known to be a cluster.
 */
uint64
redis_slot_map_hash(void)
{
	uint64		h = 0;
	int			prev = -2;

	if (!redis_is_cluster())
		return 0;
	for (int s = 0; s < CLUSTER_SLOTS; s++)
	{
		int			n = rconn.slots[s];
		const RedisNode *nd;

		if (n == prev)
			continue;
		prev = n;
		/* a range starts: its first slot and its master */
		h = hash_combine64(h, (uint64) s);
		if (n < 0)
		{
			h = hash_combine64(h, UINT64CONST(0xffff));
			continue;
		}
		nd = &rconn.nodes[n];
		h = hash_combine64(h, hash_bytes_extended((const unsigned char *) nd->host,
												  strlen(nd->host), 0));
		h = hash_combine64(h, (uint64) nd->port);
	}
	return h | 1;				/* never 0 */
}
