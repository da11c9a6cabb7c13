# Copyright: cacheaside contributors
#
# 005_connections.pl: how many Redis connections cacheaside holds, and what
# it does when Redis drops them or refuses to store.
#
#  - One connection per backend that used the cache, none for backends that
#    never called it (nor for the postmaster); each closed when its backend
#    exits.
#  - CLIENT KILL of every connection: the next call reconnects silently and
#    returns the rows.
#  - Redis at maxmemory with noeviction: calls return the rows, the refusal
#    of SET is reported once per connection, and storing resumes when memory
#    is available again.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use CacheasideNode;
use RedisServer;

my $redis = RedisServer->new();

my $node = cacheaside_node('connections',
	$redis->pg_conf . "cacheaside.retry_interval = 0\n");
my $rows = create_two_rows($node);

# clients of Redis other than redis-cli asking and the near-cache's tracker
# (a background worker with a connection of its own, 012_nearcache.pl)
sub redis_clients
{
	my @lines = split /\n/, $redis->cli('CLIENT', 'LIST');
	return scalar grep { !/cmd=client/ && !/name=cacheaside-tracker / } @lines;
}

# wait (up to 10 s) until Redis has $want clients; returns how many it has
sub wait_for_clients
{
	my ($want) = @_;
	my $n;
	for (1 .. 100)
	{
		$n = redis_clients();
		return $n if $n == $want;
		select(undef, undef, undef, 0.1);
	}
	return $n;
}

sub call
{
	my ($session, $key) = @_;
	return $session->query_safe(
		"SELECT cache_aside_query('$key', 'SELECT * FROM t ORDER BY id', 60)");
}

# ---------------------------------------------------------------------------
note 'one connection per backend that used the cache';

is(redis_clients(), 0, 'no connection after start and CREATE EXTENSION');

my @s = map { $node->background_psql('postgres', on_error_stop => 0) } 1 .. 3;
is(call($s[0], 'a'), $rows, 'session 1 calls the cache');
is(call($s[1], 'a'), $rows, 'session 2 calls the cache');
is(call($s[1], 'b'), $rows, 'and again');
$s[2]->query_safe('SELECT count(*) FROM t');
is(redis_clients(), 2,
	'two connections: one per backend that called, none for the third');

$_->quit for @s;
is(wait_for_clients(0), 0,
	'connections are closed when their backends exit');

# ---------------------------------------------------------------------------
note 'CLIENT KILL: the next call reconnects silently';

my $k = $node->background_psql('postgres', on_error_stop => 0);
is(call($k, 'k'), $rows, 'a session with a connection');
is(redis_clients(), 1, 'holds one connection');
$redis->cli('CLIENT', 'KILL', 'TYPE', 'normal');
is(redis_clients(), 0, 'CLIENT KILL closed it');
$k->{stderr} = '';
is(call($k, 'k'), $rows, 'the next call returns the rows');
is($k->{stderr}, '', 'without a warning');
is(redis_clients(), 1, 'over a new connection');
is($redis->cli('EXISTS', 'cacheaside:'
		  . $node->safe_psql('postgres',
			  "SELECT oid FROM pg_database WHERE datname = 'postgres'")
		  . ':e:k'),
	'1', 'the entry is there');
# a WARNING can reach psql's stderr late: a query that fails on any stderr
is($k->query_safe('SELECT 1'), '1', 'and no warning came later either');
$k->quit;

# ---------------------------------------------------------------------------
note 'Redis at maxmemory with noeviction';

$redis->cli('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
$redis->cli('CONFIG', 'SET', 'maxmemory', '1');
my $q = q{SELECT cache_aside_query('%s', 'SELECT * FROM t ORDER BY id', 60);};
my ($out, $err) = ('', '');
$node->psql(
	'postgres',
	join('', map { sprintf($q, $_) } qw(m1 m2 m3))
	  . "SELECT cache_get_ttl('m3') IS NULL;",
	stdout => \$out,
	stderr => \$err);
is($out, "$rows\n$rows\n$rows\nt",
	'three calls in one session return the rows, and store nothing');
my @w = $err =~ /WARNING:  cacheaside: Redis refused SET/g;
is(scalar @w, 1, 'the refusal is reported once for the connection');
like($err, qr/OOM/, 'with what Redis said');
$redis->cli('CONFIG', 'SET', 'maxmemory', '0');
$node->psql(
	'postgres', sprintf($q, 'm4') . "SELECT cache_get_ttl('m4') IS NOT NULL;",
	stdout => \$out,
	stderr => \$err);
is($out, "$rows\nt", 'memory available again: the call stores');
is($err, '', 'without a warning');

$node->stop;
done_testing();
