# Copyright: cacheaside contributors
#
# 008_large_results.pl: results beyond cacheaside.max_value_bytes, up to
# tens of MB, come back whole and equal to what json_agg renders, are not
# stored, and cost the backend no more memory at its peak than PostgreSQL's
# own json_agg returning the same JSON.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use CacheasideNode;
use RedisServer;

my $redis = RedisServer->new();

my $node = cacheaside_node('large', $redis->pg_conf);

my $big = q{SELECT g AS id, repeat('x', 1000) AS v FROM generate_series(1, 30000) g};

# run $sql in a new session; returns (its output, the growth of the
# backend's peak resident set size in kB)
sub peak_growth
{
	my ($sql) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	my $hwm = sub {
		open(my $st, '<', "/proc/$pid/status") or die "no /proc/$pid/status: $!";
		while (<$st>) { return $1 if /^VmHWM:\s+(\d+) kB/; }
		die 'no VmHWM';
	};
	my $before = $hwm->();
	my $out = $s->query_safe($sql);
	my $after = $hwm->();
	$s->quit;
	return ($out, $after - $before);
}

my ($got, $ours) = peak_growth(
	"SELECT md5(cache_aside_query('big', \$q\$$big\$q\$, 60)::text)");
my ($want, $theirs) = peak_growth(
	"SELECT md5(coalesce(json_agg(q), '[]')::text) FROM ($big) q");
my $length = $node->safe_psql('postgres',
	"SELECT length(coalesce(json_agg(q), '[]')::text) FROM ($big) q");
note sprintf('%d bytes of JSON: peak growth %d kB through cache_aside_query, %d kB through json_agg',
	$length, $ours, $theirs);
cmp_ok($length, '>', 30_000_000, 'the result is over 30 MB');
is($got, $want, 'cache_aside_query returns the same JSON as json_agg');
is($node->safe_psql('postgres', "SELECT cache_get_ttl('big') IS NULL"),
	't', 'it is not stored (over cacheaside.max_value_bytes)');
cmp_ok($ours, '<=', $theirs,
	'the backend peaks no higher than with json_agg for the same rows');

# just over the limit, and just under it
my $over = q{SELECT repeat('y', 1100000) AS v};
is( $node->safe_psql('postgres',
		"SELECT length(cache_aside_query('over', \$q\$$over\$q\$, 60)::text), cache_get_ttl('over') IS NULL"),
	'1100010|t',
	'a result of 1.1 MB is returned whole and not stored');
my $under = q{SELECT repeat('z', 1000000) AS v};
is( $node->safe_psql('postgres',
		"SELECT length(cache_aside_query('under', \$q\$$under\$q\$, 60)::text), cache_get_ttl('under') IS NOT NULL"),
	'1000010|t',
	'a result of 1 MB less its header is stored');
is( $node->safe_psql('postgres',
		"SELECT md5(cache_aside_query('under', \$q\$$under\$q\$, 60)::text) = md5(coalesce(json_agg(q), '[]')::text) FROM ($under) q"),
	't',
	'and served whole');

$node->stop;
done_testing();
