# Copyright: cacheaside contributors
#
# 011_warm_restart.pl: the commit ledger kept across a clean restart.
#
# After a clean shutdown, entries stored before it stay hits; whatever can
# have changed the data without the ledger seeing it makes them misses:
# a crash or an immediate shutdown, a start without the library in
# between, pg_resetwal, a copy of the data directory started elsewhere
# (which must not take what the original stored after they parted), a
# standby promoted, a transaction left prepared across the restart.
#
# Hits and misses are told apart by a random nonce in the cached rows.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::RecursiveCopy;
use PostgreSQL::Test::Utils;
use Test::More;

use CacheasideNode;
use RedisServer;

my $redis = RedisServer->new();
my $conf = $redis->pg_conf . "max_prepared_transactions = 2\n";
my $node = cacheaside_node('warm', $conf . "restart_after_crash = on\n",
	allows_streaming => 1);
$node->safe_psql(
	'postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t VALUES (1, 'one');
	CREATE TABLE u (id int);
});

# one call of the entry of key, reading table; returns (nonce, rows)
sub call
{
	my ($n, $key, $table) = @_;
	$table //= 't';
	my $out = $n->safe_psql('postgres',
		"SELECT cache_aside_query('$key', 'SELECT random() AS nonce, count(*) AS n FROM $table', 600)::text"
	);
	my ($nonce) = $out =~ /"nonce":([0-9.e-]+)/;
	my ($count) = $out =~ /"n":(\d+)/;
	return ($nonce // '', $count // '');
}

my $offset;

# ---------------------------------------------------------------------------
note 'a clean restart keeps the entries';

my ($n1) = call($node, 'k');
my ($n1b) = call($node, 'k');
is($n1b, $n1, 'the entry is a hit before the restart');
my ($u1) = call($node, 'ku', 'u');
$node->safe_psql('postgres', "INSERT INTO t VALUES (2, 'two')");
my ($n2) = call($node, 'k2');
my $epoch = $node->safe_psql('postgres', 'SELECT epoch FROM cache_status()');

$offset = -s $node->logfile;
$node->restart;
ok($node->log_contains('restored the commit ledger saved at the last clean shutdown', $offset),
	'the ledger is restored');
my ($n3) = call($node, 'k2');
is($n3, $n2, 'an entry stored before a clean restart is a hit after it');
my ($u2) = call($node, 'ku', 'u');
is($u2, $u1, 'so is one of another table');
isnt($node->safe_psql('postgres', 'SELECT epoch FROM cache_status()'),
	$epoch, 'the new run has an epoch of its own');
my ($n4, $c4) = call($node, 'k');
isnt($n4, $n1, 'an entry made stale before the restart is a miss after it');
is($c4, '2', 'with the rows committed before the restart');
ok(!-e $node->data_dir . '/pg_stat/cacheaside.ledger',
	'the saved ledger is removed once read');

# writes after the restart are seen as usual
my ($n5) = call($node, 'k');
$node->safe_psql('postgres', "INSERT INTO t VALUES (3, 'three')");
my ($n6, $c6) = call($node, 'k');
isnt($n6, $n5, 'a write after the restart makes the entry a miss');
is($c6, '3', 'with the new rows');

# ---------------------------------------------------------------------------
note 'an immediate shutdown, and a crash, start afresh';

my ($i1) = call($node, 'ki', 'u');
$offset = -s $node->logfile;
$node->stop('immediate');
$node->start;
ok(!$node->log_contains('restored the commit ledger', $offset),
	'after an immediate shutdown nothing is restored');
my ($i2) = call($node, 'ki', 'u');
isnt($i2, $i1, 'entries stored before are misses');

my ($k1) = call($node, 'kc', 'u');
$node->restart;
my ($k2) = call($node, 'kc', 'u');
is($k2, $k1, 'a clean restart keeps the entry stored since');
# a backend killed with SIGKILL: the postmaster makes shared memory anew
my $victim = $node->background_psql('postgres', on_error_stop => 0);
my $vpid = $victim->query_safe('SELECT pg_backend_pid()');
my $crash_offset = -s $node->logfile;
kill 'KILL', $vpid;
eval { $victim->quit };
# the postmaster has noticed and is making shared memory anew
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $crash_offset);
$node->poll_query_until('postgres', 'SELECT true')
  or die 'the server did not come back after the crash';
my ($k3) = call($node, 'kc', 'u');
isnt($k3, $k2, 'after a crash it is a miss');

# ---------------------------------------------------------------------------
note 'a start without the library in between';

my ($w1) = call($node, 'kw', 'u');
$node->stop;
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->start;
$node->safe_psql('postgres', 'INSERT INTO u VALUES (1)');
$node->stop;
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "'cacheaside'");
$offset = -s $node->logfile;
$node->start;
ok( $node->log_contains(
		'not restoring the commit ledger saved at shutdown: the cluster ran since it was saved',
		$offset),
	'the saved ledger is refused: the cluster ran since');
my ($w2, $wc2) = call($node, 'kw', 'u');
isnt($w2, $w1, 'the entry is a miss');
is($wc2, '1', 'and the write made meanwhile is seen');

# ---------------------------------------------------------------------------
note 'pg_resetwal';

my ($r1) = call($node, 'kr', 'u');
$node->stop;
command_ok([ 'pg_resetwal', '-f', $node->data_dir ], 'pg_resetwal');
$offset = -s $node->logfile;
$node->start;
ok($node->log_contains('not restoring the commit ledger saved at shutdown', $offset),
	'the saved ledger is refused after pg_resetwal');
my ($r2) = call($node, 'kr', 'u');
isnt($r2, $r1, 'the entry is a miss');

# ---------------------------------------------------------------------------
note 'a transaction prepared across a clean restart';

my ($p1) = call($node, 'kp', 'u');
$node->safe_psql('postgres',
	"BEGIN; INSERT INTO t VALUES (9, 'nine'); PREPARE TRANSACTION 'across';");
$node->restart;
my ($p2) = call($node, 'kp', 'u');
isnt($p2, $p1,
	'with a transaction prepared across the restart, entries of its database are misses');
$node->safe_psql('postgres', "ROLLBACK PREPARED 'across'");

# ---------------------------------------------------------------------------
note 'a copy of the data directory started elsewhere';

my ($c1) = call($node, 'kcopy', 'u');
my ($t1) = call($node, 'kt');
$node->stop;
my $copy = PostgreSQL::Test::Cluster->new('copy');
PostgreSQL::Test::RecursiveCopy::copypath($node->data_dir, $copy->data_dir);
chmod 0700, $copy->data_dir;
$copy->append_conf('postgresql.conf', 'port = ' . $copy->port);
$copy->append_conf('postgresql.conf',
	"unix_socket_directories = '" . $copy->host . "'");

# the original goes on: a write, and a new entry of it
$node->start;
$node->safe_psql('postgres', 'INSERT INTO u VALUES (2)');
my ($c2, $cc2) = call($node, 'kcopy', 'u');
isnt($c2, $c1, 'the original misses after its write');
is($cc2, '2', 'and stores the new rows');

$offset = -s $copy->logfile;
$copy->start;
ok($copy->log_contains('restored the commit ledger saved at the last clean shutdown', $offset),
	'the copy, cleanly shut down, restores the ledger too');
my ($c3, $cc3) = call($copy, 'kcopy', 'u');
is($cc3, '1', 'the copy does not take what the original stored after they parted');
my ($t3) = call($copy, 'kt');
is($t3, $t1, 'it keeps what both had stored before');
$copy->stop;

# ---------------------------------------------------------------------------
note 'a standby promoted';

my ($s1) = call($node, 'ks', 'u');
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
$node->safe_psql('postgres', 'INSERT INTO u VALUES (3)');
my ($s2) = call($node, 'ks', 'u');
$node->wait_for_catchup($standby);
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'the standby was not promoted';
my ($s3, $sc3) = call($standby, 'ks', 'u');
isnt($s3, $s2, 'the promoted standby does not serve the primary\'s entries');
is($sc3, '3', 'it returns its own rows');
$standby->stop;

$node->stop;
done_testing();
