# Copyright: cacheaside contributors
#
# 007_soak.pl: tens of thousands of mixed calls in one session keep the
# backend's memory flat: hits, misses, stores, errors of the query,
# refusals, writes that invalidate, and invalidations, with Redis up and
# then with Redis stopped.  The resident set size is read from /proc after
# a warm-up and after the run; what it may grow by is far below what one
# leaked byte per call would cost.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use CacheasideNode;
use RedisServer;

my $redis = RedisServer->new();

my $node = cacheaside_node('soak',
	$redis->pg_conf . "cacheaside.retry_interval = 0\n");
$node->safe_psql(
	'postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t SELECT g, repeat('x', g % 50) FROM generate_series(1, 200) g;
	CREATE TABLE soak_done (rounds int);
	-- n rounds of a mix of everything a session does with the cache
	CREATE PROCEDURE soak(n int)
	LANGUAGE plpgsql AS $$
	BEGIN
		FOR i IN 1 .. n LOOP
			-- hits and misses over 50 keys, with and without parameters
			PERFORM cache_aside_query('k' || (i % 50), 'SELECT * FROM t WHERE id <= $1', 60, i % 50);
			PERFORM cache_aside_query('c' || (i % 7), 'SELECT count(*) FROM t', 60);
			-- a query that fails, and a refused one
			BEGIN
				PERFORM cache_aside_query('e', 'SELECT 1 / 0', 60);
			EXCEPTION WHEN division_by_zero THEN NULL;
			END;
			BEGIN
				PERFORM cache_aside_query('w', 'DELETE FROM t', 60);
			EXCEPTION WHEN feature_not_supported THEN NULL;
			END;
			-- a write that makes entries stale, and invalidations
			IF i % 10 = 0 THEN
				UPDATE t SET v = v WHERE id = i % 200 + 1;
				COMMIT;
			END IF;
			IF i % 25 = 0 THEN
				-- these raise 08006 while Redis is down
				BEGIN
					PERFORM cache_invalidate('k1*');
					PERFORM cache_get_ttl('c1');
				EXCEPTION WHEN connection_failure THEN NULL;
				END;
				COMMIT;
			END IF;
		END LOOP;
		INSERT INTO soak_done VALUES (n);
	END
	$$;
});

my $s = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $s->query_safe('SELECT pg_backend_pid()');

sub rss_kb
{
	open(my $st, '<', "/proc/$pid/status") or die "no /proc/$pid/status: $!";
	while (<$st>) { return $1 if /^VmRSS:\s+(\d+) kB/; }
	die 'no VmRSS';
}

# warm-up: caches, plans and buffers reach their size
$s->query_safe('CALL soak(2000)');
my $before = rss_kb();
$s->query_safe('CALL soak(20000)');
my $after = rss_kb();
note sprintf('Redis up: RSS %d kB after 2000 rounds, %d kB after 20000 more (%d calls)',
	$before, $after, 20000 * 6);
cmp_ok($after - $before, '<', 2048,
	'Redis up: 20000 rounds (120000 calls) grow the backend by less than 2 MB');

$redis->stop;
$s->query('CALL soak(500)');
my $before_down = rss_kb();
$s->query('CALL soak(5000)');
my $after_down = rss_kb();
is($s->query('SELECT count(*) FROM soak_done WHERE rounds = 5000'),
	'1', 'Redis down: the rounds ran all the way through');
note sprintf('Redis down: RSS %d kB, then %d kB after 5000 more rounds',
	$before_down, $after_down);
cmp_ok($after_down - $before_down, '<', 2048,
	'Redis down: 5000 rounds grow the backend by less than 2 MB');
$redis->start;
is($s->query(q{SELECT cache_aside_query('k1', 'SELECT * FROM t WHERE id <= $1', 60, 1)::text}),
	'[{"id":1,"v":"x"}]', 'the session works afterwards');
$s->quit;

$node->stop;
done_testing();
