# Copyright: cacheaside contributors
#
# 012_nearcache.pl: the near-cache (shared memory in front of Redis) when
# things go wrong or get crowded.
#
#  - Redis stopped while the near-cache is warm: near hits stop as soon as
#    the tracker sees the connection closed (within the 2 s sync bound in
#    any case), and calls fail open with the database's rows.
#  - Redis frozen (SIGSTOP): near hits stop once the tracker misses its
#    PING's answer, within the sync bound.
#  - Redis restarted empty: the near-cache is flushed, and caching and near
#    hits resume by themselves.
#  - Memory full (a small cacheaside.local_cache_size): no error; values
#    too large are skipped, the others evicted by CLOCK, and a hot entry
#    survives a scan of cold ones.
#  - Many backends hitting, storing and invalidating at once (pgbench):
#    no error, and afterwards every key gives the database's rows.
#  - A restart of PostgreSQL: the near-cache starts empty and fills again.
#  - local_cache_size = 0: no near-cache, no tracker.
#
# Waits poll with generous bounds that only catch hangs.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use CacheasideNode;
use RedisServer;

my $redis = RedisServer->new();
# timeouts long enough for a loaded machine: cache_invalidate, run by the
# pgbench clients below, never fails open
my $node = cacheaside_node('near',
	$redis->pg_conf
	  . "cacheaside.retry_interval = 100\nmax_connections = 40\n"
	  . "cacheaside.command_timeout = '10s'\ncacheaside.connect_timeout = '10s'\n");
my $rows = create_two_rows($node);

# test_near_sync(): wait until the tracker has applied every change Redis
# made before the call (as in sql/01_setup.sql)
$node->safe_psql(
	'postgres', q{
	CREATE FUNCTION test_near_sync() RETURNS boolean
	LANGUAGE plpgsql AS $$
	DECLARE
		start timestamptz := clock_timestamp();
	BEGIN
		FOR i IN 1..3000 LOOP
			IF (SELECT local_cache_synced > start FROM cache_status()) THEN
				RETURN true;
			END IF;
			PERFORM pg_sleep(0.01);
		END LOOP;
		RETURN false;
	END $$;
});

my $q = 'SELECT * FROM t ORDER BY id';

# one call in its own session: (its JSON, 'local'|'redis'|'miss')
sub call
{
	my ($key, $query) = @_;
	$query //= $q;
	my $out = $node->safe_psql(
		'postgres', qq{
		SELECT coalesce(sum(hits), 0) h0, coalesce(sum(local_hits), 0) l0
			FROM cache_stats WHERE query = \$q\$$query\$q\$ \\gset
		SELECT cache_aside_query('$key', \$q\$$query\$q\$)::text || '|' ||
			(SELECT CASE WHEN s.l > :l0 THEN 'local' WHEN s.h > :h0 THEN 'redis' ELSE 'miss' END
			 FROM (SELECT coalesce(sum(hits), 0) h, coalesce(sum(local_hits), 0) l
					  FROM cache_stats WHERE query = \$q\$$query\$q\$) s);
	});
	my ($json, $level) = split /\|/, $out;
	return ($json, $level);
}

sub level { my @r = call(@_); return $r[1]; }

sub sync { return $node->safe_psql('postgres', 'SELECT test_near_sync()') eq 't'; }

sub status
{
	my ($col) = @_;
	return $node->safe_psql('postgres', "SELECT $col FROM cache_status()");
}

# a store, the tracker in step, a Redis hit that keeps a copy: then the
# entry is a local hit
sub warm
{
	my ($key, $query) = @_;
	level($key, $query);
	sync();
	level($key, $query);
	return level($key, $query);
}

# wait (up to 30 s) until the tracker is in step with Redis again
sub wait_synced
{
	for (1 .. 300)
	{
		return 1
		  if status(q{local_cache_synced > clock_timestamp() - interval '1 s'}) eq 't';
		usleep(100_000);
	}
	return 0;
}

# ---------------------------------------------------------------------------
note 'the tracker and a warm near-cache';

is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'cacheaside near-cache tracker'}),
	'1', 'the tracker runs');
ok(wait_synced(), 'the tracker is in step with Redis');
like($redis->cli('CLIENT', 'LIST'), qr/name=cacheaside-tracker .*sub=1/,
	'with a subscribed connection named cacheaside-tracker');
is(warm('k1'), 'local', 'a warm entry is a local hit');

# ---------------------------------------------------------------------------
note 'Redis stopped while the near-cache is warm';

$redis->stop;
my $t0 = time();
ok(near_cache_off_wait($node), 'near hits stop');
note sprintf('the near-cache was out of use %.3f s after Redis stopped',
	time() - $t0);
my ($json, $lvl) = call('k1');
is($lvl, 'miss', 'a call is then a miss');
is($json, $rows, 'that returns the rows from the database');
is(status('local_cache_entries'), '0', 'the near-cache was flushed');

# ---------------------------------------------------------------------------
note 'Redis restarted empty: caching and near hits resume';

$redis->start;
ok(wait_synced(), 'the tracker is in step again');
ok(!$redis->cli('EXISTS', 'x'), 'Redis is empty');
my $resumed = 0;
for (1 .. 100)
{
	# the session's back-off is 100 ms
	if (warm('k1') eq 'local') { $resumed = 1; last; }
	usleep(100_000);
}
ok($resumed, 'local hits resume by themselves');
is((call('k1'))[0], $rows, 'with the right rows');

# ---------------------------------------------------------------------------
note 'Redis frozen while the near-cache is warm';

$redis->freeze;
$t0 = time();
ok(near_cache_off_wait($node), 'near hits stop');
my $stopped_after = time() - $t0;
note sprintf('the near-cache was out of use %.3f s after Redis froze',
	$stopped_after);
$redis->thaw;
ok(wait_synced(), 'after SIGCONT the tracker is in step again');
is(warm('k1'), 'local', 'and local hits resume');

# ---------------------------------------------------------------------------
note 'a change in Redis by another client reaches the near-cache';

is(level('k1'), 'local', 'k1 is a local hit');
$node->safe_psql('postgres', "UPDATE t SET v = 'uno' WHERE id = 1");
($json, $lvl) = call('k1');
is($lvl, 'miss', 'a commit makes it a miss');
like($json, qr/uno/, 'with the new rows');
is(warm('k1'), 'local', 'warm again');
my $rkey = $node->safe_psql('postgres',
	q{SELECT current_setting('cacheaside.key_prefix') || oid || ':e:k1' FROM pg_database WHERE datname = 'postgres'});
$redis->cli('PEXPIRE', $rkey, '1');
sync();
is(level('k1'), 'miss', 'an expiry set in Redis by hand ends it');

# ---------------------------------------------------------------------------
note 'many backends hitting, storing and invalidating at once';

near_cache_pgbench($node, 20);
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is fine');

# ---------------------------------------------------------------------------
note 'a restart of PostgreSQL';

is(warm('k1'), 'local', 'warm before the restart');
$node->restart;
is(status('local_cache_entries'), '0', 'the near-cache starts empty');
ok(wait_synced(), 'the tracker is in step after the restart');
is(warm('k1'), 'local', 'and fills again');

# ---------------------------------------------------------------------------
note 'memory full: a small near-cache';

$node->append_conf('postgresql.conf', "cacheaside.local_cache_size = '256kB'\n");
$node->restart;
ok(wait_synced(), 'the tracker is in step');
is(status('local_cache_capacity'), '262144', 'capacity 256 kB');
# 100 kB that LZ4 cannot shrink (hex digits of md5s), so that compression
# does not make it small enough to keep
my $big = q{SELECT string_agg(md5(g::text), '') AS big FROM generate_series(1, 3200) g};
is(warm('big', $big), 'redis', 'a 100 kB value is not kept (a Redis hit)');

# a hot entry, then a scan of cold ones, each kept once
is(warm('hot'), 'local', 'the hot entry is a local hit');
level('hot') for 1 .. 5;
my $cold = q{SELECT repeat('c', 600) || ':' || %s AS cold};
$node->safe_psql('postgres',
	"SELECT count(cache_aside_query('cold' || g, format(\$f\$$cold\$f\$, g))) FROM generate_series(1, 400) g"
);
sync();
$node->safe_psql('postgres',
	"SELECT count(cache_aside_query('cold' || g, format(\$f\$$cold\$f\$, g))) FROM generate_series(1, 400) g"
);
my $entries = status('local_cache_entries');
my $bytes = status('local_cache_bytes');
note "after the scan: $entries entries, $bytes bytes";
ok($entries > 0 && $entries < 400, "cold entries were evicted ($entries kept)");
cmp_ok($bytes, '<=', 262144, 'within the capacity');
is(level('hot'), 'local', 'the hot entry survived the scan');
my $kept_now = $node->safe_psql('postgres',
	"SELECT count(cache_aside_query('cold' || g, format(\$f\$$cold\$f\$, g))) FROM generate_series(1, 400) g"
);
is($kept_now, '400', 'every call returned its rows');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'no error, the server is fine');

# ---------------------------------------------------------------------------
note 'local_cache_size = 0: no near-cache';

$node->append_conf('postgresql.conf', "cacheaside.local_cache_size = 0\n");
$node->restart;
is(status('local_cache'), 'f', 'cache_status says local_cache off');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'cacheaside near-cache tracker'}),
	'0', 'no tracker');
level('k0');
level('k0');
is(level('k0'), 'redis', 'hits are Redis hits');

$node->stop;
$redis->stop;

done_testing();
