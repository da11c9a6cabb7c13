/*
 * bench/redis_get.c: a closed-loop Redis GET with hiredis, one request in
 * flight, for a fixed time.  A cross-check of redis-benchmark's figure with
 * the client library the extension itself uses (Debian's hiredis 0.14).
 *
 *   redis_get HOST PORT KEY SECONDS
 *
 * Prints: requests seconds bytes-per-reply
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <hiredis/hiredis.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	redisContext *c;
	double		seconds, start, elapsed;
	long		n = 0;
	size_t		len = 0;

	if (argc != 5)
	{
		fprintf(stderr, "usage: %s HOST PORT KEY SECONDS\n", argv[0]);
		return 2;
	}
	seconds = atof(argv[4]);
	c = redisConnect(argv[1], atoi(argv[2]));
	if (c == NULL || c->err)
	{
		fprintf(stderr, "redis_get: cannot connect: %s\n", c ? c->errstr : "out of memory");
		return 1;
	}
	start = now();
	do
	{
		int			i;

		/* look at the clock every 100 requests */
		for (i = 0; i < 100; i++)
		{
			redisReply *r = redisCommand(c, "GET %s", argv[3]);

			if (r == NULL || r->type != REDIS_REPLY_STRING)
			{
				fprintf(stderr, "redis_get: GET failed: %s\n",
						r ? (r->type == REDIS_REPLY_NIL ? "no such key" : "unexpected reply") : c->errstr);
				return 1;
			}
			len = r->len;
			freeReplyObject(r);
			n++;
		}
		elapsed = now() - start;
	} while (elapsed < seconds);
	printf("%ld %.6f %zu\n", n, elapsed, len);
	redisFree(c);
	return 0;
}
