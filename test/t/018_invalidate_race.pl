# Copyright: cacheaside contributors
#
# 018_invalidate_race.pl: with cacheaside.auto_invalidate off (TTL and
# cache_invalidate only), a concurrent refill cannot undo a
# cache_invalidate.
#
# Writers run BEGIN; UPDATE one of four counters; cache_invalidate its
# key; COMMIT, then read their key through the cache and log a read older
# than what they wrote.  Readers call the same keys at the same time: their
# fills may read the old row before a writer's COMMIT and store it after
# the writer's removal after commit.  Before invalidations were recorded
# in shared memory, writers read their own old rows (stale) at a steady
# rate; there must be none.  The same with a glob pattern, and without the
# near-cache.
#
# Then the ring of recent patterns (patterns.c) forgetting: 1024 patterns
# that match nothing leave an entry a hit; one more makes it a miss (once),
# never a stale hit.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

use CacheasideNode;
use RedisServer;

my $seconds = $ENV{CA_RACE_SECONDS} // 20;

my $redis = RedisServer->new();
my $node = cacheaside_node('invrace',
	$redis->pg_conf . "max_connections = 40\ncacheaside.command_timeout = '10s'\n");
$node->safe_psql(
	'postgres', q{
	ALTER DATABASE postgres SET cacheaside.auto_invalidate = off;
	CREATE TABLE cnt (k int PRIMARY KEY, v bigint NOT NULL);
	INSERT INTO cnt SELECT k, 0 FROM generate_series(1, 4) k;
	CREATE TABLE stale (k int, wrote bigint, got bigint);
	CREATE TABLE checks (n bigint);
	-- read key k through the cache after writing wrote: log a stale read
	CREATE FUNCTION check_fresh(k int, wrote bigint) RETURNS void
	LANGUAGE plpgsql AS $$
	DECLARE
		got bigint;
	BEGIN
		got := (cache_aside_query('c' || k, 'select v from cnt where k = $1',
								  300, k) -> 0 ->> 'v')::bigint;
		IF got < wrote THEN
			INSERT INTO stale VALUES (k, wrote, got);
		END IF;
		INSERT INTO checks VALUES (1);
	END $$;
});

my $dir = $node->basedir;

sub script
{
	my ($name, $text) = @_;
	my $path = "$dir/$name.sql";
	open(my $fh, '>', $path) or die "cannot write $path: $!";
	print $fh $text;
	close $fh;
	return $path;
}

my $reader = script('reader', <<'EOS');
\set k random(1, 4)
SELECT cache_aside_query('c' || :k, 'select v from cnt where k = $1', 300, :k);
EOS

# run writers and readers at once for $seconds; returns pgbench's outputs
sub race
{
	my ($writer) = @_;
	my @common = ('-n', '-T', $seconds, '-h', $node->host, '-p', $node->port,
		'postgres');
	my ($wout, $werr, $rout, $rerr) = ('', '', '', '');
	my $w = IPC::Run::start([ 'pgbench', '-c', '4', '-j', '2', '-f', $writer, @common ],
		'>', \$wout, '2>', \$werr);
	my $r = IPC::Run::start([ 'pgbench', '-c', '8', '-j', '2', '-f', $reader, @common ],
		'>', \$rout, '2>', \$rerr);
	$w->finish;
	$r->finish;
	note "writers: $werr" if $werr ne '';
	note "readers: $rerr" if $rerr ne '';
	return ($wout, $rout);
}

# one race of $seconds: writers invalidate with $invalidate (SQL with :k)
sub race_case
{
	my ($what, $invalidate) = @_;
	$node->safe_psql('postgres', 'TRUNCATE stale, checks');
	$node->safe_psql('postgres', 'SELECT cache_stats_reset()');
	my $writer = script('writer', <<"EOS");
\\set k random(1, 4)
BEGIN;
UPDATE cnt SET v = v + 1 WHERE k = :k RETURNING v AS wrote \\gset
$invalidate
COMMIT;
SELECT check_fresh(:k, :wrote);
EOS
	my ($wout, $rout) = race($writer);
	like($wout, qr/number of failed transactions: 0 /,
		"$what: the writers' transactions all succeeded");
	like($rout, qr/number of failed transactions: 0 /,
		"$what: the readers' calls all succeeded");
	my $checks = $node->safe_psql('postgres', 'SELECT count(*) FROM checks');
	my $hits = $node->safe_psql('postgres',
		q{SELECT coalesce(sum(hits), 0) || ' hits, ' || coalesce(sum(local_hits), 0) || ' of them near-cache hits, ' || coalesce(sum(misses), 0) || ' misses' FROM cache_stats WHERE query = 'select v from cnt where k = $1'});
	note "$what: $checks writes checked; $hits";
	ok($checks > 0, "$what: writers read their keys back");
	my $stale = $node->safe_psql('postgres', 'SELECT count(*) FROM stale');
	is($stale, '0', "$what: no writer read a value older than it wrote");
	diag $node->safe_psql('postgres', 'SELECT * FROM stale LIMIT 10')
	  if $stale ne '0';
}

# the near-cache is on by default
race_case('a key', q{SELECT cache_invalidate('c' || :k);});
race_case('a glob pattern', q{SELECT cache_invalidate('c' || :k || '*');});
$node->append_conf('postgresql.conf', "cacheaside.local_cache_size = 0\n");
$node->restart;
race_case('a key, without the near-cache',
	q{SELECT cache_invalidate('c' || :k);});

# ---------------------------------------------------------------------------
note 'the ring of recent patterns forgets';

my $q = q{select v from cnt where k = $1};

# hits and misses of the counters' query so far
sub counts
{
	return $node->safe_psql('postgres',
		"SELECT coalesce(sum(hits), 0) || '/' || coalesce(sum(misses), 0) FROM cache_stats WHERE query = '$q'"
	);
}

sub call1
{
	return $node->safe_psql('postgres',
		qq{SELECT cache_aside_query('c1', '$q', 300, 1)});
}

$node->safe_psql('postgres', q{SELECT cache_invalidate('c1')});
$node->safe_psql('postgres', 'SELECT cache_stats_reset()');
call1();
call1();
is(counts(), '1/1', 'an entry is stored, then hit');

# patterns that match no key, each recorded outside a transaction block
$node->safe_psql('postgres',
	q{DO $$ BEGIN FOR i IN 1..1024 LOOP PERFORM cache_invalidate('none' || i || '*'); END LOOP; END $$});
call1();
is(counts(), '2/1', 'after 1024 patterns that do not match it, still a hit');

$node->safe_psql('postgres', q{SELECT cache_invalidate('none*')});
call1();
is(counts(), '2/2',
	'one more pattern: the ring forgot one newer than the entry, a miss');
call1();
is(counts(), '3/2', 'and the entry stored again is hit');

$node->stop;
done_testing();
