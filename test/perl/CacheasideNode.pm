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

=back

=cut

package CacheasideNode;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(cacheaside_node create_two_rows);

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

1;
