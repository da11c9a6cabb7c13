# Copyright: cacheaside contributors
#
# 016_cluster_failover.pl: Redis Cluster with replicas.  Three masters, each
# with one replica (redis-cli --cluster create --cluster-replicas 1), on
# free loopback ports, cluster-node-timeout 1000 ms; cacheaside.host and
# cacheaside.port name one master, the seed.
#
#  - entries are stored on the master of their key's slot, spread over the
#    three, and hit;
#  - a master killed (SIGKILL) while one session writes and calls in a
#    loop: every call returns the rows as last committed (the same SQL run
#    directly), one WARNING for the episode, and caching resumes on the
#    replica the cluster promotes (an entry of those slots stored on it,
#    then a hit); cache_invalidate while the slots have no master fails
#    naming it, and after the failover removes on the new master;
#  - the killed master restarted: it comes back as a replica, and nothing
#    changes for callers;
#  - a graceful failover (CLUSTER FAILOVER on a replica) under the same
#    loop, twice: back to the restarted master, whose promoted replica the
#    session is connected to (it answers MOVED once demoted), and the
#    seed's own pair: every call returns the right rows, as a rule without a
#    WARNING (a node answering CLUSTERDOWN or TRYAGAIN for a moment, or a
#    write pause longer than command_timeout, may give the one WARNING of an
#    unavailable node); the calls that failed open are counted, not asserted;
#  - the seed killed: sessions that know the slot map go on, new ones run
#    without the cache until it is back;
#  - cache_invalidate of a pattern over several SCAN pages on each master,
#    the masters scanned at the same time.
#
# Nothing waits a fixed time: each step polls with a generous bound that
# only catches hangs.  How long things took is printed with note().

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use CacheasideNode;
use RedisServer;

my @servers = map {
	RedisServer->new(
		name => "node$_",
		cluster => 1,
		extra_args => [
			'--cluster-node-timeout' => '1000',
			'--repl-diskless-sync-delay' => '0',
			'--cluster-require-full-coverage' => 'yes'
		])
} 1 .. 6;
my @pairs = RedisServer::create_cluster_with_replicas(@servers);
my @masters = map { $_->[0] } @pairs;
note 'masters: ' . join(' ', map { $_->port } @masters);

my $retry_interval = 200;
my $node = cacheaside_node(
	'clfail',
	"shared_preload_libraries = 'cacheaside'\n"
	  . "cacheaside.host = '127.0.0.1'\ncacheaside.port = "
	  . $masters[0]->port . "\n"
	  . "cacheaside.retry_interval = $retry_interval\n"
	  . "cacheaside.connect_timeout = 1000\ncacheaside.command_timeout = 2000\n"
);
my $rows = create_two_rows($node);
my $dboid = $node->safe_psql('postgres',
	'SELECT oid FROM pg_database WHERE datname = current_database()');
my $prefix = "cacheaside:${dboid}:e:";
my $query = 'SELECT * FROM t ORDER BY id';
my $probe_query = 'SELECT * FROM t ORDER BY id, v';
my $direct = "SELECT json_agg(q) FROM ($query) q";

# the running server that is the master of a key's slot (the others answer
# MOVED, or are down), or undef
sub master_of
{
	my ($key) = @_;
	for my $s (@servers)
	{
		next unless $s->pid;
		my ($o, $e) = $s->cli('EXISTS', "$prefix$key");
		return $s if "$o$e" =~ /^[01]$/;
	}
	return undef;
}

# does server s, a master, hold the entry of a key?
sub holds
{
	my ($s, $key) = @_;
	my ($o) = $s->cli('EXISTS', "$prefix$key");
	return $o eq '1';
}

sub is_master
{
	my ($s) = @_;
	my ($o) = $s->cli('ROLE');
	return $o =~ /^master/;
}

# is server s a replica whose link to its master is up?
sub in_step
{
	my ($s) = @_;
	my ($o) = $s->cli('INFO', 'replication');
	return $o =~ /role:slave/ && $o =~ /master_link_status:up/;
}

# does every running server see the cluster up?
sub cluster_up
{
	return !grep { scalar($_->cli('CLUSTER', 'INFO')) !~ /cluster_state:ok/ }
	  grep { $_->pid } @servers;
}

sub stat_sum
{
	my ($col) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(sum($col), 0) FROM cache_stats");
}

my @keys = map { "k$_" } 1 .. 30;
my $calls = join('', map { "SELECT cache_aside_query('$_', '$query', 600);\n" } @keys);

# --- stores and hits on every master --------------------------------------------

my ($out, $err) = ('', '');
$node->psql('postgres', $calls, stdout => \$out, stderr => \$err,
	on_error_die => 1);
is($out, join("\n", ($rows) x @keys), 'thirty calls return the rows');
is($err, '', 'without a warning');
my %key_master = map { ($_ => master_of($_)) } @keys;
is(scalar(grep { holds($key_master{$_}, $_) } @keys), 30,
	'thirty entries are stored, each on the master of its slot');
my @per_master = map { my $m = $_; scalar grep { $key_master{$_} == $m } @keys } @masters;
is(scalar(grep { $_ > 0 } @per_master), 3,
	"the entries are spread over the three masters (@per_master)");
is(scalar(grep { !is_master($_->[1]) } @pairs), 3, 'the three others are replicas');

($out, $err) = ('', '');
$node->psql('postgres', $calls, stdout => \$out, stderr => \$err,
	on_error_die => 1);
is($out, join("\n", ($rows) x @keys), 'the second calls return the rows');
is(stat_sum('hits'), '30', 'and are thirty hits');

# --- the loop of calls ------------------------------------------------------------
#
# One session calls in a loop: each round commits a new value, then calls
# ten keys twice each (a miss that stores, then a hit), and, for the slots
# of the pair under test, a probe key twice under its own SQL text.  Every
# result is compared with the same SQL run directly in that session.  The
# loop ends when done() says so after the event (at least three rounds
# later), or after a bound that only catches hangs.

my $session = $node->background_psql('postgres', on_error_stop => 0);
my $round = 0;

sub run_loop
{
	my (%p) = @_;
	my %r = (rounds => 0, wrong => 0, longest => 0, stderr => '', calls => 0);
	my $event_round;
	my $deadline = time() + 90;
	my $unavailable = stat_sum('not_stored_unavailable');
	while (1)
	{
		$round++;
		$r{rounds}++;
		if (!defined $event_round && $r{rounds} > 3)
		{
			$p{event}->();
			$event_round = $r{rounds};
			$r{event_at} = time();
		}
		$session->query_safe("UPDATE t SET v = 'v$round' WHERE id = 2");
		my $expect = $session->query_safe($direct);
		my @round_keys = map { $keys[ ($round * 7 + $_ * 3) % @keys ] } 0 .. 9;
		for my $call ((map { [ $_, $query ] } @round_keys),
			[ $p{probe}, $probe_query ])
		{
			my ($k, $q) = @$call;
			for (1 .. 2)
			{
				my $t0 = time();
				my $got = $session->query("SELECT cache_aside_query('$k', '$q', 600)");
				my $took = time() - $t0;
				$r{calls}++;
				$r{longest} = $took if $took > $r{longest};
				if ($got ne $expect)
				{
					$r{wrong}++;
					diag("round $round, key $k: got $got, expected $expect");
				}
			}
		}
		$r{stderr} .= $session->{stderr};
		$session->{stderr} = '';
		if (defined $event_round && !defined $r{done_at} && $p{done}->())
		{
			$r{done_at} = time();
			$r{done_round} = $r{rounds};
		}
		last if defined $r{done_at} && $r{rounds} >= $r{done_round} + 3;
		last if time() > $deadline;
	}
	$r{failed_open} = stat_sum('not_stored_unavailable') - $unavailable;
	return %r;
}

# --- a master killed -------------------------------------------------------------
#
# The second master (not the seed) dies; the cluster promotes its replica
# after cluster-node-timeout and an election.  Caching of its slots
# resumes once a session stores an entry of them on the promoted replica
# and hits it.

my ($victim, $promoted) = @{ $pairs[1] };
my @victim_keys = grep { $key_master{$_} == $victim } @keys;
my $probe = 'probe1';
$probe = "probe" . (substr($probe, 5) + 1) while master_of($probe) != $victim;
note "killing master " . $victim->port . ", its replica " . $promoted->port
  . " is to be promoted; probe key $probe";

my $log_offset = -s $node->logfile;
my ($promoted_at, $inv_out, $inv_err, $inv_before_promotion);
my $hits_before;
my %r = run_loop(
	probe => $probe,
	event => sub {
		$victim->crash;

		# cache_invalidate while the victim's slots have no master
		my $was_replica = !is_master($promoted);
		($inv_out, $inv_err) = ('', '');
		$node->psql('postgres', "SELECT cache_invalidate('nosuch*')",
			stdout => \$inv_out, stderr => \$inv_err);
		$inv_before_promotion = $was_replica && !is_master($promoted);
	},
	done => sub {
		return 0 unless is_master($promoted);
		$promoted_at //= time();
		# the probe stored on the promoted replica, then a hit of it
		return 0 unless holds($promoted, $probe);
		my $h = $node->safe_psql('postgres',
			"SELECT hits FROM cache_stats WHERE query = '$probe_query'");
		my $hit = defined $hits_before && $h > $hits_before;
		$hits_before = $h;
		return $hit;
	});
ok(defined $r{done_at}, 'caching resumed on the promoted replica (probe stored there, then hit)');
is($r{wrong}, 0, "every call returned the rows as last committed ($r{calls} calls in $r{rounds} rounds)");
my @warnings = ($r{stderr} =~ /WARNING:/g);
is(scalar @warnings, 1, 'one WARNING for the episode') or diag($r{stderr});
like($r{stderr},
	qr/WARNING:  cacheaside: a Redis Cluster node is unavailable, queries on its slots run without the cache\nDETAIL:  .*127\.0\.0\.1:${\ $victim->port}/,
	'naming the killed master');
unlike($r{stderr}, qr/ERROR/, 'without an error');
my $log = substr(slurp_file($node->logfile), $log_offset);
my @logged = ($log =~ /WARNING:  cacheaside: a Redis Cluster node is unavailable/g);
is(scalar @logged, 1, 'the server log has the one WARNING');
like($log,
	qr/LOG:  cacheaside: Redis Cluster node 127\.0\.0\.1:${\ $victim->port} serves no slot any more, caching of its former slots resumes on their new masters/,
	'and a LOG line when the killed master\'s slots have a new master');
note sprintf(
	"killed master: promotion seen after %.2f s, caching resumed after %.2f s, "
	  . "longest call %.3f s, %d calls failed open of %d",
	($promoted_at // time()) - $r{event_at}, ($r{done_at} // time()) - $r{event_at},
	$r{longest}, $r{failed_open}, $r{calls});
ok($r{failed_open} > 0, "calls on the killed master's slots failed open ($r{failed_open})");

SKIP:
{
	skip 'the replica was promoted before cache_invalidate ran', 2
	  unless $inv_before_promotion;
	like($inv_err, qr/ERROR:  cacheaside could not use Redis/,
		'cache_invalidate while slots have no master fails');
	like($inv_err, qr/DETAIL:  .*127\.0\.0\.1:${\ $victim->port}/, 'naming the master');
}

# cache_invalidate after the failover: on the new master too
ok(holds($promoted, $probe), 'the probe entry is on the new master');
my $total = 0;
$total += scalar $_->cli('DBSIZE') foreach grep { is_master($_) } grep { $_->pid } @servers;
ok($total > 0, "entries on the masters ($total)");
is($node->safe_psql('postgres', "SELECT cache_invalidate('$probe')"), '1',
	'cache_invalidate of a key of the promoted slots removes it');
ok(!holds($promoted, $probe), 'from the new master');
is($node->safe_psql('postgres', "SELECT cache_invalidate('*')"), $total - 1,
	'cache_invalidate of a pattern removes on every master, the new one included');
is(join(' ', map { scalar $_->cli('DBSIZE') } grep { is_master($_) } grep { $_->pid } @servers),
	'0 0 0', 'no entry is left on any master');

# --- the killed master restarted: a replica -----------------------------------------

$victim->start;
ok(wait_for('the restarted master to become a replica in sync', 60, sub { in_step($victim) }),
	'the restarted master comes back as a replica of the promoted one');

# every node sees the cluster up again (a restarted node says it is down
# for a while: failing over to it before then makes it refuse commands)
ok(wait_for('every node to see the cluster up', 60, \&cluster_up),
	'every node sees the cluster up');

my $now = $node->safe_psql('postgres', $direct);
($out, $err) = ('', '');
$node->psql('postgres', $calls . $calls, stdout => \$out, stderr => \$err,
	on_error_die => 1);
is($out, join("\n", ($now) x (2 * @keys)), 'calls return the rows');
is($err, '', 'without a warning');

# --- graceful failovers ------------------------------------------------------------
#
# CLUSTER FAILOVER on a replica: its master stops taking writes, the replica
# catches up and takes over, and the old master, still running, becomes
# its replica and answers MOVED to the commands of a connection it still
# has.  First back to the restarted master (the session holds a
# connection to the promoted replica), then the seed's pair.

# the redirections a server answered (INFO errorstats)
sub moved_count
{
	my ($s) = @_;
	return $s->cli('INFO', 'errorstats') =~ /errorstat_MOVED:count=(\d+)/ ? $1 : 0;
}

# Wait until a replica is in step with its master and every running node
# sees the cluster up.  A replica that has not finished its first
# synchronization with a new master counts as disconnected since forever
# and does not stand for election (cluster-replica-validity-factor), and a
# node that still sees the cluster down answers CLUSTERDOWN: each event
# below starts from a settled cluster.
sub settled
{
	my ($replica, $what) = @_;
	return wait_for(
		"$what: the replica in step, every node seeing the cluster up", 60,
		sub { in_step($replica) && cluster_up() });
}

sub graceful
{
	my ($replica, $master, $what) = @_;
	ok(settled($replica, $what), "$what: the cluster is settled first");
	my $probe = 'g1';
	$probe = "g" . (substr($probe, 1) + 1) while master_of($probe) != $master;
	my $hits;
	my $moved = moved_count($master);
	my $asked;
	my %g = run_loop(
		probe => $probe,
		event => sub { $replica->cli('CLUSTER', 'FAILOVER'); $asked = time(); },
		done => sub {
			# a replica not yet in step lets the request lapse: ask again
			if (!is_master($replica) && time() - $asked > 15)
			{
				$replica->cli('CLUSTER', 'FAILOVER');
				$asked = time();
			}
			return 0 unless is_master($replica) && !is_master($master);
			return 0 unless holds($replica, $probe);
			my $h = $node->safe_psql('postgres',
				"SELECT hits FROM cache_stats WHERE query = '$probe_query'");
			my $hit = defined $hits && $h > $hits;
			$hits = $h;
			return $hit;
		});
	ok(defined $g{done_at}, "$what: caching goes on on the new master");
	ok(moved_count($master) > $moved,
		"$what: the demoted master answered MOVED on the session's connection");
	is($g{wrong}, 0, "$what: every call returned the rows as last committed ($g{calls} calls)");
	# As a rule without a WARNING.  On a loaded machine a node can still
	# answer CLUSTERDOWN (or TRYAGAIN) for a moment while the cluster agrees
	# on the new master, or the write pause outlasts command_timeout: those
	# calls fail open under the WARNING of an unavailable node (README).  A
	# redirection not followed, or anything else, is a failure.
	unlike($g{stderr}, qr/ERROR/, "$what: without an error") or diag($g{stderr});
	my @warned = ($g{stderr} =~ /WARNING:  (.*)\nDETAIL:  (.*)/g);
	my $nwarned = () = $g{stderr} =~ /WARNING:/g;
	my @other;
	push @other, 'a WARNING without a DETAIL' if $nwarned != @warned / 2;
	while (my ($msg, $detail) = splice(@warned, 0, 2))
	{
		push @other, "$msg / $detail"
		  unless $msg =~ /^cacheaside: a Redis Cluster node is unavailable/
		  && $detail =~ /answered: (CLUSTERDOWN|TRYAGAIN)|timed out after/;
	}
	is(join("\n", @other), '',
		"$what: no WARNING but that of a node refusing for a moment")
	  or diag($g{stderr});
	note "$what: $nwarned WARNING(s) of a node refusing for a moment: $g{stderr}"
	  if $nwarned;
	note sprintf("%s: caching on the new master after %.2f s, longest call %.3f s, "
		  . "%d calls failed open of %d",
		$what, ($g{done_at} // time()) - $g{event_at}, $g{longest},
		$g{failed_open}, $g{calls});
	return;
}

graceful($victim, $promoted, 'failover back to the restarted master');
graceful($pairs[0][1], $pairs[0][0], "failover of the seed's pair");

$session->quit;

# a new session: the seed is a replica now, it redirects
($out, $err) = ('', '');
$node->psql('postgres', $calls . $calls, stdout => \$out, stderr => \$err,
	on_error_die => 1);
is($out, join("\n", ($node->safe_psql('postgres', $direct)) x (2 * @keys)),
	'a new session, whose seed is now a replica, gets the rows');
is($err, '', 'without a warning');
is( $node->safe_psql('postgres', "SELECT cache_invalidate('k*')"),
	'30', 'and cache_invalidate finds the thirty entries on the masters');

# --- the seed killed -------------------------------------------------------------------
#
# The seed made a master again (a graceful failover), then killed: a
# session that knows the slot map goes on with the other masters and
# caches on the replica promoted in its place; a new session, which can
# only ask the seed for the map, runs without the cache until it is back.

$session = $node->background_psql('postgres', on_error_stop => 0);
my ($seed, $seed_replica) = @{ $pairs[0] };
graceful($seed, $seed_replica, 'failover back to the seed');
ok(settled($seed_replica, 'the seed killed'),
	"the seed's replica, just demoted, is in step before the seed is killed");
my $seed_probe = 's1';
$seed_probe = "s" . (substr($seed_probe, 1) + 1) while master_of($seed_probe) != $seed;
$log_offset = -s $node->logfile;
my $seed_hits;
%r = run_loop(
	probe => $seed_probe,
	event => sub { $seed->crash },
	done => sub {
		return 0 unless is_master($seed_replica) && holds($seed_replica, $seed_probe);
		my $h = $node->safe_psql('postgres',
			"SELECT hits FROM cache_stats WHERE query = '$probe_query'");
		my $hit = defined $seed_hits && $h > $seed_hits;
		$seed_hits = $h;
		return $hit;
	});
ok(defined $r{done_at}, 'the seed killed: caching resumes on its promoted replica')
  or diag("the replica's log:\n"
	  . join('', grep { /failover|election|vote|sync/i } split /^/, slurp_file($seed_replica->logfile)));
is($r{wrong}, 0, "the seed killed: every call returned the rows as last committed ($r{calls} calls)");
@warnings = ($r{stderr} =~ /WARNING:/g);
is(scalar @warnings, 1, 'the seed killed: one WARNING') or diag($r{stderr});
like($r{stderr}, qr/DETAIL:  .*127\.0\.0\.1:${\ $seed->port}/, 'naming the seed');
$log = substr(slurp_file($node->logfile), $log_offset);
like($log,
	qr/LOG:  cacheaside: Redis Cluster node 127\.0\.0\.1:${\ $seed->port} serves no slot any more/,
	'a LOG line when its slots have a new master');
note sprintf("seed killed: caching resumed after %.2f s, longest call %.3f s, "
	  . "%d calls failed open of %d",
	($r{done_at} // time()) - $r{event_at}, $r{longest}, $r{failed_open}, $r{calls});
$session->quit;

# a key never stored: a warm near-cache copy of an entry on a master that is
# still up would be a hit that never asks Redis (and rightly so)
($out, $err) = ('', '');
$node->psql('postgres', "SELECT cache_aside_query('fresh1', '$query', 600)",
	stdout => \$out, stderr => \$err, on_error_die => 1);
is($out, $node->safe_psql('postgres', $direct),
	'a new session while the seed is down gets the rows');
like($err, qr/WARNING:  cacheaside: Redis is unavailable, queries run without the cache\nDETAIL:  .*${\ $seed->port}/,
	'without the cache, with the WARNING of an unavailable Redis naming the seed');

$seed->start;
ok(settled($seed, 'the seed restarted'), 'the seed comes back as a replica');

# --- cache_invalidate scans the masters at the same time ------------------------------
#
# 1500 keys of the database's namespace on each master (several SCAN pages
# each), removed by one pattern from a session connected to every master:
# its rounds go to the three at once.

$node->safe_psql('postgres', "SELECT cache_invalidate('*')");
my @now_masters = grep { $_->pid && is_master($_) } @servers;
my $bulk = 0;
for my $m (@now_masters)
{
	my $t = 0;
	$t++ while master_of("bulk{t$t}0") != $m;
	my $resp = '';
	for my $i (1 .. 1500)
	{
		my $k = "${prefix}bulk{t$t}$i";
		$resp .= "*3\r\n\$3\r\nSET\r\n\$" . length($k) . "\r\n$k\r\n\$1\r\nv\r\n";
	}
	IPC::Run::run([ $ENV{REDIS_CLI} // 'redis-cli', '-p', $m->port, '--pipe' ],
		'<', \$resp, '>', '/dev/null');
	$bulk += 1500;
}
is(join(' ', map { scalar $_->cli('DBSIZE') } @now_masters), '1500 1500 1500',
	'1500 keys on each master');
my $inv = $node->background_psql('postgres', on_error_stop => 0);
$inv->query_safe($calls);
is($inv->query_safe("SELECT cache_invalidate('bulk*')"), $bulk,
	'cache_invalidate of a pattern removes them all, scanning the masters at the same time');
is($inv->query_safe("SELECT cache_invalidate('k*')"), '30',
	'and the entries of the calls next');
is(join(' ', map { scalar $_->cli('DBSIZE') } @now_masters), '0 0 0', 'nothing is left');
$inv->quit;

done_testing();
