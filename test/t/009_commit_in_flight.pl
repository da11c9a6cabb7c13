# Copyright: cacheaside contributors
#
# 009_commit_in_flight.pl: a commit that is visible but not yet recorded.
#
# A writer's commit becomes visible to other sessions before the COMMIT
# callbacks run, where cacheaside records it in its ledger.  In between,
# only the in-flight marks the writer made at pre-commit keep the entries
# of what it wrote from being served, and a result computed then from
# being stored.  The test library pause_commit (test/modules/pause_commit),
# listed after cacheaside so that its COMMIT callback runs first, holds the
# writer there while other sessions read.
#
# Skipped when pause_commit is not installed (scripts/test installs it).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use CacheasideNode;
use RedisServer;

my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
plan skip_all => 'the test library pause_commit is not installed'
  unless -f "$pkglibdir/pause_commit.so";

my $redis = RedisServer->new();
my $conf = $redis->pg_conf;
$conf =~ s/^shared_preload_libraries.*\n//m;
my $node = cacheaside_node('inflight',
	$conf . "shared_preload_libraries = 'cacheaside,pause_commit'\n");
$node->safe_psql(
	'postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t VALUES (1, 'old');
	CREATE TABLE u (id int);
});

my $gate = $node->basedir . '/gate';
my $call = q{SELECT cache_aside_query('k', 'SELECT v FROM t', 600)};
my $ucall = q{SELECT cache_aside_query('u', 'SELECT count(*) AS n FROM u', 600)};

my $db = $node->safe_psql('postgres',
	"SELECT oid FROM pg_database WHERE datname = 'postgres'");

# the value stored under a key (binary: compared, never printed)
sub stored
{
	my ($key) = @_;
	return scalar $redis->cli('GET', "cacheaside:$db:e:$key");
}

is($node->safe_psql('postgres', $call), '[{"v":"old"}]', 'the entry is made');
is($node->safe_psql('postgres', $ucall), '[{"n":0}]',
	'and one of another table');
my $stored = stored('k');
my $ustored = stored('u');
ok($stored ne '' && $ustored ne '', 'both are stored');

# hold the writer's COMMIT after its commit became visible (the gate is
# made last: every commit of the session pauses while it exists)
my $writer = $node->background_psql('postgres', on_error_stop => 1);
$writer->query_safe("SET pause_commit.file = '$gate'");
$writer->query_safe('BEGIN');
$writer->query_safe(q{UPDATE t SET v = 'new' WHERE id = 1});
open(my $fh, '>', $gate) or die "cannot create $gate: $!";
close $fh;
$writer->query_until(qr/committing/, "\\echo committing\nCOMMIT;\n");

my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
usleep(10_000) until -e "$gate.reached" || time > $deadline;
ok(-e "$gate.reached", 'the writer is held in its COMMIT callback');

is($node->safe_psql('postgres', 'SELECT v FROM t'),
	'new', 'its commit is visible to other sessions');
is($node->safe_psql('postgres', $call), '[{"v":"new"}]',
	'the entry made before is not served: the committed rows are returned');
is($node->safe_psql('postgres', $call), '[{"v":"new"}]', 'on every call');
ok(stored('k') eq $stored, 'and what those calls computed is not stored');
is( $node->safe_psql(
		'postgres', q{SELECT changed FROM cache_dependencies('k')}),
	't', 'cache_dependencies says the table changed');
is($node->safe_psql('postgres', $ucall),
	'[{"n":0}]', 'the entry of a table it did not write');
ok(stored('u') eq $ustored, 'is served from the cache, not computed again');

# let the writer finish its COMMIT
unlink $gate or die "cannot remove $gate: $!";
$writer->query_safe('SELECT 1');
$writer->quit;

is($node->safe_psql('postgres', $call), '[{"v":"new"}]',
	'once COMMIT returned, the rows are the same');
ok(stored('k') ne $stored, 'and they are stored');

# A pattern in flight is seen through the memo of entries checked against
# the ring of glob patterns (patterns.c).  The writer calls cache_invalidate
# with a pattern naming 'k' in its transaction (recorded at the call,
# before the entry below is made, so older than it), then commits and is
# held while its pattern is marked in flight.  Meanwhile the hitter, with
# auto_invalidate off so that only the record of cache_invalidate counts,
# made the entry and had a hit after a pattern that does not match it,
# which filled its memo: its next call must not be a hit.
my $hitter = $node->background_psql('postgres', on_error_stop => 1);
$hitter->query_safe('SET cacheaside.auto_invalidate = off');
$hitter->query_safe('SET cacheaside.early_refresh = 0');
$writer = $node->background_psql('postgres', on_error_stop => 1);
$writer->query_safe("SET pause_commit.file = '$gate'");
$writer->query_safe('BEGIN');
$writer->query_safe(q{UPDATE t SET v = 'newer' WHERE id = 1});
$writer->query_safe(q{SELECT cache_invalidate('k*')});
is($hitter->query_safe($call), '[{"v":"new"}]',
	'the hitter makes the entry after the pattern was recorded at its call');
$node->safe_psql('postgres', q{SELECT cache_invalidate('other*')});
$stored = stored('k');
is($hitter->query_safe($call), '[{"v":"new"}]',
	'and has a hit after a pattern that does not match it');
ok(stored('k') eq $stored, 'that was a hit: nothing stored again');
# the first hold's mark is gone: waiting for it again means this commit
unlink "$gate.reached";
open($fh, '>', $gate) or die "cannot create $gate: $!";
close $fh;
$writer->query_until(qr/committing/, "\\echo committing\nCOMMIT;\n");
$deadline = time + $PostgreSQL::Test::Utils::timeout_default;
usleep(10_000) until -e "$gate.reached" || time > $deadline;
ok(-e "$gate.reached",
	'the writer is held in its COMMIT callback, its pattern in flight');
is($hitter->query_safe($call), '[{"v":"newer"}]',
	'the hitter is not served the entry its memo knew: the committed rows are returned'
);
unlink $gate or die "cannot remove $gate: $!";
$writer->query_safe('SELECT 1');
$writer->quit;
is($hitter->query_safe($call), '[{"v":"newer"}]',
	'once COMMIT returned, the rows are the same');
$hitter->quit;

$node->stop;
done_testing();
