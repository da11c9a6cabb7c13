# Copyright: cacheaside contributors
#
# 013_sentinel.pl: Redis Sentinel.  A master, one replica and three
# Sentinels on free loopback ports; cacheaside finds the master through the
# Sentinels (cacheaside.host and cacheaside.port point at nothing).
#
#  - entries are stored on the master the Sentinels name;
#  - a Sentinel down: the next one in the list answers;
#  - a wrong master name: calls return their rows with one WARNING that
#    names the problem;
#  - a failover ordered by SENTINEL FAILOVER (the master stays up and is
#    demoted): a session connected to the old master follows the role
#    change;
#  - the master killed: every call returns the right rows throughout, and
#    caching resumes on the promoted replica.
#
# Nothing waits a fixed time: each step polls with a generous bound that
# only catches hangs.  How long the failover took is printed with note().

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use CacheasideNode;
use RedisServer;

my $master = RedisServer->new(name => 'master');
my $replica = RedisServer->new(
	name => 'replica',
	extra_args => [ '--replicaof', $master->host, $master->port ]);

ok( wait_for(
		'the replica to sync', 60,
		sub { $replica->cli('INFO', 'replication') =~ /master_link_status:up/ }
	),
	'the replica is in sync');

my $sentinel_conf =
	"sentinel monitor mymaster 127.0.0.1 "
  . $master->port . " 2\n"
  . "sentinel down-after-milliseconds mymaster 1000\n"
  . "sentinel failover-timeout mymaster 10000\n"
  . "sentinel parallel-syncs mymaster 1\n";
my @sentinels = map {
	RedisServer->new(
		name => "sentinel$_",
		config => $sentinel_conf,
		sentinel => 1)
} 1 .. 3;

# each Sentinel must know the replica and the two others before a
# failover can be agreed on
foreach my $s (@sentinels)
{
	ok( wait_for(
			'a Sentinel to discover the others', 60,
			sub {
				my $r = $s->cli('SENTINEL', 'replicas', 'mymaster');
				my $o = $s->cli('SENTINEL', 'sentinels', 'mymaster');
				my @others = ($o =~ /^runid$/mg);
				return $r =~ /\Q${\ $replica->port}\E/ && @others == 2;
			}),
		'Sentinel on port ' . $s->port . ' knows the replica and the others');
}

my $sentinel_list = join(', ', map { '127.0.0.1:' . $_->port } @sentinels);
my $nowhere = PostgreSQL::Test::Cluster::get_free_port();
my $node = cacheaside_node(
	'sentinel',
	"shared_preload_libraries = 'cacheaside'\n"
	  . "cacheaside.host = '127.0.0.1'\ncacheaside.port = $nowhere\n"
	  . "cacheaside.sentinels = '$sentinel_list'\n"
	  . "cacheaside.sentinel_master = 'mymaster'\n"
	  . "cacheaside.retry_interval = 200\n"
	  . "cacheaside.connect_timeout = 1000\ncacheaside.command_timeout = 1000\n"
);
my $rows = create_two_rows($node);
my $dboid = $node->safe_psql('postgres',
	'SELECT oid FROM pg_database WHERE datname = current_database()');
my $prefix = "cacheaside:${dboid}:e:";

sub call_sql
{
	my ($key) = @_;
	return "SELECT cache_aside_query('$key', 'SELECT * FROM t ORDER BY id', 600)";
}

# does SERVER hold KEY?  False also when redis-cli fails (during a
# failover a server may close the connection): for polling loops
sub holds
{
	my ($server, $key) = @_;
	my ($out, $err, $status) = $server->cli('EXISTS', $key);
	return $status == 0 && $out eq '1';
}

# a call in a new session: (rows, stderr)
sub call
{
	my ($key, $pre) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', ($pre // '') . call_sql($key) . ';',
		stdout => \$out, stderr => \$err, on_error_die => 1);
	return ($out, $err);
}

# --- the master the Sentinels name ------------------------------------------

my ($out, $err) = call('k1');
is($out, $rows, 'a call through the Sentinels returns the rows');
is($err, '', 'without a warning');
is($master->cli('EXISTS', "${prefix}k1"), '1',
	'the entry is stored on the master');
is($node->safe_psql('postgres',
		"SELECT hits FROM cache_stats WHERE query = 'SELECT * FROM t ORDER BY id'"),
	'0', 'no hit yet');
($out, $err) = call('k1');
is($out, $rows, 'the second call returns the rows');
is($node->safe_psql('postgres',
		"SELECT hits FROM cache_stats WHERE query = 'SELECT * FROM t ORDER BY id'"),
	'1', 'and is a hit');

# --- a wrong master name -------------------------------------------------------

($out, $err) = call('k2', "SET cacheaside.sentinel_master = 'nosuch';\n");
is($out, $rows, 'with a wrong master name the call returns the rows');
like(
	$err,
	qr/WARNING:  cacheaside: Redis is unavailable, queries run without the cache\nDETAIL:  no Redis Sentinel of cacheaside.sentinels knows a master named "nosuch" \(3 of 3 answered that they do not, 0 did not answer\)/,
	'and warns that no Sentinel knows the master');
is($master->cli('EXISTS', "${prefix}k2"), '0', 'nothing is stored');

($out, $err) = call('k2', "SET cacheaside.sentinel_master = '';\n");
like($err,
	qr/DETAIL:  cacheaside.sentinels is set but cacheaside.sentinel_master is empty/,
	'an empty master name is named in the warning');

$err = '';
$node->psql('postgres', "SET cacheaside.sentinels = 'localhost'",
	stderr => \$err);
like($err,
	qr/ERROR:  invalid value for parameter "cacheaside.sentinels": "localhost"\nDETAIL:  cacheaside.sentinels: each address must be host:port./,
	'a malformed Sentinel list is refused by SET');

# --- a Sentinel down -----------------------------------------------------------

$sentinels[0]->stop;
($out, $err) = call('k3');
is($out, $rows, 'with the first Sentinel down the call returns the rows');
is($err, '', 'without a warning');
is($master->cli('EXISTS', "${prefix}k3"), '1',
	'the entry is stored: the next Sentinel answered');
$sentinels[0]->start;

# --- every Sentinel down ---------------------------------------------------------

$_->stop foreach @sentinels;
($out, $err) = call('k4');
is($out, $rows, 'with every Sentinel down the call returns the rows');
like($err,
	qr/DETAIL:  no Redis Sentinel of cacheaside.sentinels answered; the last: could not connect to Redis Sentinel at 127.0.0.1:\d+: Connection refused/,
	'and warns that no Sentinel answered');
$_->start foreach @sentinels;
ok( wait_for(
		'the Sentinels to name the master again', 60,
		sub {
			my ($o) = call('k4');
			return holds($master, "${prefix}k4");
		}),
	'caching resumes once the Sentinels are back');

# --- a failover ordered while the master is up ---------------------------------------

# a session connected to the master before the failover
my $s = $node->background_psql('postgres', on_error_stop => 0);
is($s->query_safe(call_sql('g1')), $rows, 'a session calls through the master');
is($master->cli('EXISTS', "${prefix}g1"), '1', 'stored on the master');

# wait until the Sentinels can agree (they see each other again)
foreach my $sen (@sentinels)
{
	ok( wait_for(
			'a Sentinel to see the others again', 60,
			sub {
				my @others = ($sen->cli('SENTINEL', 'sentinels', 'mymaster') =~ /^runid$/mg);
				return @others == 2;
			}),
		'Sentinel on port ' . $sen->port . ' sees the others again');
}
my $t0 = time();
$sentinels[1]->cli('SENTINEL', 'FAILOVER', 'mymaster');
ok( wait_for(
		'the replica to be promoted', 120,
		sub {
			my ($role) = $replica->cli('ROLE');
			my ($addr) = $sentinels[1]->cli('SENTINEL', 'get-master-addr-by-name', 'mymaster');
			return $role =~ /^master/ && $addr =~ /\b${\ $replica->port}\b/;
		}),
	'SENTINEL FAILOVER promotes the replica');
note sprintf('failover ordered: the Sentinels name the new master after %.1f s', time() - $t0);

# the session's next calls: right rows throughout, and it stores on the
# new master within a few back-off intervals
my $i = 0;
my $resumed = wait_for(
	'the session to store on the new master', 60,
	sub {
		$i++;
		my $res = $s->query(call_sql("g2_$i"));
		die "wrong rows from the session after the failover: $res" if $res ne $rows;
		return holds($replica, "${prefix}g2_$i");
	});
ok($resumed, 'a session connected to the old master follows the failover');
note "the session stored on the new master at its call $i after the failover";
$s->quit;

# --- the master killed ------------------------------------------------------------------

# now $replica is the master and $master its replica (the Sentinels
# reconfigured the demoted master)
my ($new_master, $old_master) = ($replica, $master);
ok( wait_for(
		'the demoted master to replicate', 60,
		sub { $old_master->cli('INFO', 'replication') =~ /master_link_status:up/ }
	),
	'the demoted master replicates from the new one');
foreach my $sen (@sentinels)
{
	ok( wait_for(
			'a Sentinel to see the demoted master as a replica', 60,
			sub {
				my @others = ($sen->cli('SENTINEL', 'sentinels', 'mymaster') =~ /^runid$/mg);
				return $sen->cli('SENTINEL', 'replicas', 'mymaster') =~ /^${\ $old_master->port}$/m
				  && @others == 2;
			}),
		'Sentinel on port ' . $sen->port . ' sees the demoted master as a replica');
}

$s = $node->background_psql('postgres', on_error_stop => 0);
is($s->query_safe(call_sql('h0')), $rows, 'a session stores on the new master');
is($new_master->cli('EXISTS', "${prefix}h0"), '1', 'stored there');

$t0 = time();
$new_master->stop;
my ($calls, $longest, $wrong, $j) = (0, 0, 0, 0);
$resumed = wait_for(
	'caching to resume on the promoted replica', 120,
	sub {
		$j++;
		my $c0 = time();
		my $res = $s->query(call_sql("h_$j"));
		my $took = time() - $c0;
		$longest = $took if $took > $longest;
		$calls++;
		$wrong++ if $res ne $rows;
		return $old_master->ping
		  && holds($old_master, "${prefix}h_$j");
	});
ok($resumed, 'caching resumes on the promoted replica after the master died');
is($wrong, 0, 'every call returned the right rows during the failover');
note sprintf('master killed: caching resumed after %.1f s, %d calls, the longest %.3f s',
	time() - $t0, $calls, $longest);
$s->quit;

$node->stop;
done_testing();
