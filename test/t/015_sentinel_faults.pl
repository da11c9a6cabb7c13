# Copyright: cacheaside contributors
#
# 015_sentinel_faults.pl: Sentinels that mislead, refuse or change their
# minds.  A master, one replica and three Sentinels, a fake Sentinel whose
# answer the test chooses (test/fake/fake_sentinel.py), and standalone
# Redis servers.
#
#  - the first Sentinel listed names a replica: the next ones are asked and
#    the entry goes to the master;
#  - an ACL user without +role: the warning shows Redis's refusal of ROLE;
#    with +role the user works;
#  - an ACL user in password_file and Sentinels without passwords: the
#    Sentinels are used without AUTH;
#  - a Sentinel naming a Unix socket: not connected to;
#  - cache_invalidate(pattern) whose SCAN is cut by a change of master
#    scans the new master from the start: no matching key is left;
#  - SENTINEL FAILOVER while a session holds a connection to the old
#    master: its cache_invalidate reaches the new master;
#  - cacheaside.sentinel_master set but cacheaside.sentinels ignored
#    (malformed in postgresql.conf): cacheaside.host is not used instead.
#
# Nothing waits a fixed time: each step polls with a generous bound.

use strict;
use warnings;

use File::Basename;
use IPC::Run;
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
  . "sentinel failover-timeout mymaster 10000\n";
my @sentinels = map {
	RedisServer->new(
		name => "sentinel$_",
		config => $sentinel_conf,
		sentinel => 1)
} 1 .. 3;
foreach my $s (@sentinels)
{
	ok( wait_for(
			'a Sentinel to discover the others', 60,
			sub {
				my @o = ($s->cli('SENTINEL', 'sentinels', 'mymaster') =~ /^runid$/mg);
				return $s->cli('SENTINEL', 'replicas', 'mymaster') =~ /^${\ $replica->port}$/m
				  && @o == 2;
			}),
		'Sentinel on port ' . $s->port . ' knows the replica and the others');
}
my $good_list = join(', ', map { '127.0.0.1:' . $_->port } @sentinels);

# the fake Sentinel
my $tmp = $PostgreSQL::Test::Utils::tmp_check;
my $fake_py = dirname(__FILE__) . '/../fake/fake_sentinel.py';
my $fake_port_file = "$tmp/fake_sentinel.port";
my $fake_answer = "$tmp/fake_sentinel.answer";
sub fake_names
{
	my ($host, $port) = @_;
	open(my $fh, '>', "$fake_answer.tmp") or die;
	print $fh "$host $port\n";
	close($fh);
	rename("$fake_answer.tmp", $fake_answer) or die;
	return;
}
fake_names('127.0.0.1', $replica->port);
my $fake = IPC::Run::start([ '/usr/bin/python3', $fake_py, $fake_port_file, $fake_answer ],
	'<', \undef, '>', '/dev/null', '2>', "$tmp/fake_sentinel.err");
ok(wait_for('the fake Sentinel to listen', 30, sub { -e $fake_port_file }),
	'the fake Sentinel listens');
my $fake_port = slurp_file($fake_port_file);

my $node = cacheaside_node('sentinel_faults',
	"shared_preload_libraries = 'cacheaside'\n"
	  . "cacheaside.sentinels = '$good_list'\n"
	  . "cacheaside.sentinel_master = 'mymaster'\n"
	  . "cacheaside.retry_interval = 0\n");
my $rows = create_two_rows($node);
my $dboid = $node->safe_psql('postgres',
	'SELECT oid FROM pg_database WHERE datname = current_database()');
my $prefix = "cacheaside:${dboid}:e:";

sub call_sql
{
	my ($key) = @_;
	return "SELECT cache_aside_query('$key', 'SELECT * FROM t ORDER BY id', 600);\n";
}

# run SQL in a new session: (stdout, stderr)
sub run
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', $sql, stdout => \$out, stderr => \$err);
	return ($out, $err);
}

sub pwfile
{
	my ($name, $text) = @_;
	my $f = "$tmp/$name";
	PostgreSQL::Test::Utils::append_to_file($f, "$text\n") unless -e $f;
	chmod 0600, $f;
	return $f;
}

my ($out, $err);

($out, $err) = run(call_sql('sane'));
is($master->cli('EXISTS', "${prefix}sane"), '1', 'the Sentinels name the master');

# --- a first Sentinel that names a replica --------------------------------------

($out, $err) = run("SET cacheaside.sentinels = '127.0.0.1:$fake_port, $good_list';\n"
	  . call_sql('a1'));
is($out, $rows, 'a first Sentinel naming a replica: the call returns the rows');
is($err, '', 'without a warning');
is($master->cli('EXISTS', "${prefix}a1"), '1',
	'the next Sentinels are asked and the entry is stored on the master');
($out, $err) = run("SET cacheaside.sentinels = '127.0.0.1:$fake_port';\n" . call_sql('a2'));
like(
	$err,
	qr/DETAIL:  Redis at 127.0.0.1:${\ $replica->port}, named master "mymaster" by a Sentinel, is not usable: it is a slave, not a master \(named by the Redis Sentinel at 127.0.0.1:$fake_port\)/,
	'with only that Sentinel, the warning names the replica and the Sentinel');

# --- ACL users --------------------------------------------------------------------

$_->cli('ACL', 'SETUSER', 'cacheaside', 'on', '>secret', '~cacheaside:*', '+getrange',
	'+get', '+set', '+unlink', '+scan', '+ttl', '+pttl', '+expire', '+select')
  foreach ($master, $replica);
my $pw_ca = pwfile('pw_ca', 'cacheaside secret');
($out, $err) = run("SET cacheaside.password_file = '$pw_ca';\n" . call_sql('b1'));
is($out, $rows, 'an ACL user without +role: the call returns the rows');
like($err, qr/DETAIL:  .*is not usable: it refused ROLE: NOPERM/,
	"and the warning shows Redis's refusal of ROLE");
$_->cli('ACL', 'SETUSER', 'cacheaside', '+role') foreach ($master, $replica);
($out, $err) = run("SET cacheaside.password_file = '$pw_ca';\n" . call_sql('b2'));
is($err, '', 'with +role the ACL user works (Sentinels without a password)');
is($master->cli('EXISTS', "${prefix}b2"), '1', 'and the entry is stored');

$_->cli('ACL', 'SETUSER', 'app', 'on', '>s3cret', '~*', '+@all') foreach ($master, $replica);
my $pw_app = pwfile('pw_app', 'app s3cret');
($out, $err) = run("SET cacheaside.password_file = '$pw_app';\n" . call_sql('c1'));
is($err, '', 'a user Sentinels do not know (WRONGPASS there): no warning');
is($master->cli('EXISTS', "${prefix}c1"), '1', 'and the entry is stored');

# a Sentinel that requires a password it is not given
$sentinels[0]->cli('ACL', 'SETUSER', 'default', 'resetpass', '>other');
($out, $err) = run("SET cacheaside.password_file = '$pw_app';\n"
	  . "SET cacheaside.sentinels = '127.0.0.1:" . $sentinels[0]->port . "';\n"
	  . call_sql('c2'));
is($out, $rows, 'a Sentinel refusing the password: the call returns the rows');
like($err, qr/DETAIL:  Redis Sentinel at 127.0.0.1:\d+ refused AUTH: WRONGPASS/,
	'and the warning shows the refusal of AUTH') or diag($err);
$sentinels[0]->cli('-a', 'other', '--no-auth-warning', 'ACL', 'SETUSER', 'default', 'nopass');

# --- a Unix socket named by a Sentinel ------------------------------------------------

my $sock = "$tmp/other.sock";
my $other = RedisServer->new(name => 'other', extra_args => [ '--unixsocket', $sock ]);
fake_names($sock, '6379');
($out, $err) = run("SET cacheaside.sentinels = '127.0.0.1:$fake_port';\n" . call_sql('d1'));
is($out, $rows, 'a Sentinel naming a Unix socket: the call returns the rows');
like($err, qr/DETAIL:  Redis Sentinel at 127.0.0.1:$fake_port gave an unexpected reply/,
	'and the warning says the answer was not usable');
is($other->cli('EXISTS', "${prefix}d1"), '0', 'nothing is stored through the socket');
$other->stop;

# --- a SCAN cut by a change of master ---------------------------------------------------

my $x = RedisServer->new(name => 'scan_x');
my $y = RedisServer->new(name => 'scan_y');
my $nkeys = 200_000;
my $resp = '';
for my $i (0 .. $nkeys - 1)
{
	my $k = "${prefix}big:$i";
	$resp .= "*3\r\n\$3\r\nSET\r\n\$" . length($k) . "\r\n$k\r\n\$1\r\nv\r\n";
}
IPC::Run::run([ 'redis-cli', '-p', $x->port, '--pipe' ], '<', \$resp, '>', '/dev/null');
is($x->cli('DBSIZE'), $nkeys, 'keys to invalidate');
$y->cli('REPLICAOF', '127.0.0.1', $x->port);
ok( wait_for(
		'the second server to replicate them', 60,
		sub {
			$y->cli('INFO', 'replication') =~ /master_link_status:up/
			  && $y->cli('DBSIZE') eq $nkeys;
		}),
	'a replica holds them too');
fake_names('127.0.0.1', $x->port);
my ($sout, $serr) = ('', '');
my $h = IPC::Run::start(
	[
		'psql', '-X', '-At', '-d', $node->connstr('postgres'),
		'-c', "SET cacheaside.sentinels = '127.0.0.1:$fake_port'",
		'-c', 'SET cacheaside.command_timeout = 60000',
		'-c', "SELECT cache_invalidate('big:*')"
	],
	'<', \undef, '>', \$sout, '2>', \$serr);
ok(wait_for('the SCAN to be under way', 60, sub { $x->cli('DBSIZE') < $nkeys - 5000 }),
	'cache_invalidate is under way');
# the switch: the first server stops answering, the replica is promoted
# and named by the Sentinel, and the first server dies
$x->freeze;
$y->cli('REPLICAOF', 'NO', 'ONE');
fake_names('127.0.0.1', $y->port);
kill 'KILL', $x->pid;
$x->{pid} = undef;
$h->finish;
note "cache_invalidate returned: $sout $serr";
is($y->cli('DBSIZE'), '0',
	'cache_invalidate cut by a change of master leaves no matching key on the new master');
$y->stop;

# --- SENTINEL FAILOVER while a session holds the old master -------------------------------

$node->safe_psql('postgres', q{UPDATE t SET v = 'one' WHERE id = 1});
run("SET cacheaside.auto_invalidate = off;\n" . call_sql('f1'));
ok(wait_for('f1 to replicate', 30, sub { $replica->cli('EXISTS', "${prefix}f1") eq '1' }),
	'an entry replicated');
my $b = $node->background_psql('postgres', on_error_stop => 0);
$b->query_safe('SET cacheaside.auto_invalidate = off');
$b->query_safe(call_sql('f0'));
$sentinels[1]->cli('SENTINEL', 'FAILOVER', 'mymaster');
ok( wait_for(
		'the Sentinels to name the replica', 60,
		sub {
			($sentinels[0]->cli('SENTINEL', 'get-master-addr-by-name', 'mymaster')) =~
			  /^${\ $replica->port}$/m;
		}),
	'the Sentinels name the replica');
$node->safe_psql('postgres', q{UPDATE t SET v = 'uno' WHERE id = 1});
is($b->query_safe("SELECT cache_invalidate('f1')"), '1',
	'a session connected before the failover invalidates');
is($replica->cli('EXISTS', "${prefix}f1"), '0', 'on the new master');
($out, $err) = run("SET cacheaside.auto_invalidate = off;\n" . call_sql('f1'));
like($out, qr/"uno"/, 'a new session is not served the invalidated entry');
$b->quit;

# --- sentinel_master without usable sentinels ---------------------------------------------

my $standalone = RedisServer->new(name => 'standalone');
$node->append_conf('postgresql.conf',
	"cacheaside.sentinels = '$good_list,'\ncacheaside.host = '127.0.0.1'\ncacheaside.port = "
	  . $standalone->port . "\n");
$node->restart;
($out, $err) = run(call_sql('g1'));
like($out, qr/"uno"/, 'a malformed cacheaside.sentinels in postgresql.conf: the call returns the rows');
like($err,
	qr/DETAIL:  cacheaside.sentinel_master is set but cacheaside.sentinels is empty/,
	'and the warning says why');
is($standalone->cli('EXISTS', "${prefix}g1"), '0', 'cacheaside.host is not used instead');

$node->stop;
$fake->kill_kill;
done_testing();
