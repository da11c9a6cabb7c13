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
use PostgreSQL::Test::Cluster;
use Test::More;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(cacheaside_node create_two_rows near_cache_off_wait wait_for);

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
