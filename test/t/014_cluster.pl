# Copyright: cacheaside contributors
#
# 014_cluster.pl: Redis Cluster.  Three masters on free loopback ports
# (redis-cli --cluster create, no replicas); cacheaside.host and
# cacheaside.port name one of them, the seed.
#
#  - entries are stored on the master of their key's slot, spread over
#    all three; hits are served from each; TTL tools and statistics work
#    on every node;
#  - cache_invalidate removes on every master, by pattern and by name;
#  - once a session knows the slot map its commands are not redirected
#    (slots computed as Redis does, hash tags included);
#  - slots resharded under load (redis-cli --cluster reshard) while a
#    background session calls and writes: every call returns the right
#    rows (no stale hit after a committed write) and none fails, MOVED and
#    ASK being followed;
#  - a master killed: calls on its slots return their rows with one
#    WARNING, the other masters keep caching.
#
# Nothing waits a fixed time: each step polls with a generous bound that
# only catches hangs.

use strict;
use warnings;

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
	'cluster',
	"shared_preload_libraries = 'cacheaside'\n"
	  . "cacheaside.host = '127.0.0.1'\ncacheaside.port = "
	  . $masters[0]->port . "\n"
	  . "cacheaside.retry_interval = 200\n"
	  . "cacheaside.connect_timeout = 1000\ncacheaside.command_timeout = 2000\n"
);
my $rows = create_two_rows($node);
my $dboid = $node->safe_psql('postgres',
	'SELECT oid FROM pg_database WHERE datname = current_database()');
my $prefix = "cacheaside:${dboid}:e:";
my $query = 'SELECT * FROM t ORDER BY id';

# the master that holds a key (redis-cli follows redirections with -c)
sub exists_key
{
	my ($key) = @_;
	return $masters[0]->cli('-c', 'EXISTS', "$prefix$key");
}

sub dbsizes
{
	return map { scalar $_->cli('DBSIZE') } @_;
}

sub stat_of
{
	my ($col) = @_;
	return $node->safe_psql('postgres',
		"SELECT $col FROM cache_stats WHERE query = '$query'");
}

my @keys = map { "k$_" } 1 .. 30;
my $calls = join('', map { "SELECT cache_aside_query('$_', '$query', 600);\n" } @keys);

# --- stores and hits on every master --------------------------------------------

my ($out, $err) = ('', '');
$node->psql('postgres', $calls, stdout => \$out, stderr => \$err,
	on_error_die => 1);
is($out, join("\n", ($rows) x @keys), 'thirty calls return the rows');
is($err, '', 'without a warning');
is(scalar(grep { exists_key($_) eq '1' } @keys), 30, 'thirty entries are stored');
my @sizes = dbsizes(@masters);
is(scalar(grep { $_ > 0 } @sizes), 3, "the entries are spread over the three masters (@sizes)");

($out, $err) = ('', '');
$node->psql('postgres', $calls, stdout => \$out, stderr => \$err,
	on_error_die => 1);
is($out, join("\n", ($rows) x @keys), 'the second calls return the rows');
is(stat_of('hits'), '30', 'and are thirty hits');
is(stat_of('stores'), '30', 'after thirty stores');

is( $node->safe_psql('postgres',
		"SELECT connection, redis_version IS NOT NULL FROM cache_status()"),
	'connected|t',
	'cache_status: connected, with the version a master gives (INFO, no key)');

# --- TTL tools on every node ---------------------------------------------------------

my @ttls = split /\n/, $node->safe_psql('postgres',
	join('', map { "SELECT cache_set_ttl('$_', 1000);\n" } @keys));
is(scalar(grep { $_ eq 't' } @ttls), 30, 'cache_set_ttl finds every entry');
@ttls = split /\n/, $node->safe_psql('postgres',
	join('', map { "SELECT cache_get_ttl('$_');\n" } @keys));
is(scalar(grep { $_ > 600 && $_ <= 1000 } @ttls), 30,
	'cache_get_ttl reads the new time to live of every entry');

# --- cache_invalidate on every master ------------------------------------------------

is($node->safe_psql('postgres', "SELECT cache_invalidate('k1')"), '1',
	'cache_invalidate of one key removes it');
is(exists_key('k1'), '0', 'the entry is gone');
is($node->safe_psql('postgres', "SELECT cache_invalidate('nosuch')"), '0',
	'cache_invalidate of a key without an entry removes nothing');
is($node->safe_psql('postgres', "SELECT cache_invalidate('k2?')"), '10',
	'cache_invalidate of a pattern removes the entries of every master');
is($node->safe_psql('postgres', "SELECT cache_invalidate('k*')"), '19',
	'cache_invalidate of a pattern removes the entries of every master');
is(join(' ', dbsizes(@masters)), '0 0 0', 'no entry is left on any master');

# --- routing by slot: no redirection once the map is known ---------------------
#
# A session learns the slot map from its first redirection; from then on
# each command goes straight to the master of its key's slot (hash slots
# computed as Redis does, hash tags included): the masters answer no more
# MOVED (INFO errorstats counts them).

sub moved_count
{
	my $n = 0;
	for my $m (@masters)
	{
		$n += $1 if $m->cli('INFO', 'errorstats') =~ /errorstat_MOVED:count=(\d+)/;
	}
	return $n;
}

my @tagged = (@keys, map { "{user:$_}:profile" } 1 .. 10);
my $routed = $node->background_psql('postgres', on_error_stop => 0);
$routed->query_safe("SELECT cache_aside_query('$_', '$query', 600)") foreach @tagged;
my $moved = moved_count();
ok($moved > 0, "the masters count the redirections they answered ($moved)");
$routed->query_safe("SELECT cache_aside_query('$_', '$query', 600)") foreach @tagged;
is(moved_count(), $moved, 'calls of a session that knows the slot map are not redirected');
is($routed->query_safe("SELECT cache_invalidate('{user:*')"), '10',
	'cache_invalidate removes the entries of keys with hash tags');
$routed->quit;

# --- ASK and MOVED, step by step ---------------------------------------------------
#
# A slot migrated by hand: while it is migrating, a key already moved is
# answered with ASK by its old master; once the slot is assigned, with
# MOVED.

sub slot_of
{
	my ($key) = @_;
	return $masters[0]->cli('CLUSTER', 'KEYSLOT', "$prefix$key");
}

# the index in @masters of the master that owns the slot of an entry key
# (the others answer MOVED)
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

# does master i hold the entry of a key?
sub on_master
{
	my ($i, $key) = @_;
	my ($o) = $masters[$i]->cli('EXISTS', "$prefix$key");
	return $o eq '1';
}

my @ids = map { scalar $_->cli('CLUSTER', 'MYID') } @masters;
my $slot = slot_of('{ask}1');
is(slot_of('{ask}2'), $slot, 'keys with one hash tag share a slot');
my $src = owner_of('{ask}1');
my $dst = ($src + 1) % 3;
note "slot $slot: from master $src to master $dst";

($out, $err) = ('', '');
$node->psql('postgres', "SELECT cache_aside_query('{ask}1', '$query', 600);",
	stdout => \$out, stderr => \$err, on_error_die => 1);
is($out, $rows, 'a call stores an entry in the slot');
my ($srcm, $dstm) = ($masters[$src], $masters[$dst]);
ok(on_master($src, '{ask}1'), 'on its master');

$dstm->cli('CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $ids[$src]);
$srcm->cli('CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $ids[$dst]);
$srcm->cli('MIGRATE', $dstm->host, $dstm->port, "$prefix\{ask}1", '0', '5000');
like(join(' ', $srcm->cli('GETRANGE', "$prefix\{ask}1", '0', '1')), qr/ASK $slot/,
	'the old master answers ASK for the migrated key');

my $hits = stat_of('hits');
($out, $err) = ('', '');
$node->psql('postgres',
	"SELECT cache_aside_query('{ask}1', '$query', 600);\n"
	  . "SELECT cache_aside_query('{ask}2', '$query', 600);",
	stdout => \$out, stderr => \$err, on_error_die => 1);
is($out, "$rows\n$rows", 'calls on a migrating slot return the rows');
is($err, '', 'without a warning');
is(stat_of('hits'), $hits + 1, 'the migrated entry is a hit, after ASK');
ok(exists_key('{ask}2') eq '1' && !on_master($src, '{ask}2'),
	'a new entry of the migrating slot is stored on the importing master');

$_->cli('CLUSTER', 'SETSLOT', $slot, 'NODE', $ids[$dst]) foreach ($dstm, $srcm);
$masters[3 - $src - $dst]->cli('CLUSTER', 'SETSLOT', $slot, 'NODE', $ids[$dst]);
$hits = stat_of('hits');
($out, $err) = ('', '');
$node->psql('postgres',
	"SELECT cache_aside_query('{ask}1', '$query', 600);\n"
	  . "SELECT cache_aside_query('{ask}2', '$query', 600);",
	stdout => \$out, stderr => \$err, on_error_die => 1);
is($out, "$rows\n$rows", 'calls on the moved slot return the rows');
is($err, '', 'without a warning');
is(stat_of('hits'), $hits + 2, 'both entries are hits, after MOVED');
is($node->safe_psql('postgres', "SELECT cache_invalidate('{ask}*')"), '2',
	'cache_invalidate finds them on their new master');

# --- resharding under load -------------------------------------------------------------
#
# redis-cli --cluster reshard moves 3000 slots, with their entries, from
# the first master to the second while one session writes and calls in a
# loop: every call must return the rows as last committed.

my @load_keys = map { "r$_" } 1 .. 200;
$node->safe_psql('postgres',
	join('', map { "SELECT cache_aside_query('$_', '$query', 600);\n" } @load_keys));

my $session = $node->background_psql('postgres', on_error_stop => 0);
my ($rs_out, $rs_err) = ('', '');
my $reshard = IPC::Run::start(
	[
		$ENV{REDIS_CLI} // 'redis-cli', '--cluster', 'reshard',
		$masters[0]->host . ':' . $masters[0]->port,
		'--cluster-from', $ids[0], '--cluster-to', $ids[1],
		'--cluster-slots', '3000', '--cluster-yes'
	],
	'<', \undef, '>', \$rs_out, '2>', \$rs_err);

my ($rounds, $wrong, $warned, $during) = (0, 0, 0, 0);
while (1)
{
	my $running = $reshard->pumpable;
	$reshard->pump_nb if $running;
	$during++ if $running;
	$rounds++;
	$session->query_safe("UPDATE t SET v = 'v$rounds' WHERE id = 1");
	my $expect = qq{[{"id":1,"v":"v$rounds"}, \n {"id":2,"v":"two"}]};
	for my $k (map { $load_keys[ ($rounds * 7 + $_ * 13) % @load_keys ] } 0 .. 9)
	{
		my $got = $session->query("SELECT cache_aside_query('$k', '$query', 600)");
		$wrong++ if $got ne $expect;
		# a second call is a hit of the entry just stored
		$got = $session->query("SELECT cache_aside_query('$k', '$query', 600)");
		$wrong++ if $got ne $expect;
	}
	$warned++ if $session->{stderr} =~ /WARNING|ERROR/;
	$session->{stderr} = '';
	last if !$running && $rounds > $during + 3;
	last if $rounds > 100000;
}
$reshard->finish;
note "reshard: $rounds rounds, $during while it ran";
is($? >> 8, 0, 'redis-cli --cluster reshard succeeded') or diag("$rs_out\n$rs_err");
ok($during > 0, 'calls ran during the resharding');
is($wrong, 0, 'every call returned the rows as last committed');
is($warned, 0, 'without a warning or an error');
$session->quit;
$node->safe_psql('postgres', "UPDATE t SET v = 'one' WHERE id = 1");
@sizes = dbsizes(@masters);
is($node->safe_psql('postgres', "SELECT cache_invalidate('*')"),
	$sizes[0] + $sizes[1] + $sizes[2], 'cache_invalidate removes every entry after the resharding');

# --- a master killed ------------------------------------------------------------------------

$node->safe_psql('postgres', $calls);
my @on_dead = grep { on_master(2, $_) } @keys;
my @on_live = grep { my $k = $_; !grep { $_ eq $k } @on_dead } @keys;
ok(@on_dead > 0 && @on_live > 0, 'keys on the third master and on the others');
$node->safe_psql('postgres', "SELECT cache_invalidate('k*')");
$masters[2]->stop;

($out, $err) = ('', '');
$node->psql('postgres', $calls, stdout => \$out, stderr => \$err,
	on_error_die => 1);
is($out, join("\n", ($rows) x @keys), 'with a master down every call returns the rows');
my @warnings = ($err =~ /WARNING:/g);
is(scalar @warnings, 1, 'with one WARNING');
like($err,
	qr/WARNING:  cacheaside: a Redis Cluster node is unavailable, queries on its slots run without the cache\nDETAIL:  .*127\.0\.0\.1:${\ $masters[2]->port}/,
	'that names the node');
is(scalar(grep { exists_key($_) eq '1' } @on_live), scalar @on_live,
	'the entries of the other masters are stored');

$masters[2]->start;
ok( wait_for(
		'the restarted master to cache again', 60,
		sub {
			$node->safe_psql('postgres', "SELECT cache_aside_query('$on_dead[0]', '$query', 600)");
			return on_master(2, $on_dead[0]);
		}),
	'caching resumes on the restarted master');

done_testing();
