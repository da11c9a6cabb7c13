/*-------------------------------------------------------------------------
 *
 * config.c
 *	  Definition of the cacheaside.* configuration parameters.
 *
 * Settings that decide where entries go and who can read them (the Redis
 * server, its password, the key namespace, the size bound) can only be
 * changed by superusers; the others are per-session tuning knobs.  The
 * compression settings are superusers' too: they decide how much of the
 * Redis server's memory entries take, as the size bound does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <limits.h>

#include "miscadmin.h"
#include "utils/guc.h"

#include "codec.h"
#include "config.h"

char	   *cacheaside_host = NULL;
int			cacheaside_port = 6379;
char	   *cacheaside_password_file = NULL;
int			cacheaside_database = 0;
char	   *cacheaside_key_prefix = NULL;
char	   *cacheaside_sentinels = NULL;
char	   *cacheaside_sentinel_master = NULL;
int			cacheaside_max_value_bytes = 1024 * 1024;
int			cacheaside_retry_interval = 1000;
int			cacheaside_stats_max = 1000;
int			cacheaside_compression = CODEC_LZ4;
int			cacheaside_compress_min_bytes = 2048;
int			cacheaside_local_cache_size = 64 * 1024;	/* kB */

int			cacheaside_default_ttl = 300;
int			cacheaside_connect_timeout = 200;
int			cacheaside_command_timeout = 200;
bool		cacheaside_enabled = true;
bool		cacheaside_auto_invalidate = true;
int			cacheaside_fill_wait = 5000;
double		cacheaside_early_refresh = 1.0;

/* Values of cacheaside.compression: the codec ids of codec.h */
static const struct config_enum_entry compression_options[] = {
	{"lz4", CODEC_LZ4, false},
	{"zstd", CODEC_ZSTD, false},
	{"off", CODEC_NONE, false},
	{NULL, 0, false}
};

/*
 * A key prefix may contain anything Redis accepts in a key, but an empty
 * prefix would put entries in the same space as unrelated applications'
 * keys, so refuse it.
 */
static bool
check_key_prefix(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
	{
		GUC_check_errdetail("cacheaside.key_prefix must not be empty.");
		return false;
	}
	return true;
}

/*
 * Split cacheaside.sentinels ("host:port, host:port, ...") into its
 * addresses.  Returns the number found, or -1 with *why set when the list
 * is malformed.  hosts[i] points into buf (a copy the caller owns); at most
 * max addresses are returned.  An IPv6 address is written in brackets:
 * [::1]:26379.
 */
int
config_parse_sentinels(char *buf, char **hosts, int *ports, int max,
					   const char **why)
{
	int			n = 0;
	char	   *item = buf;

	while (item != NULL)
	{
		char	   *next = strchr(item, ',');
		char	   *colon;
		char	   *end;
		long		port;

		if (next)
			*next++ = '\0';
		while (*item == ' ' || *item == '\t')
			item++;
		end = item + strlen(item);
		while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*item == '\0')
		{
			*why = "an address is empty";
			return -1;
		}
		colon = strrchr(item, ':');
		if (colon == NULL || colon == item || colon[1] == '\0')
		{
			*why = "each address must be host:port";
			return -1;
		}
		*colon = '\0';
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno != 0 || *end != '\0' || port < 1 || port > 65535 ||
			strspn(colon + 1, "0123456789") != strlen(colon + 1))
		{
			*why = "a port must be a number from 1 to 65535";
			return -1;
		}
		if (item[0] == '[')
		{
			size_t		len = strlen(item);

			if (len < 3 || item[len - 1] != ']')
			{
				*why = "an IPv6 address must be written [address]:port";
				return -1;
			}
			item[len - 1] = '\0';
			item++;
		}
		else if (strchr(item, ':') != NULL)
		{
			*why = "an IPv6 address must be written [address]:port";
			return -1;
		}
		if (strlen(item) > 255)
		{
			*why = "a host name is longer than 255 bytes";
			return -1;
		}
		if (n == max)
		{
			*why = psprintf("at most %d addresses are allowed", max);
			return -1;
		}
		hosts[n] = item;
		ports[n] = (int) port;
		n++;
		item = next;
	}
	return n;
}

static bool
check_sentinels(char **newval, void **extra, GucSource source)
{
	char	   *buf;
	char	   *hosts[CONFIG_MAX_SENTINELS];
	int			ports[CONFIG_MAX_SENTINELS];
	const char *why = NULL;
	int			n;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	buf = pstrdup(*newval);
	n = config_parse_sentinels(buf, hosts, ports, CONFIG_MAX_SENTINELS, &why);
	pfree(buf);
	if (n < 0)
	{
		GUC_check_errdetail("cacheaside.sentinels: %s.", why);
		return false;
	}
	return true;
}

/*
 * Which Redis and which keys: bumped whenever a setting that says so is
 * assigned, so that what is derived from them (nearcache_target_hash) can
 * be kept between calls.
 */
uint64		cacheaside_target_generation = 1;

static void
assign_target_string(const char *newval, void *extra)
{
	cacheaside_target_generation++;
}

static void
assign_target_int(int newval, void *extra)
{
	cacheaside_target_generation++;
}

/*
 * Define every cacheaside.* parameter and reserve the prefix, so that a
 * misspelled cacheaside.something is an error rather than a silent
 * placeholder.
 */
void
config_define_gucs(void)
{
	GucContext	postmaster_context;

	DefineCustomStringVariable("cacheaside.host",
							   gettext_noop("Redis server host name, IP address, or absolute path of a Unix socket."),
							   NULL,
							   &cacheaside_host,
							   "127.0.0.1",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY,
							   NULL, assign_target_string, NULL);

	DefineCustomIntVariable("cacheaside.port",
							gettext_noop("Redis server TCP port."),
							NULL,
							&cacheaside_port,
							6379, 1, 65535,
							PGC_SUSET,
							GUC_SUPERUSER_ONLY,
							NULL, assign_target_int, NULL);

	DefineCustomStringVariable("cacheaside.password_file",
							   gettext_noop("File holding the Redis AUTH password, or a user name and a password separated by a space."),
							   gettext_noop("The file must be readable only by the server's operating system user. Empty means no AUTH."),
							   &cacheaside_password_file,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY,
							   NULL, assign_target_string, NULL);

	DefineCustomIntVariable("cacheaside.database",
							gettext_noop("Redis logical database number."),
							NULL,
							&cacheaside_database,
							0, 0, INT_MAX,
							PGC_SUSET,
							GUC_SUPERUSER_ONLY,
							NULL, assign_target_int, NULL);

	DefineCustomStringVariable("cacheaside.sentinels",
							   gettext_noop("Redis Sentinels to ask for the master's address, as host:port, host:port, ..."),
							   gettext_noop("When set, cacheaside.host and cacheaside.port are not used: the master named by cacheaside.sentinel_master is found through the first Sentinel that answers."),
							   &cacheaside_sentinels,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY,
							   check_sentinels, assign_target_string, NULL);

	DefineCustomStringVariable("cacheaside.sentinel_master",
							   gettext_noop("Name of the master the Sentinels of cacheaside.sentinels monitor."),
							   NULL,
							   &cacheaside_sentinel_master,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY,
							   NULL, assign_target_string, NULL);

	DefineCustomStringVariable("cacheaside.key_prefix",
							   gettext_noop("Prefix of every Redis key written by cacheaside."),
							   gettext_noop("The database OID follows it, so databases sharing a Redis never see each other's entries."),
							   &cacheaside_key_prefix,
							   "cacheaside:",
							   PGC_SUSET,
							   0,
							   check_key_prefix, assign_target_string, NULL);

	DefineCustomIntVariable("cacheaside.max_value_bytes",
							gettext_noop("Results larger than this are returned but not cached."),
							NULL,
							&cacheaside_max_value_bytes,
							1024 * 1024, 0, 512 * 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("cacheaside.compression",
							 gettext_noop("Codec that compresses large entries before they are stored: lz4, zstd or off."),
							 gettext_noop("Entries are read whatever codec they were stored with."),
							 &cacheaside_compression,
							 CODEC_LZ4,
							 compression_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("cacheaside.compress_min_bytes",
							gettext_noop("Results whose JSON is shorter than this are stored uncompressed."),
							gettext_noop("Longer ones are compressed, and kept compressed when that saves at least an eighth."),
							&cacheaside_compress_min_bytes,
							2048, 0, 512 * 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("cacheaside.retry_interval",
							gettext_noop("After a Redis failure, queries skip Redis for this long before trying again."),
							NULL,
							&cacheaside_retry_interval,
							1000, 0, 3600 * 1000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	/*
	 * Sizes of shared memory, which is made only when the library is
	 * preloaded.  A process that loads it later defines them all the same,
	 * so that a setting left in the configuration file is not reported as
	 * unknown, but cannot define a PGC_POSTMASTER setting then (PostgreSQL
	 * refuses): there, where they have no effect, they are PGC_SIGHUP.
	 */
	postmaster_context = process_shared_preload_libraries_in_progress ?
		PGC_POSTMASTER : PGC_SIGHUP;

	DefineCustomIntVariable("cacheaside.stats_max",
							gettext_noop("Most rows cache_stats keeps (one per database, role and SQL text)."),
							gettext_noop("The least-used rows make room for new ones. 0 keeps no statistics. Needs cacheaside in shared_preload_libraries."),
							&cacheaside_stats_max,
							1000, 0, 100000,
							postmaster_context,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("cacheaside.local_cache_size",
							gettext_noop("Size of the near-cache: copies of Redis entries in shared memory, served without a round trip to Redis."),
							gettext_noop("0 turns it off. Needs cacheaside in shared_preload_libraries."),
							&cacheaside_local_cache_size,
							64 * 1024, 0, 64 * 1024 * 1024,
							postmaster_context,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("cacheaside.default_ttl",
							gettext_noop("Time to live of an entry when cache_aside_query is given a NULL ttl."),
							NULL,
							&cacheaside_default_ttl,
							300, 1, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("cacheaside.connect_timeout",
							gettext_noop("Maximum time to wait for a connection to Redis."),
							NULL,
							&cacheaside_connect_timeout,
							200, 1, 3600 * 1000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("cacheaside.command_timeout",
							gettext_noop("Maximum time to wait for Redis to answer one request."),
							NULL,
							&cacheaside_command_timeout,
							200, 1, 3600 * 1000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("cacheaside.enabled",
							 gettext_noop("When off, cache_aside_query always runs its query and nothing touches Redis."),
							 NULL,
							 &cacheaside_enabled,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("cacheaside.auto_invalidate",
							 gettext_noop("When off, cached results are served until their TTL ends even if the tables they read have changed."),
							 gettext_noop("Writes are tracked either way; this only decides whether hits are checked against them."),
							 &cacheaside_auto_invalidate,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("cacheaside.fill_wait",
							gettext_noop("Longest wait for another session's fill of the same entry; 0 does not wait."),
							gettext_noop("After it, the waiting session runs the query itself."),
							&cacheaside_fill_wait,
							5000, 0, 3600 * 1000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomRealVariable("cacheaside.early_refresh",
							 gettext_noop("How early hot entries are refreshed before they expire (the beta of probabilistic early expiration); 0 turns it off."),
							 gettext_noop("A hit refreshes its entry with a probability that grows as the entry nears its expiry and with how long its query took; 1 is the optimum of Vattani et al.; above 1 refreshes earlier."),
							 &cacheaside_early_refresh,
							 1.0, 0.0, 100.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("cacheaside");
}
