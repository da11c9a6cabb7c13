# Copyright: cacheaside contributors
#
# 004_auto_invalidate.pl: automatic invalidation where it meets the rest of
# the system.
#
#  - Redis stopped or frozen when a writer commits: COMMIT does not wait on
#    Redis, and the entries the commit made stale are not served once Redis
#    is back.
#  - cache_invalidate in a transaction whose commit cannot reach Redis: the
#    COMMIT succeeds with a WARNING.
#  - An immediate shutdown, and a crash of a backend (shared memory
#    re-initialized): entries made before are misses; transactions prepared
#    before a start are recorded by the first call, whatever its role.
#  - Writes applied by a logical replication subscription are tracked.
#  - Two-phase commit disabled: PREPARE gets PostgreSQL's own error.
#  - A hot standby, and a server without the library preloaded: caching by
#    TTL only, with one WARNING per session saying so.
#
# Hits and misses are told apart by a random nonce in the cached rows.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use CacheasideNode;
use RedisServer;

my $redis = RedisServer->new();

my $node = cacheaside_node(
	'tracked',
	$redis->pg_conf
	  . "cacheaside.retry_interval = 0\nrestart_after_crash = on\n"
	  . "max_prepared_transactions = 5\n",
	allows_streaming => 1);
$node->safe_psql(
	'postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t VALUES (1, 'one');
});

my $query = q{SELECT random() AS nonce, v FROM t ORDER BY id};

# one call; returns (nonce, values) of what it returned
sub call
{
	my ($n, %opts) = @_;
	my $sql = "SELECT cache_aside_query('k', '$query', 600)::text";
	$sql = "$opts{before}; $sql" if $opts{before};
	my ($stdout, $stderr) = ('', '');
	$n->psql('postgres', $sql, stdout => \$stdout, stderr => \$stderr);
	my @nonces = $stdout =~ /"nonce":([0-9.e-]+)/g;
	my @values = $stdout =~ /"v":"([^"]*)"/g;
	return ($nonces[0] // '', join(',', @values), $stderr);
}

# ---------------------------------------------------------------------------
note 'Redis stopped or frozen when a writer commits';

my ($n1, $v1) = call($node);
my ($n2, $v2) = call($node);
is($v1, 'one', 'first call returns the rows');
is($n2, $n1, 'second call is a hit');

$redis->stop;
my $t0 = time();
$node->safe_psql('postgres', "UPDATE t SET v = 'two'");
my $commit_stopped = time() - $t0;
note sprintf('UPDATE committed in %.3f s with Redis stopped', $commit_stopped);
$redis->start;
my ($n3, $v3) = call($node);
is($v3, 'two', 'after Redis is back, the committed UPDATE is seen');
isnt($n3, $n1, 'as a miss');

my ($n4) = call($node);
is($n4, $n3, 'and the new entry is a hit');
$redis->freeze;
$t0 = time();
$node->safe_psql('postgres',
	"SET cacheaside.command_timeout = '10min'; UPDATE t SET v = 'three'");
my $commit_frozen = time() - $t0;
$redis->thaw;
note sprintf('UPDATE committed in %.3f s with Redis frozen', $commit_frozen);
ok($commit_frozen < 5,
	'COMMIT does not wait on a frozen Redis (generous bound: 5 s)');
my ($n5, $v5) = call($node);
is($v5, 'three', 'after the thaw, the committed UPDATE is seen');
isnt($n5, $n4, 'as a miss');

# ---------------------------------------------------------------------------
note 'cache_invalidate in a transaction whose commit cannot reach Redis';

my $s = $node->background_psql('postgres', on_error_stop => 0);
$s->query_safe("SET cacheaside.command_timeout = 300");
$s->query_safe('BEGIN');
$s->query_safe("UPDATE t SET v = 'four'");
$s->query_safe("SELECT cache_invalidate('k')");
$redis->freeze;
$t0 = time();
$s->query('COMMIT');
my $commit_invalidate = time() - $t0;
my $stderr = $s->{stderr};
$redis->thaw;
# the WARNING may reach psql's stderr only after COMMIT's result
my $one = $s->query('SELECT 1');
$stderr .= $s->{stderr};
note sprintf('COMMIT took %.3f s (command_timeout 300 ms)', $commit_invalidate);
like(
	$stderr,
	qr/WARNING:  cache_invalidate\(\) could not be repeated after commit/,
	'COMMIT warns that the invalidation could not be repeated');
is($node->safe_psql('postgres', 'SELECT v FROM t'),
	'four', 'and the transaction is committed');
is($one, '1', 'the session is usable');
$s->quit;
my ($n6, $v6) = call($node);
is($v6, 'four', 'the next call reads the committed rows');

# ---------------------------------------------------------------------------
note 'immediate shutdown and crash: entries of an earlier start are misses';

# (a clean restart keeps them: TAP 011)
my ($n7) = call($node);
$node->stop('immediate');
$node->start;
my ($n8, $v8) = call($node);
is($v8, 'four', 'after an immediate shutdown, the rows are right');
isnt($n8, $n7, 'entries made before it are misses');
my ($n9) = call($node);
is($n9, $n8, 'new entries are hits');

# a transaction prepared before a restart: what it wrote is not known any
# more, so its database bypasses the cache until it ends
$node->safe_psql('postgres',
	"BEGIN; UPDATE t SET v = 'five'; PREPARE TRANSACTION 'across';");
$node->restart;
my $kcall = q{SELECT cache_aside_query('rk', 'SELECT v FROM t', 600)};
is($node->safe_psql('postgres', $kcall),
	'[{"v":"four"}]', 'while it is prepared, the committed rows are returned');
is($node->safe_psql('postgres', "SELECT cache_get_ttl('rk') IS NULL"),
	't', 'and not stored');
$node->safe_psql('postgres', "COMMIT PREPARED 'across'");
is($node->safe_psql('postgres', $kcall),
	'[{"v":"five"}]', 'once it is committed, its rows are seen');
is($node->safe_psql('postgres', "SELECT cache_get_ttl('rk') IS NOT NULL"),
	't', 'and stored');
my ($n9b, $v9b) = call($node);
is($v9b, 'five', 'the other entries are misses too');
isnt($n9b, $n9, 'as a miss');

# a backend killed with SIGKILL makes the postmaster re-initialize shared
# memory: what was in flight there is gone, so are the entries' chances
$s = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $s->query_safe('SELECT pg_backend_pid()');
my $crash_offset = -s $node->logfile;
kill 'KILL', $pid;
$s->quit;
# the postmaster has noticed and is making shared memory anew
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $crash_offset);
$node->poll_query_until('postgres', 'SELECT true')
  or die 'server did not come back after the crash';
my ($n10, $v10) = call($node);
is($v10, 'five', 'after a crash, the rows are right');
isnt($n10, $n9b, 'entries made before the crash are misses');

# transactions prepared after a start but before any call looked at an
# entry are in the registry already when the first call records those
# that survived the start: each is recorded once (with as many as
# max_prepared_transactions, recording them again found no room, and every
# call failed until they ended)
$node->safe_psql('postgres', 'CREATE TABLE px (id int)');
$node->restart;
$node->safe_psql('postgres',
	"BEGIN; INSERT INTO px VALUES ($_); PREPARE TRANSACTION 'px$_';")
  for 1 .. 5;
my $pxcall = q{SELECT cache_aside_query('px', 'SELECT count(*) AS n FROM px', 600)};
my ($pxout, $pxerr) = ('', '');
$node->psql('postgres', $pxcall, stdout => \$pxout, stderr => \$pxerr);
is($pxout, '[{"n":0}]',
	'with the registry full of transactions prepared since the start, a call returns the committed rows'
);
is($pxerr, '', 'without an error');
is($node->safe_psql('postgres', "SELECT cache_get_ttl('px') IS NULL"),
	't', 'and does not store them while those transactions are prepared');
is( $node->safe_psql(
		'postgres',
		q{SELECT cache_aside_query('pxt', 'SELECT v FROM t', 600);
		  SELECT cache_get_ttl('pxt') IS NOT NULL}),
	qq{[{"v":"five"}]\nt},
	'what they did not write is stored');
$node->safe_psql('postgres', "COMMIT PREPARED 'px$_'") for 1 .. 5;
is($node->safe_psql('postgres', $pxcall),
	'[{"n":5}]', 'once they are committed, their rows are seen');
is($node->safe_psql('postgres', "SELECT cache_get_ttl('px') IS NOT NULL"),
	't', 'and stored');

# the look at the transactions prepared before the start needs no
# privilege of the caller
$node->safe_psql(
	'postgres', q{
	CREATE ROLE px_reader;
	GRANT SELECT ON t TO px_reader;
	GRANT EXECUTE ON FUNCTION cache_aside_query(text, text, integer) TO px_reader;
	REVOKE EXECUTE ON FUNCTION pg_prepared_xact() FROM PUBLIC;
	BEGIN; INSERT INTO px VALUES (6); PREPARE TRANSACTION 'px6';
});
$node->restart;
$node->psql(
	'postgres',
	"SET ROLE px_reader; SELECT cache_aside_query('pxr', 'SELECT v FROM t', 600)",
	stdout => \$pxout,
	stderr => \$pxerr);
is($pxout, '[{"v":"five"}]',
	'a role without EXECUTE on pg_prepared_xact makes the first call of a start');
is($pxerr, '', 'without an error');
$node->safe_psql(
	'postgres', q{
	COMMIT PREPARED 'px6';
	GRANT EXECUTE ON FUNCTION pg_prepared_xact() TO PUBLIC;
	DROP OWNED BY px_reader;
	DROP ROLE px_reader;
	DROP TABLE px;
});

# ---------------------------------------------------------------------------
note 'writes applied by logical replication';

my $publisher = PostgreSQL::Test::Cluster->new('publisher');
$publisher->init(allows_streaming => 'logical');
$publisher->append_conf('postgresql.conf', "max_prepared_transactions = 5\n");
$publisher->start;
$publisher->safe_psql(
	'postgres', q{
	CREATE TABLE r (id int PRIMARY KEY, v text);
	INSERT INTO r VALUES (1, 'one');
	CREATE PUBLICATION p FOR TABLE r;
});
$node->safe_psql('postgres', 'CREATE TABLE r (id int PRIMARY KEY, v text)');
my $connstr = $publisher->connstr . ' dbname=postgres';
$node->safe_psql('postgres',
	"CREATE SUBSCRIPTION s CONNECTION '$connstr' PUBLICATION p WITH (two_phase = on)");
$node->wait_for_subscription_sync($publisher, 's');

my $rcall = q{SELECT cache_aside_query('r', 'SELECT v FROM r ORDER BY id', 600)};
is($node->safe_psql('postgres', $rcall), '[{"v":"one"}]',
	'the subscriber caches the replicated rows');
is($node->safe_psql('postgres', "SELECT cache_get_ttl('r') IS NOT NULL"),
	't', 'the entry is stored');
$publisher->safe_psql('postgres', "INSERT INTO r VALUES (2, 'two')");
$publisher->wait_for_catchup('s');
is( $node->safe_psql('postgres', $rcall),
	qq{[{"v":"one"}, \n {"v":"two"}]},
	'a row applied by the subscription makes the entry a miss');

# a two-phase transaction: the worker applies PREPARE, then COMMIT PREPARED
# itself (not as a statement)
$publisher->safe_psql('postgres',
	"BEGIN; INSERT INTO r VALUES (3, 'three'); PREPARE TRANSACTION 'p3';");
$publisher->wait_for_catchup('s');
is( $node->safe_psql('postgres', $rcall),
	qq{[{"v":"one"}, \n {"v":"two"}]},
	'while the applied transaction is prepared, its row is not seen');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
	'1', 'it is prepared on the subscriber');
$publisher->safe_psql('postgres', "COMMIT PREPARED 'p3'");
$publisher->wait_for_catchup('s');
$node->poll_query_until('postgres',
	'SELECT count(*) = 0 FROM pg_prepared_xacts')
  or die 'the subscriber did not commit the prepared transaction';
is( $node->safe_psql('postgres', $rcall),
	qq{[{"v":"one"}, \n {"v":"two"}, \n {"v":"three"}]},
	'once the worker committed it, the entry is a miss');
$node->safe_psql('postgres', 'DROP SUBSCRIPTION s');
$publisher->stop;

# ---------------------------------------------------------------------------
note 'two-phase commit disabled (max_prepared_transactions = 0)';

# PostgreSQL refuses PREPARE itself, with its own error and hint, whether the
# transaction wrote, read or called cache_invalidate
my $noprep = cacheaside_node('noprepare', $redis->pg_conf);
$noprep->safe_psql('postgres', 'CREATE TABLE t (id int)');
for my $case (
	[ 'wrote', 'INSERT INTO t VALUES (1)' ],
	[ 'only read', 'SELECT count(*) FROM t' ],
	[ 'called cache_invalidate', q{SELECT cache_invalidate('k')} ])
{
	my ($what, $sql) = @$case;
	my ($stdout, $stderr) = ('', '');
	$noprep->psql(
		'postgres',
		"\\set VERBOSITY verbose\nBEGIN; $sql; PREPARE TRANSACTION 'p';",
		stdout => \$stdout,
		stderr => \$stderr);
	like(
		$stderr,
		qr/ERROR:  55000: prepared transactions are disabled\n.*HINT:  Set "?max_prepared_transactions"? to a nonzero value\./s,
		"a transaction that $what gets PostgreSQL's error");
}
is($noprep->safe_psql('postgres', 'SELECT count(*) FROM t'),
	'0', 'and nothing was committed');
$noprep->stop;

# ---------------------------------------------------------------------------
note 'hot standby: caching by TTL only';

$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
my $two_calls = "SELECT cache_aside_query('sb', 'SELECT v FROM t', 600); "
  . "SELECT cache_aside_query('sb', 'SELECT v FROM t', 600);";
my ($out, $err) = ('', '');
$standby->psql('postgres', $two_calls, stdout => \$out, stderr => \$err);
is($out, qq{[{"v":"five"}]\n[{"v":"five"}]}, 'the standby returns the rows');
my @w = $err =~ /WARNING:  cacheaside: automatic invalidation is not available during recovery/g;
is(scalar @w, 1, 'with one WARNING for the session');
unlike($err, qr/invalid configuration parameter/,
	'cacheaside.stats_max in the configuration file is not reported as unknown');
$standby->psql(
	'postgres', "SET cacheaside.auto_invalidate = off; $two_calls",
	stdout => \$out,
	stderr => \$err);
is($err, '', 'no WARNING with cacheaside.auto_invalidate off');
$standby->stop;

# ---------------------------------------------------------------------------
note 'without shared_preload_libraries: caching by TTL only';

my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
my $conf = $redis->pg_conf;
$conf =~ s/^shared_preload_libraries.*\n//m;
# a size of shared memory left in the file: no effect, and no complaint
$conf .= "cacheaside.stats_max = 500\n";
$plain->append_conf('postgresql.conf', $conf);
$plain->start;
$plain->safe_psql(
	'postgres', q{
	CREATE EXTENSION cacheaside;
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t VALUES (1, 'one');
});
my $plain_call = q{SELECT cache_aside_query('plain', 'SELECT v FROM t', 600)};
$plain->psql('postgres', "$plain_call; $plain_call", stdout => \$out,
	stderr => \$err);
is($out, qq{[{"v":"one"}]\n[{"v":"one"}]}, 'calls return the rows');
@w = $err =~ /WARNING:  cacheaside: automatic invalidation is off because cacheaside is not in shared_preload_libraries/g;
is(scalar @w, 1, 'with one WARNING for the session');
$plain->safe_psql('postgres', "UPDATE t SET v = 'two'");
$plain->psql(
	'postgres', "SET cacheaside.auto_invalidate = off; $plain_call",
	stdout => \$out,
	stderr => \$err);
is($out, '[{"v":"one"}]', 'an UPDATE does not invalidate: the TTL does');
is($err, '', 'no WARNING with cacheaside.auto_invalidate off');
is( $plain->safe_psql(
		'postgres',
		"SELECT relation || ' ' || coalesce(changed::text, 'unknown') FROM cache_dependencies('plain')"
	),
	't unknown',
	'cache_dependencies lists the table, changed unknown');
$plain->safe_psql('postgres', "SELECT cache_invalidate('plain')");
is($plain->safe_psql('postgres', $plain_call),
	'[{"v":"two"}]', 'cache_invalidate does');
$plain->psql('postgres', 'SELECT * FROM cache_stats', stderr => \$err);
like(
	$err,
	qr/ERROR:  cacheaside statistics need cacheaside in shared_preload_libraries\n.*HINT:  Add cacheaside to shared_preload_libraries and restart the server\./s,
	'cache_stats says statistics need preloading');
$plain->psql('postgres', 'SELECT cache_stats_reset()', stderr => \$err);
like($err, qr/ERROR:  cacheaside statistics need cacheaside in shared_preload_libraries/,
	'so does cache_stats_reset');
is( $plain->safe_psql(
		'postgres',
		'SELECT preloaded, connection, statistics, epoch IS NULL FROM cache_status()'),
	'f|connected|f|t',
	'cache_status says the library is not preloaded');
$plain->stop;

$node->stop;
done_testing();
