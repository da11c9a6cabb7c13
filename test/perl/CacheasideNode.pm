# Copyright: cacheaside contributors

=pod

=head1 NAME

CacheasideNode - a PostgreSQL test node with cacheaside, for the TAP tests

=head1 SYNOPSIS

  use CacheasideNode;

  my $node = cacheaside_node('name', $redis->pg_conf . "cacheaside.retry_interval = 0\n");
  my $rows = create_two_rows($node);    # table t, and its rows as JSON

=head1 FUNCTIONS

=over

=item cacheaside_node(NAME, CONF, INIT_OPTIONS...)

Initializes a PostgreSQL::Test::Cluster node (INIT_OPTIONS go to init),
appends CONF to its postgresql.conf, starts it and creates the extension
in database postgres.  Returns the node.

=item create_two_rows(NODE)

Creates table t (id int, v text) holding (1, 'one') and (2, 'two'), and
returns the JSON text cache_aside_query gives for
C<SELECT * FROM t ORDER BY id>.

=item near_cache_off_wait(NODE)

Waits (polling, up to 30 s) until the node's near-cache is not used any
more: its tracker is out of step with Redis, or was last in step over the
2 s sync bound ago (or there is no near-cache).  After Redis is stopped or
frozen, this is how long near hits may go on.  Returns true when it
happened.

=item wait_for(WHAT, SECONDS, CODE)

Calls CODE every 50 ms until it returns true (returns 1), at most SECONDS
seconds (returns 0, with a diag naming WHAT).  A bound that only catches
hangs, never a timing assertion.

=back

=cut

package CacheasideNode;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use Test::More;
use Time::HiRes qw(time usleep);

our @EXPORT =
  qw(cacheaside_node create_two_rows near_cache_off_wait near_cache_pgbench wait_for);

sub cacheaside_node
{
	my ($name, $conf, %init) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%init);
	$node->append_conf('postgresql.conf', $conf);
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION cacheaside');
	return $node;
}

sub create_two_rows
{
	my ($node) = @_;
	$node->safe_psql(
		'postgres', q{
		CREATE TABLE t (id int, v text);
		INSERT INTO t VALUES (1, 'one'), (2, 'two');
	});
	return qq{[{"id":1,"v":"one"}, \n {"id":2,"v":"two"}]};
}

sub near_cache_off_wait
{
	my ($node) = @_;
	for (1 .. 300)
	{
		return 1
		  if $node->safe_psql('postgres',
			q{SELECT coalesce(local_cache_synced < clock_timestamp() - interval '2 s', true) FROM cache_status()}
		  ) eq 't';
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

# 16 pgbench clients hitting, storing, writing and invalidating keys m1 ..
# m$nkeys of a table "many" (created here) with the near-cache on; then
# every key must give the database's rows, and near hits must have been
# served during the run.  Each check is a test.
sub near_cache_pgbench
{
	my ($node, $nkeys) = @_;

	$node->safe_psql(
		'postgres', qq{
		CREATE TABLE many (id int PRIMARY KEY, v int);
		INSERT INTO many SELECT g, 0 FROM generate_series(1, $nkeys) g;
	});
	my $script = $node->basedir . '/near_pgbench.sql';
	open(my $fh, '>', $script) or die "$script: $!";
	print $fh qq{\\set k random(1, $nkeys)\n} . q{\set r random(1, 100)
SELECT cache_aside_query('m' || :k, 'SELECT v FROM many WHERE id = ' || :k);
SELECT cache_aside_query('m' || :k, 'SELECT v FROM many WHERE id = ' || :k);
WITH u AS (UPDATE many SET v = v + 1 WHERE id = :k AND :r <= 10 RETURNING 1) SELECT count(*) FROM u;
SELECT cache_invalidate('m' || :k) WHERE :r > 95;
};
	close($fh);
	my ($out, $err) = ('', '');
	my $ret = IPC::Run::run(
		[
			'pgbench', '-n', '-c', '16', '-j', '4', '-t', '200', '-f', $script,
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'>', \$out, '2>', \$err);
	ok($ret, 'pgbench: 16 clients, 200 transactions each, no error')
	  or diag $err;
	like($out, qr/number of transactions actually processed: 3200/,
		'every transaction ran');
	my $wrong = $node->safe_psql(
		'postgres', q{
		SELECT count(*) FROM many
		WHERE cache_aside_query('m' || id, 'SELECT v FROM many WHERE id = ' || id)::text
			<> (SELECT json_agg(q)::text FROM (SELECT v FROM many m2 WHERE m2.id = many.id) q)
	});
	is($wrong, '0', "afterwards every key gives the database's rows");
	my $local = $node->safe_psql('postgres',
		q{SELECT sum(local_hits) FROM cache_stats WHERE query LIKE 'SELECT v FROM many%'});
	note "local hits during the run: $local";
	ok($local > 0, 'and near hits were served during the run');
	return;
}

sub wait_for
{
	my ($what, $seconds, $code) = @_;
	my $deadline = time() + $seconds;
	while (time() < $deadline)
	{
		return 1 if $code->();
		usleep(50_000);
	}
	diag("gave up waiting ${seconds}s for: $what");
	return 0;
}

1;
