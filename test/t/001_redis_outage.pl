
# Copyright: cacheaside contributors
#
# 001_redis_outage.pl: Redis trouble never breaks a query.
#
# With Redis stopped or frozen (SIGSTOP), cache_aside_query still returns the
# rows PostgreSQL computes now, with one WARNING per session rather than one
# per call, and without hanging; cache_invalidate refuses with SQLSTATE 08006
# instead of pretending; and when Redis comes back, caching resumes by itself
# after cacheaside.retry_interval.
#
# Timings are printed with note() and only checked against generous bounds
# that catch hangs, never against tight numbers.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use CacheasideNode;
use RedisServer;

my $redis = RedisServer->new();

# Stale rows after an UPDATE show here which calls were hits, so hits are
# not checked against writes (automatic invalidation has its own tests).
my $node = cacheaside_node('outage',
	$redis->pg_conf
	  . "cacheaside.retry_interval = 200\ncacheaside.auto_invalidate = off\n");

$node->safe_psql(
	'postgres', q{
	CREATE TABLE t (id int, v text);
	INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 5) g;
});

my $dboid = $node->safe_psql('postgres',
	'SELECT oid FROM pg_database WHERE datname = current_database()');
my $key_prefix = "cacheaside:${dboid}:e:";

my $inner = 'SELECT id, v FROM t ORDER BY id';
# one call, its JSON on one line (json_agg style output may contain newlines)
my $call_sql =
  "SELECT replace(cache_aside_query('k1', \$q\$$inner\$q\$)::text, E'\\n', ' ');\n";

# JSON text without the whitespace outside strings: compares key order,
# number text and string escapes exactly, and ignores layout.
sub json_norm
{
	my ($s) = @_;
	my $out = '';
	while ($s =~ /\G("(?:[^"\\]|\\.)*"|\s+|[^\s"]+)/gcs)
	{
		my $tok = $1;
		$out .= $tok unless $tok =~ /^\s/;
	}
	return $out;
}

# what PostgreSQL computes for the query right now
sub truth
{
	return json_norm(
		$node->safe_psql(
			'postgres',
			"SELECT coalesce(json_agg(q), '[]'::json) FROM ($inner) q"));
}

sub call
{
	return json_norm($node->safe_psql('postgres', $call_sql));
}

sub redis_has
{
	my ($key) = @_;
	return $redis->cli('EXISTS', $key_prefix . $key) eq '1';
}

# run $n calls in one psql session; returns (exit code, lines, stderr, seconds)
sub calls_in_one_session
{
	my ($n) = @_;
	my ($stdout, $stderr) = ('', '');
	my $t0 = time();
	my $ret = $node->psql(
		'postgres', $call_sql x $n,
		stdout => \$stdout,
		stderr => \$stderr,
		on_error_stop => 1);
	my $elapsed = time() - $t0;
	my @lines = map { json_norm($_) } split /\n/, $stdout;
	return ($ret, \@lines, $stderr, $elapsed);
}

sub count_warnings
{
	my ($stderr) = @_;
	# psql reading a script prefixes "psql:<stdin>:N: "
	my @w = $stderr =~ /^(?:psql:\S+:\d+: )?WARNING:/mg;
	return scalar @w;
}

my $n_calls = 20;

# ---------------------------------------------------------------------------
note 'Redis up: a miss stores, a hit is served from Redis';

my $rows_v1 = truth();
is(call(), $rows_v1, 'first call (miss) returns the rows PostgreSQL computes');
ok(redis_has('k1'), "the miss stored ${key_prefix}k1 in Redis");
my $ttl = $node->safe_psql('postgres', "SELECT cache_get_ttl('k1')");
ok($ttl =~ /^\d+$/ && $ttl > 0, "cache_get_ttl('k1') is positive ($ttl)");

# change the table without invalidating: a hit still returns the old rows
$node->safe_psql('postgres', "UPDATE t SET v = 'changed once' WHERE id = 1");
my $rows_v2 = truth();
isnt($rows_v2, $rows_v1, 'the update changed what the query computes');
is(call(), $rows_v1, 'second call (hit) returns the cached rows, not the new ones');

# ---------------------------------------------------------------------------
note 'Redis stopped: calls fall back to the database';

$redis->stop;
# the near-cache's copy is served until its tracker is out of step with
# Redis (at once here, on the closed connection; 012_nearcache.pl)
ok(near_cache_off_wait($node), 'the near-cache is not used any more');

my ($ret, $lines, $stderr, $elapsed) = calls_in_one_session($n_calls);
note sprintf('%d calls with Redis stopped took %.3f s in one session',
	$n_calls, $elapsed);
is($ret, 0, "$n_calls calls with Redis stopped succeed")
  or diag "stderr: $stderr";
is(scalar(@$lines), $n_calls, "$n_calls results");
is(scalar(grep { $_ eq $rows_v2 } @$lines),
	$n_calls, 'every call returns the current rows from the database');
is(count_warnings($stderr), 1, 'the session got exactly one WARNING')
  or diag "stderr: $stderr";
cmp_ok($elapsed, '<', 5, "$n_calls calls do not hang (generous bound: 5 s)");

# cache_invalidate cannot pretend it removed anything
my ($out, $err);
$ret = $node->psql(
	'postgres',
	"\\set VERBOSITY verbose\nSELECT cache_invalidate('k*');",
	stdout => \$out,
	stderr => \$err);
isnt($ret, 0, 'cache_invalidate with Redis stopped fails');
like($err, qr/ERROR:\s+08006:/, 'with SQLSTATE 08006 (connection_failure)');

$ret = $node->psql(
	'postgres',
	"\\set VERBOSITY verbose\n${call_sql}SELECT cache_invalidate('k*');",
	stdout => \$out,
	stderr => \$err);
like($err, qr/ERROR:\s+08006:/,
	'cache_invalidate fails with 08006 also in a session already backing off');

# ---------------------------------------------------------------------------
note 'Redis back on the same port: caching resumes after the retry interval';

my $session = $node->background_psql('postgres', on_error_stop => 0);
$session->query($call_sql);    # Redis still down: this session backs off
cmp_ok(count_warnings($session->{stderr}), '>=', 1,
	'a session that met the outage warned');

$redis->start;
ok(!redis_has('k1'), 'restarted Redis is empty');

# the back-off is 200 ms; poll for up to 10 s (only a hang-catching bound)
my $t0 = time();
my $stored = 0;
my $polls = 0;
while (time() - $t0 < 10)
{
	$polls++;
	my $res = json_norm($session->query($call_sql));
	is($res, $rows_v2, 'call during recovery returns the current rows')
	  if $polls == 1;
	if (redis_has('k1'))
	{
		$stored = 1;
		last;
	}
	usleep(100_000);
}
note sprintf('caching resumed after %.3f s and %d calls', time() - $t0,
	$polls);
ok($stored, 'the same session stores the entry again once Redis is back');
is(json_norm($session->query($call_sql)),
	$rows_v2, 'and a hit returns what was stored');
is(count_warnings($session->{stderr}),
	1, 'the long-lived session warned once in all');
$session->quit;

# ---------------------------------------------------------------------------
note 'Redis frozen (SIGSTOP): calls time out on Redis and use the database';

$node->safe_psql('postgres', "UPDATE t SET v = 'changed twice' WHERE id = 2");
my $rows_v3 = truth();
isnt(call(), $rows_v3, 'before the freeze, the stale entry is a hit');

$redis->freeze;
# near hits go on until the tracker misses its PING's answer, within the
# near-cache's sync bound (012_nearcache.pl)
ok(near_cache_off_wait($node), 'the near-cache is not used any more');
($ret, $lines, $stderr, $elapsed) = calls_in_one_session($n_calls);
$redis->thaw;
note sprintf('%d calls with Redis frozen took %.3f s in one session',
	$n_calls, $elapsed);
is($ret, 0, "$n_calls calls with Redis frozen succeed")
  or diag "stderr: $stderr";
is(scalar(grep { $_ eq $rows_v3 } @$lines),
	$n_calls, 'every call returns the current rows from the database');
my $w = count_warnings($stderr);
ok($w >= 1 && $w <= 2, "the session got one WARNING (at most one per retry interval): $w")
  or diag "stderr: $stderr";
cmp_ok($elapsed, '<', 10,
	"$n_calls calls do not hang on a frozen Redis (generous bound: 10 s)");

# ---------------------------------------------------------------------------
note 'Redis thawed: everything works again';

ok($redis->ping, 'Redis answers after SIGCONT');
my $removed = $node->safe_psql('postgres', "SELECT cache_invalidate('k*')");
is($removed, '1', 'cache_invalidate removes the entry again');
is(call(), $rows_v3, 'next call is a miss with the current rows');
ok(redis_has('k1'), 'and stores the entry');

$node->stop;
$redis->stop;

done_testing();
