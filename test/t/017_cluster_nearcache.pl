# Copyright: cacheaside contributors
#
# 017_cluster_nearcache.pl: the near-cache in front of a Redis Cluster of
# three masters (redis-cli --cluster create, no replicas).  The tracker
# follows every master: one tracking, subscribed connection on each.
#
#  - the tracker is in step with the three masters, and near hits happen
#    on keys of every master;
#  - a change made in Redis by hand (DEL, SET, EXPIRE of an entry key on
#    its master) stops its near copy from being served;
#  - a tracking connection killed (CLIENT KILL on one master): no near hit
#    until the tracker is in step again, then near hits again;
#  - slots moved by hand to another master (SETSLOT, MIGRATE): no near
#    copy is kept of what ASK gave during the migration; once the slot is
#    assigned the near-cache is flushed, no copy survives, and the new
#    master's changes are heard;
#  - many backends hitting, storing and invalidating at once (pgbench):
#    no error, and afterwards every key gives the database's rows;
#  - a master killed: calls on its keys return their rows (fail open),
#    the other masters' keys are still served from Redis, no near hit
#    while a master is not followed; once it is back, near hits resume;
#  - a fake cluster node whose slot map names 17 masters (more than the
#    tracker follows), or a map redis.c refuses: the tracker logs why and
#    the near-cache is not used.
#
# Nothing waits a fixed time: each step polls with a generous bound that
# only catches hangs.

use strict;
use warnings;

use File::Basename qw(dirname);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use CacheasideNode;
use RedisServer;

my @masters = map { RedisServer->new(name => "node$_", cluster => 1) } 1 .. 3;
RedisServer::create_cluster(@masters);

my $node = cacheaside_node(
	'clnear',
	"shared_preload_libraries = 'cacheaside'\n"
	  . "cacheaside.host = '127.0.0.1'\ncacheaside.port = "
	  . $masters[0]->port . "\n"
	  . "cacheaside.retry_interval = 200\nmax_connections = 40\n"
	  . "cacheaside.connect_timeout = 1000\ncacheaside.command_timeout = 2000\n"
);
my $rows = create_two_rows($node);
my $dboid = $node->safe_psql('postgres',
	'SELECT oid FROM pg_database WHERE datname = current_database()');
my $prefix = "cacheaside:${dboid}:e:";
my $q = 'SELECT * FROM t ORDER BY id';

# test_near_sync(): wait until the tracker has applied every change made
# in Redis before the call (as in 012_nearcache.pl)
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

# one call in its own session: (its JSON, 'local'|'redis'|'miss')
sub call
{
	my ($key) = @_;
	my ($out, $err) = ('', '');
	$node->psql(
		'postgres', qq{
		SELECT coalesce(sum(hits), 0) h0, coalesce(sum(local_hits), 0) l0
			FROM cache_stats WHERE query = '$q' \\gset
		SELECT cache_aside_query('$key', '$q')::text || '|' ||
			(SELECT CASE WHEN s.l > :l0 THEN 'local' WHEN s.h > :h0 THEN 'redis' ELSE 'miss' END
			 FROM (SELECT coalesce(sum(hits), 0) h, coalesce(sum(local_hits), 0) l
					  FROM cache_stats WHERE query = '$q') s);
	}, stdout => \$out, stderr => \$err, on_error_die => 1);
	my ($json, $level) = split /\|/, $out;
	return ($json, $level, $err);
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
	my ($key) = @_;
	level($key);
	sync();
	level($key);
	return level($key);
}

# wait (up to 30 s) until the tracker is in step with every master again
sub wait_synced
{
	return wait_for('the tracker in step', 30,
		sub { status(q{local_cache_synced > clock_timestamp() - interval '1 s'}) eq 't' });
}

# the index in @masters of the master that owns an entry key's slot (the
# others answer MOVED)
sub owner_of
{
	my ($key) = @_;
	for my $i (0 .. $#masters)
	{
		my ($o, $e) = $masters[$i]->cli('EXISTS', "$prefix$key");
		return $i if "$o$e" !~ /MOVED/;
	}
	return -1;
}

# the tracker's connection on master i: its CLIENT LIST line, or ''
sub tracker_client
{
	my ($i) = @_;
	my ($list) = $masters[$i]->cli('CLIENT', 'LIST');
	my ($line) = grep { /name=cacheaside-tracker / } split /\n/, $list;
	return $line // '';
}

# ---------------------------------------------------------------------------
note 'the tracker follows every master';

ok(wait_synced(), 'the tracker is in step with the cluster');
for my $i (0 .. 2)
{
	like(tracker_client($i), qr/flags=\S*t\S* .* sub=1 /,
		"master $i has a tracking, subscribed connection named cacheaside-tracker");
}
is(status('local_cache'), 't', 'cache_status shows the near-cache on');

# two keys per master
my %by_master;
for my $n (1 .. 60)
{
	my $m = owner_of("k$n");
	push @{ $by_master{$m} }, "k$n" if @{ $by_master{$m} // [] } < 2;
	last if 3 == grep { @{ $by_master{$_} // [] } == 2 } 0 .. 2;
}
my @keys = map { @{ $by_master{$_} } } 0 .. 2;
is(scalar @keys, 6, 'two keys on each of the three masters');

for my $i (0 .. 2)
{
	for my $k (@{ $by_master{$i} })
	{
		is(warm($k), 'local', "a warm entry on master $i ($k) is a local hit");
	}
}
my ($json) = call($keys[0]);
is($json, $rows, 'a local hit returns the rows');

# ---------------------------------------------------------------------------
note 'changes made in Redis by hand, on each master';

for my $i (0 .. 2)
{
	my ($kdel, $kset) = @{ $by_master{$i} };
	is($masters[$i]->cli('DEL', "$prefix$kdel"), '1', "DEL of $kdel on master $i");
	$masters[$i]->cli('SET', "$prefix$kset", 'not an entry');
	ok(sync(), 'the tracker is in step after the changes');
	my ($j1, $l1) = call($kdel);
	is($l1, 'miss', "the deleted entry on master $i is a miss, not a near hit");
	is($j1, $rows, 'with the rows');
	my ($j2, $l2) = call($kset);
	isnt($l2, 'local', "the entry overwritten on master $i is not served from the near-cache");
	is($j2, $rows, 'and the rows are right');
}

for my $i (0 .. 2)
{
	my $k = $by_master{$i}[0];
	is(warm($k), 'local', "warm again on master $i");
	is($masters[$i]->cli('PEXPIRE', "$prefix$k", '1'), '1', "PEXPIRE on master $i");
	ok(sync(), 'the tracker is in step');
	is(level($k), 'miss', "an expiry set by hand on master $i ends the near copy");
}

# ---------------------------------------------------------------------------
note 'a tracking connection killed';

is(warm($_), 'local', "$_ warm") foreach @keys;
my ($old_id) = tracker_client(1) =~ /\bid=(\d+)/;
ok($old_id, "the tracker's connection on master 1 (id $old_id)");
is($masters[1]->cli('CLIENT', 'KILL', 'ID', $old_id), '1', 'CLIENT KILL of it');
ok( wait_for(
		'the tracker subscribed again on master 1', 30,
		sub {
			my ($id) = tracker_client(1) =~ /\bid=(\d+) .* sub=1 /;
			return defined $id && $id ne $old_id;
		}),
	'the tracker opens a new tracking connection on master 1');
# the near-cache was flushed (and out of step) before that connection was
# opened: no copy of any master's keys is left
for my $i (0 .. 2)
{
	is(level($by_master{$i}[0]), 'redis',
		"a key of master $i is a Redis hit: no near hit until in step again");
}
ok(wait_synced(), 'in step again');
is(warm($_), 'local', "$_ is a local hit again") foreach @keys;

# ---------------------------------------------------------------------------
note 'slots moved to another master';

my $kmove = $by_master{0}[0];
my $slot = $masters[0]->cli('CLUSTER', 'KEYSLOT', "$prefix$kmove");
my @ids = map { scalar $_->cli('CLUSTER', 'MYID') } @masters;
is(warm($kmove), 'local', "$kmove is a local hit, on master 0");
$masters[1]->cli('CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $ids[0]);
$masters[0]->cli('CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $ids[1]);
my @in_slot = split /\n/, $masters[0]->cli('CLUSTER', 'GETKEYSINSLOT', $slot, '100');
$masters[0]->cli('MIGRATE', $masters[1]->host, $masters[1]->port, '', '0', '5000',
	'KEYS', @in_slot);
# while the slot migrates, its keys are read through ASK from a node the
# slot map does not name for them yet (the tracker follows the map's
# masters): no near copy is kept of what ASK gave
ok(sync(), 'the tracker is in step while the slot migrates');
is(level($kmove), 'redis', "$kmove is read through ASK: a Redis hit");
is(level($kmove), 'redis', 'and again: no near copy was kept of it');
$_->cli('CLUSTER', 'SETSLOT', $slot, 'NODE', $ids[1]) foreach @masters;
ok(sync(), 'the tracker is in step after the move');
is(owner_of($kmove), 1, "$kmove now lives on master 1");
my ($jm, $lm) = call($kmove);
isnt($lm, 'local', 'it is not served from the near-cache after the move');
is($jm, $rows, 'with the rows');
ok(wait_for('a LOG line on the moved slots', 60,
	sub { slurp_file($node->logfile) =~ /DETAIL:  the slot map of the Redis Cluster changed/ }),
	'the tracker says why it started again');
# the tracker reconnects to every master after that line, a moment later
ok(wait_for('the tracker subscribed on master 1 again', 60,
		sub { tracker_client(1) =~ / sub=1 / }),
	'master 1 is still followed')
  or diag(tracker_client(1));
is(warm($kmove), 'local', 'a copy of its entry from its new master is a local hit');
is($masters[1]->cli('DEL', "$prefix$kmove"), '1', 'DEL on the new master');
ok(sync(), 'the tracker is in step');
is(level($kmove), 'miss', "the new master's change is heard: a miss");

# ---------------------------------------------------------------------------
note 'many backends hitting, storing and invalidating at once';

near_cache_pgbench($node, 30);
my @spread = map { scalar $_->cli('DBSIZE') } @masters;
is(scalar(grep { $_ > 0 } @spread), 3, "entries on the three masters (@spread)");

# ---------------------------------------------------------------------------
note 'a master killed';

is(warm($_), 'local', "$_ warm") foreach ($by_master{1}[1], $by_master{2}[1]);
my $dead_key = $by_master{2}[1];
my $live_key = $by_master{1}[1];
$masters[2]->stop;
ok(near_cache_off_wait($node), 'the near-cache is not used any more');
my ($jd, $ld, $ed) = call($dead_key);
is($jd, $rows, "a key of the dead master returns the rows");
is($ld, 'miss', 'from the database');
like($ed, qr/WARNING:  cacheaside: a Redis Cluster node is unavailable/,
	'with the WARNING of a node down');
my ($jl, $ll, $el) = call($live_key);
is($jl, $rows, 'a key of a live master returns the rows');
is($ll, 'redis', 'served from Redis, not from the near-cache');
is($el, '', 'without a warning');
is(level($live_key), 'redis', 'again from Redis: no near copy while a master is not followed');

$masters[2]->start;
# the restarted master answers CLUSTERDOWN until it has heard from the
# others, and comes back empty
ok( wait_for(
		'the restarted master to cache again', 60,
		sub {
			call($dead_key);
			my ($o) = $masters[2]->cli('EXISTS', "$prefix$dead_key");
			return $o eq '1';
		}),
	'caching resumes on the restarted master');
ok(wait_synced(), 'in step again once the master is back');
is(warm($live_key), 'local', 'a key of a live master is a local hit again');
is(warm($dead_key), 'local', 'and one of the restarted master');

# ---------------------------------------------------------------------------
note 'slot maps the tracker does not follow (a fake cluster node)';

# test/fake/fake_redis.py answers CLUSTER SLOTS as told by its mode file:
# with more masters than the tracker follows, or a map redis.c refuses.
# The tracker says why in a LOG line and the near-cache is not used.
my $fake = dirname(__FILE__) . '/../fake/fake_redis.py';
my $fdir = PostgreSQL::Test::Utils::tempdir('fake');
my ($port_file, $mode_file) = ("$fdir/port", "$fdir/mode");

sub set_mode
{
	my ($mode) = @_;
	open(my $fh, '>', $mode_file) or die "could not write $mode_file: $!";
	print $fh "$mode\n";
	close($fh);
	return;
}

set_mode('cluster-17-masters');
my ($fake_out, $fake_err) = ('', '');
my $server = IPC::Run::start([ '/usr/bin/python3', $fake, $port_file, $mode_file ],
	'<', \undef, '>', \$fake_out, '2>', \$fake_err);
ok(wait_for('the fake server', 30, sub { -s $port_file }), 'a fake cluster node runs');
my $fport = slurp_file($port_file);
chomp $fport;
my $fnode = cacheaside_node('clnear_fake',
	"shared_preload_libraries = 'cacheaside'\n"
	  . "cacheaside.host = '127.0.0.1'\ncacheaside.port = $fport\n");
my %fake_modes = (
	'cluster-17-masters' =>
	  qr/DETAIL:  the Redis Cluster has 17 masters, more than the 16 the near-cache can follow/,
	'cluster-bad-range' =>
	  qr/DETAIL:  Redis Cluster node 127\.0\.0\.1:$fport gave an invalid slot map: a range out of the slots/);
for my $mode (sort keys %fake_modes)
{
	# a tracker logs the first failure of an outage only: a new one
	set_mode($mode);
	my $offset = -s $fnode->logfile;
	$fnode->restart;
	ok( wait_for(
			"the tracker's LOG line ($mode)", 30,
			sub { slurp_file($fnode->logfile, $offset) =~ $fake_modes{$mode} }),
		"$mode: the tracker says why it does not follow the cluster");
	is($fnode->safe_psql('postgres', 'SELECT local_cache_synced IS NULL FROM cache_status()'),
		't', "$mode: the near-cache is not in step");
}
ok(!grep({ /terminated by signal|server process .* exited abnormally/ }
		slurp_file($fnode->logfile)),
	'no process of the fake node\'s server crashed');
$fnode->stop;
$server->kill_kill;

done_testing();
