
############################################################################
#
# RedisServer.pm
#
# A throwaway Redis server for cacheaside's TAP tests, modelled on
# PostgreSQL's src/test/ldap/LdapServer.pm: a free loopback port, started
# and waited for until it answers PING, stopped by pid (also from an END
# block, so a dying test leaves nothing running).
#
############################################################################

=pod

=head1 NAME

RedisServer - class for a Redis server used by cacheaside's TAP tests

=head1 SYNOPSIS

  use RedisServer;

  my $redis = RedisServer->new();          # started, answers PING
  my $port  = $redis->port;

  $node->append_conf('postgresql.conf', $redis->pg_conf);

  my $n = $redis->cli('EXISTS', 'cacheaside:5:e:k1');   # "1"
  $redis->stop;                  # shut down (the port stays reserved)
  $redis->start;                 # again, on the same port
  $redis->freeze;                # SIGSTOP: connections hang
  $redis->thaw;                  # SIGCONT

=head1 DESCRIPTION

The server runs redis-server bound to 127.0.0.1 without persistence
(C<--save '' --appendonly no>), so a restart comes back empty.  Its working
directory is a temporary directory under the test's tmp_check, its log is
C<redis-TESTNAME.log> in the test's log directory.  Every server still
running is stopped in the END phase.

=cut

package RedisServer;

use strict;
use warnings;

use File::Basename;
use IPC::Run;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $redis_server = $ENV{REDIS_SERVER} // 'redis-server';
my $redis_cli    = $ENV{REDIS_CLI}    // 'redis-cli';

my @servers;

END
{
	# keep the test's exit status: stop() runs commands
	my $exit_code = $?;
	foreach my $server (@servers)
	{
		$server->stop if $server->{pid};
	}
	$? = $exit_code;
}

=pod

=head1 METHODS

=over

=item RedisServer->new(%params)

Create a Redis server on a free port and start it.  Parameters:
C<name> (used in file names; default: the test's name),
C<extra_args> (array ref of further redis-server arguments),
C<config> (text of a configuration file the server is started with, which
it may rewrite: Sentinels do),
C<sentinel> (true: run as a Redis Sentinel, which needs C<config>),
C<cluster> (true: run with cluster mode enabled, its nodes file in its
directory, its bus on a free port of its own (not port + 10000, which may
be taken), a node timeout of 2 s and cluster-require-full-coverage off;
see C<create_cluster>).

=cut

sub new
{
	my ($class, %params) = @_;
	my $testname = basename((caller)[1], '.pl');
	my $name = $params{name} // $testname;

	my $self = {
		name => $name,
		host => '127.0.0.1',
		port => PostgreSQL::Test::Cluster::get_free_port(),
		dir => PostgreSQL::Test::Utils::tempdir("redis-$name"),
		logfile => "${PostgreSQL::Test::Utils::log_path}/redis-$name.log",
		extra_args => $params{extra_args} // [],
		config => $params{config},
		sentinel => $params{sentinel} // 0,
		cluster => $params{cluster} // 0,
		# the cluster bus port: a free port of its own, not port + 10000
		cluster_port => ($params{cluster} ? PostgreSQL::Test::Cluster::get_free_port() : undef),
		pid => undef,
		frozen => 0,
		owner => $$,
	};
	bless $self, $class;
	push @servers, $self;
	$self->start;
	return $self;
}

=item $server->start()

Start the server (again) on its port and wait, at most 30 s, until it
answers PING.  Dies when it does not.

=cut

sub start
{
	my $self = shift;
	die "redis-server already running (pid $self->{pid})" if $self->{pid};

	my @conf;
	if (defined $self->{config})
	{
		# written once: a Sentinel rewrites it with what it learns
		my $file = "$self->{dir}/redis.conf";
		PostgreSQL::Test::Utils::append_to_file($file, $self->{config})
		  unless -e $file;
		push @conf, $file;
		push @conf, '--sentinel' if $self->{sentinel};
	}
	my @cmd = (
		$redis_server, @conf,
		'--bind' => $self->{host},
		'--port' => $self->{port},
		'--save' => '',
		'--appendonly' => 'no',
		'--daemonize' => 'no',
		'--dir' => $self->{dir},
		'--pidfile' => "$self->{dir}/redis.pid",
		'--logfile' => $self->{logfile},
		($self->{cluster}
			? ('--cluster-enabled' => 'yes',
				'--cluster-config-file' => "$self->{dir}/nodes.conf",
				'--cluster-port' => $self->{cluster_port},
				'--cluster-node-timeout' => '2000',
				'--cluster-require-full-coverage' => 'no')
			: ()),
		@{ $self->{extra_args} });

	my $pid = fork();
	die "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>>', $self->{logfile});
		open(STDERR, '>&', \*STDOUT);
		exec(@cmd) or POSIX::_exit(127);
	}
	$self->{pid} = $pid;
	$self->{frozen} = 0;

	my $deadline = time() + 30;
	while (1)
	{
		if (waitpid($pid, WNOHANG) == $pid)
		{
			$self->{pid} = undef;
			die "redis-server exited at start (status $?); log:\n"
			  . slurp_file($self->{logfile});
		}
		last if $self->ping;
		if (time() > $deadline)
		{
			$self->stop;
			die "redis-server did not answer PING; log:\n"
			  . slurp_file($self->{logfile});
		}
		usleep(50_000);
	}
	note "redis-server pid $pid listening on $self->{host}:$self->{port}";
	return;
}

=item $server->stop()

Stop the server (SIGTERM, then SIGKILL after 10 s) and wait for it to exit.
A frozen server is thawed first so that it can shut down.

=cut

sub stop
{
	my $self = shift;
	my $pid = $self->{pid};
	return unless $pid;

	kill 'TERM', $pid;
	kill 'CONT', $pid;
	my $deadline = time() + 10;
	while (waitpid($pid, WNOHANG) == 0)
	{
		if (time() > $deadline)
		{
			kill 'KILL', $pid;
			waitpid($pid, 0);
			last;
		}
		usleep(20_000);
	}
	note "redis-server pid $pid stopped";
	$self->{pid} = undef;
	$self->{frozen} = 0;
	return;
}

=item $server->restart()

stop() then start(), on the same port.

=cut

sub restart
{
	my $self = shift;
	$self->stop;
	$self->start;
	return;
}

=item $server->freeze() / $server->thaw()

Send SIGSTOP / SIGCONT: while frozen, the kernel still accepts connections
but no command is ever answered.

=cut

sub freeze
{
	my $self = shift;
	die "redis-server is not running" unless $self->{pid};
	kill 'STOP', $self->{pid} or die "SIGSTOP failed: $!";
	$self->{frozen} = 1;
	return;
}

sub thaw
{
	my $self = shift;
	die "redis-server is not running" unless $self->{pid};
	kill 'CONT', $self->{pid} or die "SIGCONT failed: $!";
	$self->{frozen} = 0;
	return;
}

=item $server->cli(@args)

Run one redis-cli command against the server and return its output
(raw mode, trailing newline removed).  Dies when redis-cli fails or takes
more than 10 s.  In list context returns (stdout, stderr, exit status).

=cut

sub cli
{
	my ($self, @args) = @_;
	my ($stdout, $stderr) = ('', '');
	my @cmd = ($redis_cli, '-h', $self->{host}, '-p', $self->{port}, @args);
	my $ok = eval {
		IPC::Run::run(\@cmd, '<', \undef, '>', \$stdout, '2>', \$stderr,
			IPC::Run::timeout(10));
		1;
	};
	my $status = $ok ? $? >> 8 : -1;
	chomp $stdout;
	chomp $stderr;
	return ($stdout, $stderr, $status) if wantarray;
	die "redis-cli @args failed (status $status): $stderr $@"
	  if !$ok || $status != 0;
	return $stdout;
}

=item $server->ping()

True when the server answers PONG within 2 s.

=cut

sub ping
{
	my $self = shift;
	my $out = '';
	my @cmd = ($redis_cli, '-h', $self->{host}, '-p', $self->{port}, 'PING');
	my $ok = eval {
		IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \my $err,
			IPC::Run::timeout(2));
		1;
	};
	return $ok && $out =~ /^PONG/;
}

=item RedisServer::create_cluster(@servers)

Make a Redis Cluster of servers started with C<cluster>: each a master
(C<redis-cli --cluster create ... --cluster-replicas 0>), the slots split
evenly.  Waits, at most 60 s, until every node reports cluster_state:ok
and knows every other.  Dies when it does not.

=cut

sub create_cluster
{
	my (@servers) = @_;
	my ($stdout, $stderr) = ('', '');
	my @cmd = ($redis_cli, '--cluster', 'create',
		(map { "$_->{host}:$_->{port}" } @servers),
		'--cluster-replicas', '0', '--cluster-yes');
	IPC::Run::run(\@cmd, '<', \undef, '>', \$stdout, '2>', \$stderr,
		IPC::Run::timeout(60))
	  or die "redis-cli --cluster create failed: $stdout $stderr";
	my $deadline = time() + 60;
	foreach my $server (@servers)
	{
		while (1)
		{
			my $info = $server->cli('CLUSTER', 'INFO');
			last
			  if $info =~ /cluster_state:ok/
			  && $info =~ /cluster_known_nodes:(\d+)/
			  && $1 == @servers;
			die "the cluster did not form: $info" if time() > $deadline;
			usleep(50_000);
		}
	}
	return;
}

=item RedisServer::create_cluster_with_replicas(@servers)

Make a Redis Cluster of an even number of servers started with C<cluster>:
half of them masters, each with one replica (C<redis-cli --cluster create
... --cluster-replicas 1>), the slots split evenly over the masters.  Waits,
at most 60 s, until every node reports cluster_state:ok and knows every
other, and every replica's link to its master is up.  Returns a list of
pairs C<[master, replica]>, in the order redis-cli chose the masters (it
decides which server is which).  Dies when the cluster does not form.

=cut

sub create_cluster_with_replicas
{
	my (@servers) = @_;
	my ($stdout, $stderr) = ('', '');
	my @cmd = ($redis_cli, '--cluster', 'create',
		(map { "$_->{host}:$_->{port}" } @servers),
		'--cluster-replicas', '1', '--cluster-yes');
	IPC::Run::run(\@cmd, '<', \undef, '>', \$stdout, '2>', \$stderr,
		IPC::Run::timeout(60))
	  or die "redis-cli --cluster create failed: $stdout $stderr";

	my %by_id = map { (scalar $_->cli('CLUSTER', 'MYID') => $_) } @servers;
	my $deadline = time() + 60;
	my @pairs;
	foreach my $server (@servers)
	{
		while (1)
		{
			my $info = $server->cli('CLUSTER', 'INFO');
			my $repl = $server->cli('INFO', 'replication');
			last
			  if $info =~ /cluster_state:ok/
			  && $info =~ /cluster_known_nodes:(\d+)/
			  && $1 == @servers
			  && ($repl =~ /role:master/ || $repl =~ /master_link_status:up/);
			die "the cluster did not form: $info\n$repl" if time() > $deadline;
			usleep(50_000);
		}
	}
	# CLUSTER NODES: "<id> <addr> <flags> <master id> ..."
	foreach my $line (split /\n/, $servers[0]->cli('CLUSTER', 'NODES'))
	{
		my ($id, $addr, $flags, $master_id) = split / /, $line;
		next unless $flags =~ /slave/;
		push @pairs, [ $by_id{$master_id}, $by_id{$id} ];
	}
	die "expected " . (@servers / 2) . " masters with a replica each"
	  unless @pairs == @servers / 2 && !grep { !defined $_->[0] || !defined $_->[1] } @pairs;
	return @pairs;
}

=item $server->crash()

Kill the server with SIGKILL (no shutdown: its clients' connections are
reset by the kernel) and wait for it to exit.  start() brings it back on
the same port (a cluster node with the same identity, from its nodes file).

=cut

sub crash
{
	my $self = shift;
	my $pid = $self->{pid};
	die "redis-server is not running" unless $pid;
	kill 'KILL', $pid or die "SIGKILL failed: $!";
	waitpid($pid, 0);
	note "redis-server pid $pid killed";
	$self->{pid} = undef;
	$self->{frozen} = 0;
	return;
}

=item $server->port(), $server->host(), $server->pid(), $server->logfile()

Accessors.

=cut

sub port { return $_[0]->{port}; }
sub host { return $_[0]->{host}; }
sub pid { return $_[0]->{pid}; }
sub logfile { return $_[0]->{logfile}; }

=item $server->pg_conf()

postgresql.conf lines pointing cacheaside at this server, with the library
preloaded (automatic invalidation on), as in production.

=cut

sub pg_conf
{
	my $self = shift;
	return "shared_preload_libraries = 'cacheaside'\n"
	  . "cacheaside.host = '$self->{host}'\ncacheaside.port = $self->{port}\n";
}

=back

=cut

sub DESTROY
{
	my $self = shift;
	# only the process that started the server stops it (not forked children)
	$self->stop if $self->{pid} && $self->{owner} && $self->{owner} == $$;
	return;
}

1;
