# Copyright: cacheaside contributors
#
# 003_interrupts.pl: waiting on Redis never blocks the backend.
#
# With Redis frozen (SIGSTOP) and cacheaside.command_timeout set far too
# long to matter, statement_timeout, pg_cancel_backend() and
# pg_terminate_backend() still end a call that is waiting for Redis, and the
# session is usable afterwards; cacheaside.connect_timeout bounds a connect
# that the server never completes; and postmaster death ends a backend that
# is waiting for Redis.  Elapsed times are printed with note() and checked
# only against generous bounds that catch hangs; bench/interrupts measures
# them beside the same interrupts of pg_sleep().

use strict;
use warnings;

use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use CacheasideNode;
use RedisServer;

my $redis = RedisServer->new();

# Stale rows after an UPDATE show which calls were hits, so hits are not
# checked against writes here (automatic invalidation has its own tests).
my $node = cacheaside_node('interrupts',
	$redis->pg_conf
	  . "cacheaside.retry_interval = 0\ncacheaside.auto_invalidate = off\n");
my $rows = create_two_rows($node);

my $call = q{SELECT cache_aside_query('k', 'SELECT * FROM t ORDER BY id', 60)::text};

# A session with an open Redis connection, then Redis frozen
my $s = $node->background_psql('postgres', on_error_stop => 0);
is($s->query_safe($call), $rows, 'call with Redis up returns the rows');
my $pid = $s->query_safe('SELECT pg_backend_pid()');
$s->query_safe("SET cacheaside.command_timeout = '10min'");
$redis->freeze;

# Wait until the session is waiting for Redis (wait event "Extension")
sub wait_for_redis_wait
{
	my ($backend) = @_;
	return $node->poll_query_until('postgres',
		"SELECT wait_event_type = 'Extension' FROM pg_stat_activity WHERE pid = $backend"
	);
}

# ---------------------------------------------------------------------------
note 'statement_timeout';

$s->query_safe("SET statement_timeout = '300ms'");
my $t0 = time();
$s->query($call);
my $elapsed = time() - $t0;
note sprintf('statement_timeout of 300 ms ended the call after %.3f s',
	$elapsed);
like($s->{stderr}, qr/canceling statement due to statement timeout/,
	'statement_timeout cancels a call waiting on a frozen Redis');
cmp_ok($elapsed, '<', 5, 'within a generous bound (5 s)');
$s->{stderr} = '';
$s->query_safe('RESET statement_timeout');

# ---------------------------------------------------------------------------
note 'pg_cancel_backend';

$s->query_until(qr/started/, "\\echo started\n$call;\n");
ok(wait_for_redis_wait($pid), 'the call is waiting for Redis');
$t0 = time();
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
pump_until($s->{run}, $s->{timeout}, \$s->{stderr},
	qr/canceling statement due to user request/);
$elapsed = time() - $t0;
note sprintf('pg_cancel_backend ended the call after %.3f s', $elapsed);
like($s->{stderr}, qr/canceling statement due to user request/,
	'pg_cancel_backend cancels a call waiting on a frozen Redis');
cmp_ok($elapsed, '<', 5, 'within a generous bound (5 s)');
$s->{stderr} = '';
$s->{stdout} = '';

# ---------------------------------------------------------------------------
note 'the session is usable afterwards, and caching resumes after a thaw';

is($s->query_safe('SELECT 42'), '42', 'the cancelled session runs queries');
$redis->thaw;
$node->safe_psql('postgres', "UPDATE t SET v = 'uno' WHERE id = 1");
my $new_rows = qq{[{"id":1,"v":"uno"}, \n {"id":2,"v":"two"}]};
is($s->query_safe($call), $rows,
	'after the thaw, the same session gets a hit from a new connection');
is($s->query_safe("SELECT cache_invalidate('k')"), '1',
	'and can invalidate');
is($s->query_safe($call), $new_rows, 'and refill');

# ---------------------------------------------------------------------------
note 'pg_terminate_backend';

$redis->freeze;
$s->query_until(qr/started/, "\\echo started\n$call;\n");
ok(wait_for_redis_wait($pid), 'the call is waiting for Redis again');
$t0 = time();
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
	'pg_terminate_backend ends a backend waiting on a frozen Redis');
note sprintf('pg_terminate_backend took %.3f s', time() - $t0);
eval { $s->quit; };    # psql lost its backend: quitting may see a broken pipe
$redis->thaw;

# ---------------------------------------------------------------------------
note 'connect_timeout: a server whose accept queue is full never completes a connect';

my $listener = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => 0,
	Listen => 0,
	Proto => 'tcp') or die "listen: $!";
my $port = $listener->sockport;
# fill the accept queue until a connect fails: then further SYNs are
# dropped and connects hang
my @fillers;
for (1 .. 16)
{
	my $c = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $port,
		Proto => 'tcp',
		Timeout => 1);
	last unless $c;
	push @fillers, $c;
}
note scalar(@fillers) . ' connections fill the accept queue';
my ($stdout, $stderr) = ('', '');
$t0 = time();
$node->psql(
	'postgres',
	"SET cacheaside.connect_timeout = 300; SET cacheaside.port = $port; $call",
	stdout => \$stdout,
	stderr => \$stderr);
$elapsed = time() - $t0;
note sprintf('a connect that never completes returned after %.3f s', $elapsed);
is($stdout, $new_rows, 'the call returns the rows');
like($stderr, qr/timed out after 300 ms connecting to Redis/,
	'with a WARNING saying the connect timed out');
my @warnings = $stderr =~ /WARNING:/g;
is(scalar @warnings, 1, 'one WARNING');
cmp_ok($elapsed, '<', 5, 'within a generous bound (5 s)');
close($_) foreach @fillers;
close($listener);

# ---------------------------------------------------------------------------
note 'postmaster death ends a backend waiting on Redis';

$redis->freeze;
my $orphan = $node->background_psql('postgres', on_error_stop => 0);
my $orphan_pid = $orphan->query_safe('SELECT pg_backend_pid()');
$orphan->query_safe("SET cacheaside.command_timeout = '10min'");
$orphan->query_until(qr/started/, "\\echo started\n$call;\n");
ok(wait_for_redis_wait($orphan_pid), 'a call is waiting for Redis');
$node->kill9;
$t0 = time();
my $gone = 0;
while (time() - $t0 < 30)
{
	# exited: gone, or a zombie waiting for whoever adopted it to reap it
	my $stat = eval { slurp_file("/proc/$orphan_pid/stat") } // q{};
	if (!kill(0, $orphan_pid) || $stat =~ /^\d+ \(.*\) [ZX] /)
	{
		$gone = 1;
		last;
	}
	select(undef, undef, undef, 0.05);
}
note sprintf('the backend exited %.3f s after the postmaster died',
	time() - $t0);
ok($gone, 'the backend exits when the postmaster dies');
eval { $orphan->quit; };
$redis->thaw;
$redis->stop;

done_testing();
