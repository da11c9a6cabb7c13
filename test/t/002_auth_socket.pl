# Copyright: cacheaside contributors
#
# 002_auth_socket.pl: connecting to Redis over a Unix socket, AUTH with a
# password file (a password alone, or an ACL user and its password), SELECT
# of cacheaside.database, and what happens when Redis refuses: a wrong
# password or an ACL that forbids a command.  In every case the calls return
# the database's rows, and no password reaches the server log.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use CacheasideNode;
use RedisServer;

my $sockdir = PostgreSQL::Test::Utils::tempdir('redis-sock');
my $socket = "$sockdir/redis.sock";
my $redis = RedisServer->new(
	extra_args => [ '--unixsocket' => $socket, '--unixsocketperm' => '700' ]);

# an ACL user that may do exactly what cacheaside needs, on its keys only
$redis->cli('ACL', 'SETUSER', 'cacheuser', 'on', '>user-secret-42',
	'~cacheaside:*', '+getrange', '+set', '+unlink', '+scan', '+ttl',
	'+expire', '+select');
# the same, without SET
$redis->cli('ACL', 'SETUSER', 'readonly', 'on', '>readonly-secret-42',
	'~cacheaside:*', '+getrange', '+unlink', '+scan', '+ttl', '+expire',
	'+select');
# the same, without GETRANGE: every read is refused
$redis->cli('ACL', 'SETUSER', 'noread', 'on', '>noread-secret-42',
	'~cacheaside:*', '+set', '+unlink', '+scan', '+ttl', '+expire',
	'+select');

my $pwfile = PostgreSQL::Test::Utils::tempdir('pw') . '/redis.pass';
sub write_password_file
{
	my ($content, $mode) = @_;
	open(my $fh, '>', $pwfile) or die "could not write $pwfile: $!";
	print $fh "$content\n";
	close($fh);
	chmod($mode // 0600, $pwfile) or die "chmod $pwfile: $!";
	return;
}

write_password_file('cacheuser user-secret-42');
my $node = cacheaside_node(
	'auth', qq{
shared_preload_libraries = 'cacheaside'
cacheaside.host = '$socket'
cacheaside.password_file = '$pwfile'
cacheaside.retry_interval = 0
log_min_messages = debug1
});
my $rows = create_two_rows($node);
my $dboid = $node->safe_psql('postgres',
	'SELECT oid FROM pg_database WHERE datname = current_database()');
my $query = q{SELECT cache_aside_query('k', 'SELECT * FROM t ORDER BY id', 60)::text};

# each psql call is a new session, hence a new connection to Redis
sub call
{
	my ($stdout, $stderr) = ('', '');
	my $ret = $node->psql('postgres', $query,
		stdout => \$stdout, stderr => \$stderr);
	return ($ret, $stdout, $stderr);
}

# ---------------------------------------------------------------------------
note 'ACL user over a Unix socket';

my ($ret, $out, $err) = call();
is($ret, 0, 'call over the Unix socket succeeds');
is($out, $rows, 'and returns the rows');
is($err, '', 'without a warning');
is($redis->cli('EXISTS', "cacheaside:$dboid:e:k"),
	'1', 'the entry was stored by the ACL user');
is($node->safe_psql('postgres', "SELECT cache_invalidate('*')"),
	'1', 'the ACL user can invalidate');

# ---------------------------------------------------------------------------
note 'SELECT of another logical database';

$node->append_conf('postgresql.conf', "cacheaside.database = 5\n");
$node->reload;
($ret, $out, $err) = call();
is($out, $rows, 'call with cacheaside.database = 5 returns the rows');
is($redis->cli('-n', '5', 'EXISTS', "cacheaside:$dboid:e:k"),
	'1', 'the entry is in Redis database 5');
is($redis->cli('EXISTS', "cacheaside:$dboid:e:k"),
	'0', 'and not in database 0');

# ---------------------------------------------------------------------------
note 'wrong password: fail open with one WARNING that names no password';

write_password_file('cacheuser wrong-secret-17');
($ret, $out, $err) = call();
is($ret, 0, 'call with a wrong password succeeds');
is($out, $rows, 'and returns the rows from the database');
like($err, qr/WARNING:  cacheaside: Redis is unavailable/, 'with a WARNING');
like($err, qr/Redis refused AUTH for its user: WRONGPASS/,
	'which says Redis refused AUTH');
unlike($err, qr/wrong-secret-17/, 'without the password');

# ---------------------------------------------------------------------------
note 'a user that may not SET: rows, one WARNING about SET';

write_password_file('readonly readonly-secret-42');
my $two_calls = "SELECT cache_invalidate('*') >= 0;\n$query;\n$query;\n";
my ($stdout, $stderr) = ('', '');
$ret = $node->psql('postgres', $two_calls,
	stdout => \$stdout, stderr => \$stderr);
is($ret, 0, 'two calls by a user without SET succeed');
is($stdout, "t\n$rows\n$rows", 'and return the rows');
my @warnings = $stderr =~ /WARNING:/g;
is(scalar @warnings, 1, 'one WARNING for the session');
like($stderr, qr/Redis refused SET/, 'naming the refused command');

# ---------------------------------------------------------------------------
note 'a user that may not GETRANGE: rows, one WARNING about GETRANGE';

write_password_file('noread noread-secret-42');
($stdout, $stderr) = ('', '');
$ret = $node->psql('postgres', "$query;\n$query;\n$query;\n",
	stdout => \$stdout, stderr => \$stderr);
is($ret, 0, 'three calls by a user without GETRANGE succeed');
is($stdout, "$rows\n$rows\n$rows", 'and return the rows');
@warnings = $stderr =~ /WARNING:/g;
is(scalar @warnings, 1, 'one WARNING for the session, not one per call');
like($stderr, qr/Redis refused GETRANGE/, 'naming the refused command');
like($stderr, qr/NOPERM/, 'with Redis\'s reason');

# ---------------------------------------------------------------------------
note 'a password alone, for the default user';

$node->append_conf('postgresql.conf', "cacheaside.database = 0\n");
$node->reload;
$redis->cli('CONFIG', 'SET', 'requirepass', 'default-secret-99');
write_password_file('default-secret-99');
($ret, $out, $err) = call();
is($out, $rows, 'call with the default user and its password returns the rows');
is($err, '', 'without a warning');
is($redis->cli('-a', 'default-secret-99', '--no-auth-warning', 'EXISTS',
		"cacheaside:$dboid:e:k"),
	'1', 'and stored the entry');
write_password_file('not-the-password');
($ret, $out, $err) = call();
is($out, $rows, 'a wrong default password still returns the rows');
like($err, qr/Redis refused AUTH: WRONGPASS/, 'with a WARNING saying why');
$redis->cli('-a', 'default-secret-99', '--no-auth-warning', 'CONFIG', 'SET',
	'requirepass', '');

# ---------------------------------------------------------------------------
note 'a password file others could read is not used';

write_password_file('cacheuser user-secret-42', 0644);
($ret, $out, $err) = call();
is($out, $rows, 'call with an unsafe password file returns the rows');
like($err, qr/password file ".*" has group or world access/,
	'with a WARNING about its permissions');

# ---------------------------------------------------------------------------
note 'no password in the server log';

$node->stop;
my $log = slurp_file($node->logfile);
foreach my $secret ('user-secret-42', 'wrong-secret-17', 'readonly-secret-42',
	'default-secret-99', 'not-the-password')
{
	unlike($log, qr/\Q$secret\E/, "the server log does not contain $secret");
}

$redis->stop;
done_testing();
