# Copyright: cacheaside contributors
#
# 010_single_flight.pl: one query per cold entry.
#
# Sessions that miss the same entry at once agree on one of them to run the
# query; the others wait for it (at most cacheaside.fill_wait) and return
# what it stored.  Executions of the cached query are counted in the
# server log: it calls sf_mark(), which logs one line per run.  Whether a
# run is slow is a custom setting of the session (not part of the
# fingerprint): a slow filler, quick waiters.
#
#  - 32 sessions at once on one cold entry whose query takes 300 ms: one run.
#  - A filler terminated: its waiters return the rows at once, each having
#    run the query itself.
#  - A waiter cancelled: the error is its own, the fill goes on.
#  - A filler whose result is not stored: its waiters run the query.
#  - fill_wait bounds the wait.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use CacheasideNode;
use RedisServer;

my $redis = RedisServer->new();
my $node = cacheaside_node('flight',
	$redis->pg_conf . "max_connections = 60\ncacheaside.command_timeout = '10s'\n");
$node->safe_psql(
	'postgres', q{
	CREATE TABLE sf (id int, v text);
	INSERT INTO sf VALUES (1, 'one');
	CREATE FUNCTION sf_mark(key text) RETURNS boolean
	LANGUAGE plpgsql AS $$
	BEGIN
		RAISE LOG 'sf_mark run of %', key;
		PERFORM pg_sleep(CASE WHEN current_setting('sf.slow', true) = 'on'
							  THEN 30
							  ELSE coalesce(nullif(current_setting('sf.sleep', true), ''), '0')::float8
						 END);
		RETURN true;
	END
	$$;
});

# the query of an entry, which logs each run
sub sql_of
{
	my ($key) = @_;
	return "SELECT id, v FROM sf WHERE sf_mark(''$key'')";
}

sub call_of
{
	my ($key) = @_;
	return "SELECT cache_aside_query('$key', '" . sql_of($key) . "', 600)";
}

# the backend running the call of key (other than the asking one)
sub active_pid
{
	my ($key) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE query LIKE '%sf_mark(''''$key'''')%' "
		  . "AND state = 'active' AND pid <> pg_backend_pid()");
}

# how many sessions wait on an extension event with the call of key
sub waiting
{
	my ($key) = @_;
	return "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Extension' "
	  . "AND query LIKE '%sf_mark(''''$key'''')%'";
}

# how many times the query of key ran since the log offset
sub runs
{
	my ($key, $offset) = @_;
	my $log = slurp_file($node->logfile, $offset);
	my @runs = $log =~ /LOG:  sf_mark run of \Q$key\E\b/g;
	return scalar @runs;
}

my $rows = '[{"id":1,"v":"one"}]';

# ---------------------------------------------------------------------------
note '32 sessions at once on a cold entry';

my $offset = -s $node->logfile;
my $script = $node->basedir . '/cold.sql';
PostgreSQL::Test::Utils::append_to_file($script,
	"SET sf.sleep = '0.3';\n" . call_of('cold') . ";\n");
my ($out, $err) = ('', '');
my $t0 = time;
IPC::Run::run(
	[
		'pgbench', '-n', '-c', '32', '-j', '4', '-t', '1', '-f', $script,
		'-h', $node->host, '-p', $node->port, 'postgres'
	],
	'>', \$out, '2>', \$err);
my $elapsed = time - $t0;
like($out, qr/number of transactions actually processed: 32\/32/,
	'32 sessions called at once');
is(runs('cold', $offset), 1, 'the query ran once');
is($node->safe_psql('postgres', call_of('cold')), $rows, 'its rows were stored');
is( $node->safe_psql(
		'postgres', q{
	SELECT calls, misses, hits + misses = calls, waits >= 1
	FROM cache_stats WHERE query = 'SELECT id, v FROM sf WHERE sf_mark(''cold'')'}),
	'33|1|t|t',
	'cache_stats counts the calls, one miss, and the waits');
note sprintf('32 sessions took %.2f s', $elapsed);

# ---------------------------------------------------------------------------
note 'a filler terminated while others wait';

# start call (by default, the call of key) in a session of its own, with
# the given settings, and wait until its query has run (logged a run of key
# since $offset): the filler holds its slot then
sub start_filler
{
	my ($key, $call, @settings) = @_;
	my $f = $node->background_psql('postgres', on_error_stop => 0);
	$f->query_safe("SET $_") for @settings;
	$f->query_until(qr/filling/,
		"\\echo filling\n" . ($call // call_of($key)) . ";\n");
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	usleep(10_000)
	  until runs($key, $offset) >= 1 || time > $deadline;
	return $f;
}

# start a slow filler, then waiters
sub slow_filler
{
	my ($key) = @_;
	return start_filler($key, undef, 'sf.slow = on');
}

$offset = -s $node->logfile;
my $filler = slow_filler('term');
my $filler_pid = active_pid('term');
my @waiters;
for my $i (1 .. 4)
{
	my $w = $node->background_psql('postgres', on_error_stop => 0);
	$w->query_until(qr/waiting/, "\\echo waiting\n" . call_of('term') . ";\n");
	push @waiters, $w;
}
# all four are waiting for the fill
ok($node->poll_query_until('postgres', waiting('term'), '4'),
	'four sessions wait for the filler');
$t0 = time;
$node->safe_psql('postgres', "SELECT pg_terminate_backend($filler_pid)");
my @got = map { scalar $_->query('SELECT 1 AS done') } @waiters;
my $released = time - $t0;
ok($released < 20, sprintf('the waiters returned %.2f s after the filler was terminated (its query sleeps 30 s)', $released));
is(scalar(grep { index($_, $rows) >= 0 } @got), 4, 'with the rows');
is(runs('term', $offset), 5, 'each waiter then ran the query itself');
is($node->safe_psql('postgres', 'SELECT fills_in_progress FROM cache_status()'),
	'0', 'the terminated filler left nothing in the shared table');
$_->quit for @waiters;
# its psql has seen its connection end
eval { $filler->quit };
is($node->safe_psql('postgres', call_of('term')), $rows, 'and the rows are right');

# ---------------------------------------------------------------------------
note 'a waiter cancelled';

$offset = -s $node->logfile;
$filler = slow_filler('cancel');
my $w = $node->background_psql('postgres', on_error_stop => 0);
my $wpid = $w->query_safe('SELECT pg_backend_pid()');
$w->query_until(qr/waiting/, "\\echo waiting\n" . call_of('cancel') . ";\n");
ok( $node->poll_query_until(
		'postgres',
		"SELECT wait_event_type = 'Extension' FROM pg_stat_activity WHERE pid = $wpid"),
	'the waiter waits');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($wpid)");
$w->query('SELECT 42 AS next');
like($w->{stderr}, qr/canceling statement due to user request/,
	'the waiter gets its cancel');
$w->{stderr} = '';
is($w->query_safe('SELECT 42'), '42', 'its session goes on');
$w->quit;
$filler_pid = active_pid('cancel');
ok($filler_pid =~ /^\d+$/, 'the filler is still running');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($filler_pid)");
$filler->quit;

# ---------------------------------------------------------------------------
note 'a filler whose result is not stored';

$offset = -s $node->logfile;
# the filler runs long enough for a session started after it to find it
# running on a loaded machine, and the waiter waits as long as it runs
my $big = start_filler('unstored', undef, "sf.sleep = '10'",
	'cacheaside.max_value_bytes = 10');
my $v = $node->background_psql('postgres', on_error_stop => 0);
$v->query_safe("SET cacheaside.fill_wait = '60s'");
$v->query_until(qr/waiting/, "\\echo waiting\n" . call_of('unstored') . ";\n");
ok($node->poll_query_until('postgres', waiting('unstored'), '1'),
	'a session waits for it');
$big->query_safe('SELECT 1');
$v->query_safe('SELECT 1');
is(runs('unstored', $offset), 2, 'the waiter ran the query itself');
is($v->query_safe(call_of('unstored')), $rows, 'and its own result was stored');
$big->quit;
$v->quit;

# ---------------------------------------------------------------------------
note 'fill_wait bounds the wait';

$offset = -s $node->logfile;
$filler = slow_filler('bounded');
$t0 = time;
is( $node->safe_psql(
		'postgres',
		"SET cacheaside.fill_wait = '300ms'; " . call_of('bounded')),
	$rows,
	'a waiter gives up after fill_wait and runs the query itself');
$elapsed = time - $t0;
ok($elapsed >= 0.3 && $elapsed < 20, sprintf('after %.2f s', $elapsed));
$filler_pid = active_pid('bounded');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($filler_pid)");
$filler->quit;

# and cacheaside.fill_wait = 0 does not wait at all
$offset = -s $node->logfile;
$filler = slow_filler('nowait');
is( $node->safe_psql(
		'postgres', "SET cacheaside.fill_wait = 0; " . call_of('nowait')),
	$rows,
	'with fill_wait 0 a session does not wait');
$filler_pid = active_pid('nowait');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($filler_pid)");
$filler->quit;

# ---------------------------------------------------------------------------
note 'a session holding a lock that the filler waits for does not wait for it';

# the backend's pid, and a wait of it of the given type
sub pid_of { return $_[0]->query_safe('SELECT pg_backend_pid()'); }

sub waits_for
{
	my ($pid, $type) = @_;
	return $node->poll_query_until('postgres',
		"SELECT wait_event_type = '$type' FROM pg_stat_activity WHERE pid = $pid");
}

# start call in a session of its own, whose query waits for a lock
sub lock_waiting_filler
{
	my ($call, $what) = @_;
	my $f = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = pid_of($f);
	$f->query_until(qr/filling/, "\\echo filling\n$call;\n");
	ok(waits_for($pid, 'Lock'), $what);
	return $f;
}

# the reader's own call returns the rows without waiting out fill_wait
sub returns_at_once
{
	my ($reader, $call, $what) = @_;
	my $start = time;
	is($reader->query_safe($call), $rows, $what);
	my $took = time - $start;
	ok($took < 30, sprintf('after %.2f s (fill_wait is 60 s)', $took));
}

# A reader holds AccessShareLock on sf; an ALTER TABLE queues behind it; a
# filler's query queues behind the ALTER TABLE.  The reader's own call
# must not wait for that filler: the filler waits (through the ALTER
# TABLE) for the reader, which PostgreSQL's deadlock detector cannot see.
my $lock_call = q{SELECT cache_aside_query('cycle', 'SELECT id, v FROM sf ORDER BY id', 600)};
my $reader = $node->background_psql('postgres', on_error_stop => 0);
$reader->query_safe("SET cacheaside.fill_wait = '60s'");
$reader->query_safe('BEGIN');
$reader->query_safe('SELECT count(*) FROM sf');
my $ddl = $node->background_psql('postgres', on_error_stop => 0);
my $ddl_pid = pid_of($ddl);
$ddl->query_until(qr/ddl/, "\\echo ddl\nALTER TABLE sf ADD COLUMN extra int;\n");
ok(waits_for($ddl_pid, 'Lock'), 'an ALTER TABLE waits behind the reader');
$filler = lock_waiting_filler($lock_call, 'a filler waits behind the ALTER TABLE');
is($node->safe_psql('postgres', 'SELECT fills_in_progress FROM cache_status()'),
	'1', 'while it holds the fill of the entry');
returns_at_once($reader, $lock_call,
	'the reader gets its rows without waiting for the filler');
$reader->query_safe('COMMIT');
$ddl->query_safe('SELECT 1');
$filler->query_safe('SELECT 1');
$_->quit for ($reader, $ddl, $filler);
$node->safe_psql('postgres', 'ALTER TABLE sf DROP COLUMN extra');

# the same with a session's advisory lock, held without a transaction id
$lock_call = q{SELECT cache_aside_query('advisory', 'SELECT id, v FROM sf WHERE pg_advisory_xact_lock_shared(42) IS NOT NULL', 600)};
$reader = $node->background_psql('postgres', on_error_stop => 0);
$reader->query_safe("SET cacheaside.fill_wait = '60s'");
$reader->query_safe('SELECT pg_advisory_lock(42)');
$filler = lock_waiting_filler($lock_call, 'a filler waits for the advisory lock');
returns_at_once($reader, $lock_call,
	'the lock holder gets its rows without waiting for the filler');
$reader->query_safe('SELECT pg_advisory_unlock(42)');
$filler->query_safe('SELECT 1');
$_->quit for ($reader, $filler);

# ---------------------------------------------------------------------------
note 'a call that waited and then hit is a hit, whatever it saw first';

$node->safe_psql('postgres', call_of('stale'));
$node->safe_psql('postgres', "UPDATE sf SET v = 'one'");    # the entry is stale
$node->safe_psql('postgres', 'SELECT cache_stats_reset()');
$offset = -s $node->logfile;
$filler = start_filler('stale', undef, "sf.sleep = '5'");
is($node->safe_psql('postgres', "SET cacheaside.fill_wait = '60s'; " . call_of('stale')), $rows,
	'a session that found the entry stale waited for the filler');
$filler->query_safe('SELECT 1');
$filler->quit;
is( $node->safe_psql(
		'postgres', q{
	SELECT calls, hits, misses, waits, not_served_changed
	FROM cache_stats WHERE query = 'SELECT id, v FROM sf WHERE sf_mark(''stale'')'}),
	'2|1|1|1|1',
	'its hit does not count among the entries not served');

# ---------------------------------------------------------------------------
note 'an entry whose results are not stored is not waited for';

# A result read from a system catalog is never stored: after one such
# fill, sessions that miss it run it at once instead of waiting for
# another session's fill, which would only delay them.
my $catalog_sql = q{SELECT sf_mark(''catalog'') AND EXISTS (SELECT FROM pg_class) AS any};
my $catalog_call = "SELECT cache_aside_query('catalog', '$catalog_sql', 600)";
$node->safe_psql('postgres', $catalog_call);
$node->safe_psql('postgres', 'SELECT cache_stats_reset()');
$offset = -s $node->logfile;
$filler = start_filler('catalog', $catalog_call, "sf.sleep = '1'");
$node->safe_psql('postgres', "SET sf.sleep = '1'; $catalog_call");
$filler->query_safe('SELECT 1');
$filler->quit;
is( $node->safe_psql(
		'postgres', q{
	SELECT calls, misses, waits, not_stored_uncacheable
	FROM cache_stats WHERE query LIKE '%sf_mark(''catalog'')%'}),
	'2|2|0|2',
	'two sessions at once ran it, neither waited');

is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Extension' AND backend_type = 'client backend'"),
	'0', 'nobody is left waiting');
is($node->safe_psql('postgres', 'SELECT fills_in_progress FROM cache_status()'),
	'0', 'no fill is left in the shared table');

$node->stop;
done_testing();
