/*-------------------------------------------------------------------------
 *
 * config.h
 *	  The cacheaside.* settings.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_CONFIG_H
#define CACHEASIDE_CONFIG_H

/* Connection settings (superuser only) */
extern char *cacheaside_host;
extern int	cacheaside_port;
extern char *cacheaside_password_file;
extern int	cacheaside_database;
extern char *cacheaside_key_prefix;
extern uint64 cacheaside_target_generation;
extern char *cacheaside_sentinels;
extern char *cacheaside_sentinel_master;
extern int	cacheaside_max_value_bytes;
extern int	cacheaside_retry_interval;
extern int	cacheaside_stats_max;
extern int	cacheaside_compression; /* a CodecId */
extern int	cacheaside_compress_min_bytes;
extern int	cacheaside_local_cache_size;	/* kB */

/* Behaviour settings (any user) */
extern int	cacheaside_default_ttl;
extern int	cacheaside_connect_timeout;
extern int	cacheaside_command_timeout;
extern bool cacheaside_enabled;
extern bool cacheaside_auto_invalidate;
extern int	cacheaside_fill_wait;
extern double cacheaside_early_refresh;

extern void config_define_gucs(void);

/* Most addresses cacheaside.sentinels may list */
#define CONFIG_MAX_SENTINELS	16

extern int	config_parse_sentinels(char *buf, char **hosts, int *ports,
								   int max, const char **why);

#endif							/* CACHEASIDE_CONFIG_H */
