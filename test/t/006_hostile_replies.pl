# Copyright: cacheaside contributors
#
# 006_hostile_replies.pl: a fake Redis server (test/fake/fake_redis.py)
# answers with malformed, truncated, oversized, deeply nested and
# wrong-type replies, RESP3 replies to RESP2 requests, refuses every
# command, closes connections, or stalls mid-reply.  Every call must return
# the database's rows, with one WARNING for the session rather than one per
# call, without crashing the backend, and the session must stay usable.  A reply that breaks the protocol drops
# the connection and the next call opens a new one; a well-formed refusal or
# wrong-type reply keeps it.  An array announced with two billion
# elements must not make the backend allocate for them.

use strict;
use warnings;

use File::Basename qw(dirname);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use CacheasideNode;

my $fake = dirname(__FILE__) . '/../fake/fake_redis.py';
my $dir = PostgreSQL::Test::Utils::tempdir('fake');
my ($port_file, $mode_file) = ("$dir/port", "$dir/mode");

sub set_mode
{
	my ($mode) = @_;
	open(my $fh, '>', $mode_file) or die "could not write $mode_file: $!";
	print $fh "$mode\n";
	close($fh);
	return;
}

set_mode('garbage');
my ($fake_out, $fake_err) = ('', '');
my $server = IPC::Run::start([ '/usr/bin/python3', $fake, $port_file, $mode_file ],
	'<', \undef, '>', \$fake_out, '2>', \$fake_err);
for (1 .. 100)
{
	last if -e $port_file;
	select(undef, undef, undef, 0.1);
}
die "fake Redis did not start: $fake_err" unless -e $port_file;
open(my $pf, '<', $port_file) or die;
my $port = <$pf>;
close($pf);
note "fake Redis on 127.0.0.1:$port";

my $node = cacheaside_node(
	'hostile', qq{
shared_preload_libraries = 'cacheaside'
cacheaside.host = '127.0.0.1'
cacheaside.port = $port
cacheaside.retry_interval = 0
cacheaside.command_timeout = 500
# the near-cache's tracker would be one more client of the fake server,
# whose connections are counted here (012_nearcache.pl tests the tracker)
cacheaside.local_cache_size = 0
});
my $rows = create_two_rows($node);

# connections the fake server accepted so far
sub accepts
{
	return 0 unless -e "$port_file.accepts";
	my @lines = split /\n/, slurp_file("$port_file.accepts");
	return scalar @lines;
}

my $call = q{SELECT cache_aside_query('k', 'SELECT * FROM t ORDER BY id', 60);};

for my $mode (
	qw(garbage truncated oversized nested wrong-type close stall huge-array error
	resp3-double resp3-map)
  )
{
	set_mode($mode);
	my $accepted = accepts();
	my ($out, $err) = ('', '');
	$node->psql(
		'postgres', "$call $call $call SELECT 'usable';",
		stdout => \$out,
		stderr => \$err);
	is($out, "$rows\n$rows\n$rows\nusable",
		"$mode: the three calls return the rows, the session stays usable");
	my @w = $err =~ /WARNING:/g;
	is(scalar @w, 1, "$mode: one WARNING says why, not one per call");
	unlike($err, qr/ERROR|FATAL|server closed/, "$mode: no error");
	my $connections = accepts() - $accepted;
	if ($mode eq 'error' || $mode eq 'wrong-type')
	{
		# the reply was well formed: the protocol is still in step
		is($connections, 1, "$mode: a well-formed reply keeps the connection");
	}
	else
	{
		is($connections, 3,
			"$mode: each call dropped the connection and the next reopened it");
	}
}

# the huge array: measure the backend's peak of virtual memory around it
set_mode('huge-array');
my $s = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $s->query_safe('SELECT pg_backend_pid()');
sub vm_peak_kb
{
	open(my $st, '<', "/proc/$pid/status") or die "no /proc/$pid/status: $!";
	while (<$st>) { return $1 if /^VmPeak:\s+(\d+) kB/; }
	die 'no VmPeak';
}
my $before = vm_peak_kb();
my $got = $s->query($call);
my $after = vm_peak_kb();
note sprintf('backend VmPeak %d kB before, %d kB after the huge array',
	$before, $after);
is($got, $rows, 'huge-array: the call returns the rows');
cmp_ok($after - $before, '<', 256 * 1024,
	'huge-array: the backend did not allocate for two billion elements');
$s->quit;

# the same replies from a hostile Redis Sentinel, and answers to SENTINEL
# get-master-addr-by-name that name no usable master: each call returns
# the rows, one WARNING, and each call asks again (the connection to a
# Sentinel is closed once it has answered)
my $via_sentinel = "SET cacheaside.sentinels = '127.0.0.1:$port'; "
  . "SET cacheaside.sentinel_master = 'mymaster'; ";
for my $mode (
	qw(garbage truncated oversized nested wrong-type close stall huge-array error
	resp3-double resp3-map sentinel-bad-port sentinel-long-host
	sentinel-nul-host sentinel-three)
  )
{
	set_mode($mode);
	my $accepted = accepts();
	my ($out, $err) = ('', '');
	$node->psql(
		'postgres', "$via_sentinel $call $call $call SELECT 'usable';",
		stdout => \$out,
		stderr => \$err);
	is($out, "$rows\n$rows\n$rows\nusable",
		"Sentinel $mode: the three calls return the rows, the session stays usable");
	my @w = $err =~ /WARNING:/g;
	is(scalar @w, 1, "Sentinel $mode: one WARNING says why, not one per call");
	unlike($err, qr/ERROR|FATAL|server closed/, "Sentinel $mode: no error");
	like($err, qr/DETAIL:  .*Sentinel/, "Sentinel $mode: the warning names the Sentinel")
	  or diag($err);
	is(accepts() - $accepted, 3, "Sentinel $mode: each call asked the Sentinel");
}

# hostile nodes of a Redis Cluster: a MOVED loop, a MOVED to a closed port,
# slot maps of absurd or overlapping ranges, host names or sizes.  Each call returns the
# rows with one WARNING for the session; cache_invalidate, which needs the
# slot map, fails with an ERROR that names what is wrong.
my %cluster_modes = (
	'cluster-moved-loop' => [
		qr/Redis is unavailable.*\nDETAIL:  Redis Cluster redirected a command 5 times, the last time: MOVED 1 127\.0\.0\.1:$port/,
		qr/ERROR:  .*\nDETAIL:  .*MOVED 1 127\.0\.0\.1:$port/
	],
	'cluster-moved-closed' => [
		qr/a Redis Cluster node is unavailable, queries on its slots run without the cache\nDETAIL:  could not connect to Redis at 127\.0\.0\.1:\d+: Connection refused/,
		qr/ERROR:  .*\nDETAIL:  .*MOVED 1 127\.0\.0\.1:\d+/
	],
	'cluster-bad-range' => [
		qr/DETAIL:  Redis Cluster redirected a command 5 times/,
		qr/ERROR:  cacheaside could not use Redis\nDETAIL:  Redis Cluster node 127\.0\.0\.1:$port gave an invalid slot map: a range out of the slots/
	],
	'cluster-long-host' => [
		qr/DETAIL:  Redis Cluster redirected a command 5 times/,
		qr/ERROR:  cacheaside could not use Redis\nDETAIL:  Redis Cluster node 127\.0\.0\.1:$port gave an invalid slot map: an invalid host name/
	],
	'cluster-many-nodes' => [
		qr/DETAIL:  Redis Cluster redirected a command 5 times/,
		qr/ERROR:  cacheaside could not use Redis\nDETAIL:  the Redis Cluster names more than 127 nodes/
	],
	'cluster-overlap' => [
		qr/DETAIL:  Redis Cluster redirected a command 5 times/,
		qr/ERROR:  cacheaside could not use Redis\nDETAIL:  Redis Cluster node 127\.0\.0\.1:$port gave an invalid slot map: ranges that overlap/
	],
	'cluster-huge-map' => [
		qr/DETAIL:  Redis Cluster redirected a command 5 times/,
		qr/ERROR:  cacheaside could not use Redis\nDETAIL:  invalid reply from Redis/
	]);
for my $mode (sort keys %cluster_modes)
{
	my ($warning, $error) = @{ $cluster_modes{$mode} };
	set_mode($mode);
	my ($out, $err) = ('', '');
	$node->psql(
		'postgres', "$call $call $call SELECT 'usable';",
		stdout => \$out,
		stderr => \$err);
	is($out, "$rows\n$rows\n$rows\nusable",
		"$mode: the three calls return the rows, the session stays usable");
	my @w = $err =~ /WARNING:/g;
	is(scalar @w, 1, "$mode: one WARNING says why, not one per call");
	unlike($err, qr/ERROR|FATAL|server closed/, "$mode: no error");
	like($err, $warning, "$mode: the warning says why") or diag($err);

	# the fake server builds some replies slowly on a busy machine: a
	# timeout would hide the error this checks
	($out, $err) = ('', '');
	$node->psql(
		'postgres',
		"SET cacheaside.command_timeout = 20000; $call SELECT cache_invalidate('*');",
		stdout => \$out,
		stderr => \$err);
	like($err, $error, "$mode: cache_invalidate fails and says why")
	  or diag($err);
}

ok(!grep({ /terminated by signal|server process .* exited abnormally/ }
		slurp_file($node->logfile)),
	'no backend crashed');

$node->stop;
$server->kill_kill;
done_testing();
