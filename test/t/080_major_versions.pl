# The repository records the PostgreSQL major version of its WAL and
# backups (tbdr.json, each manifest); another major version is refused,
# clearly, against a real S3 server (Swift + s3api on loopback):
#  - a backup of this version is refused by the tbdr restore of an
#    installation of another major version, before anything is written, with
#    what to do; this version's tbdr restores it;
#  - a cluster of the other major version archiving into the repository is
#    refused: archiving fails, the WAL stays, the log says why (pg_upgrade
#    starts a new system) and what to do; the repository is unchanged.
# Needs a second installation with tbdr installed: TBDR_PG_CONFIGS lists the
# pg_config of every installation (test/run-tests --all-versions sets it;
# .ci/build-pg 18 builds PostgreSQL 18).  Run on 15 it restores and archives
# with 18, run on 18 with 15.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TbdrTest::S3Server;
use TbdrTest::Wal;
use TbdrTest::Setup;

my $tbdr = TbdrTest::Setup::tbdr_program();

TbdrTest::Setup::isolate_aws_env();

# This installation's major version and another installation with tbdr.
my ($me) = `$tbdr --version` =~ /for PostgreSQL (\d+)/
  or die "$tbdr --version does not name a PostgreSQL version";
my ($other, $other_bin);
for my $pgc (split ' ', $ENV{TBDR_PG_CONFIGS} // '')
{
	my $v = `$pgc --version`;
	next unless $v =~ /^PostgreSQL (\d+)/;
	my $major = $1;
	chomp(my $bin = `$pgc --bindir`);
	next if $major == $me || !-x "$bin/tbdr";
	($other, $other_bin) = ($major, $bin);
	last;
}
plan skip_all => 'needs a second PostgreSQL major version with tbdr installed '
  . '(TBDR_PG_CONFIGS; bash .ci/build-pg 18, then make test)'
  unless $other;
note "this installation: PostgreSQL $me; the other: PostgreSQL $other in $other_bin";
my $other_tbdr = "$other_bin/tbdr";
like(`$other_tbdr --version`, qr/for PostgreSQL $other\./,
	"the other tbdr program is built for PostgreSQL $other");

my $tmp = tempdir('tbdr-080-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bucket = 'tbdr-versions';
my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);
my $w = TbdrTest::Wal->new(
	tbdr => $tbdr,
	tmp => $tmp,
	settings => { $s3->tbdr_settings($bucket) });
my $conf = $w->write_conf('main');

# Not init(allows_streaming): one version's PostgreSQL::Test::Cluster drives
# the other's server, and writes settings that only its own version knows.
my $archiving = q{
wal_level = replica
shared_preload_libraries = 'tbdr'
archive_mode = on
archive_library = 'tbdr'
};

# --- a backup of this version ---------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init;
$node->append_conf('postgresql.conf', $archiving . $w->conf_lines);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION tbdr');
$node->safe_psql('postgres', 'CREATE TABLE t AS SELECT generate_series(1, 1000) AS i');
my $id = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
like($id, qr/^\d{8}T\d{6}Z$/, "backup $id of PostgreSQL $me");
$node->stop;

my ($rc, $out, $err) = $w->run($tmp, 'repo-get', '-c', $conf, 'tbdr.json', "$tmp/tbdr.json");
is($rc, 0, 'tbdr.json read') or diag $err;
my $identity = slurp_file("$tmp/tbdr.json");
is(JSON::PP->new->decode($identity)->{pg_version}, $me,
	"tbdr.json records PostgreSQL $me");
($rc, $out, $err) = $w->run($tmp, 'repo-get', '-c', $conf, "backups/$id/manifest.json",
	"$tmp/manifest.json");
is($rc, 0, 'manifest read') or diag $err;
is(int(JSON::PP->new->decode(slurp_file("$tmp/manifest.json"))->{pg_version} / 10000),
	$me, "the manifest records PostgreSQL $me");

# --- restore with the other installation's tbdr: refused --------------------------
my $other_w = TbdrTest::Wal->new(tbdr => $other_tbdr, tmp => $tmp);
my $target = "$tmp/restored_by_$other";
($rc, $out, $err) = $other_w->run($tmp, 'restore', '-c', $conf, '--as', 'copy', '--pgdata', $target,
	'--no-progress');
isnt($rc, 0, "the tbdr of PostgreSQL $other refuses to restore a PostgreSQL $me backup");
like($err,
	qr/backup \Q$id\E is of PostgreSQL $me, but this tbdr program \(\Q$other_tbdr\E\) belongs to PostgreSQL $other/,
	'the error names both versions and the program');
like($err, qr/only be started by the major version that wrote it/, 'the detail says why');
like($err, qr/tbdr program of a PostgreSQL $me installation.*restore with $me, run pg_upgrade/s,
	'the hint says what to do');
ok(!-e $target, 'nothing was written');

# --- this version's tbdr restores it ----------------------------------------------
my $target_ok = "$tmp/restored_by_$me";
($rc, $out, $err) = $w->run($tmp, 'restore', '-c', $conf, '--as', 'copy', '--pgdata', $target_ok,
	'--no-progress', '--target', 'immediate');
is($rc, 0, "the tbdr of PostgreSQL $me restores it") or diag $err;
is(slurp_file("$target_ok/PG_VERSION"), "$me\n", "the restored directory is PostgreSQL $me");

# --- archiving from the other major version: refused -----------------------------
my %wal_before = map { $_ => $w->wal_objects($conf)->{$_}{size} } keys %{ $w->wal_objects($conf) };
my $onode = PostgreSQL::Test::Cluster->new('other', install_path => dirname($other_bin));
$onode->init;
$onode->append_conf('postgresql.conf', $archiving . $w->conf_lines);
$onode->start;
$onode->safe_psql('postgres', 'SELECT pg_switch_wal()');
$onode->poll_query_until('postgres', 'SELECT failed_count > 0 FROM pg_stat_archiver')
  or die 'timed out waiting for the archiver to fail';
is($onode->safe_psql('postgres', 'SELECT archived_count FROM pg_stat_archiver'), '0',
	"PostgreSQL $other archived nothing into the PostgreSQL $me repository");
my $log = slurp_file($onode->logfile);
like($log, qr/holds WAL and backups of PostgreSQL $me, this server is PostgreSQL $other/,
	'the log names both versions');
like($log, qr/major version upgrade \(pg_upgrade\) starts a new database system/,
	'and why');
like($log, qr/Set tbdr.repository to a new prefix for PostgreSQL $other and take a new full backup/,
	'and what to do');
cmp_ok(
	$onode->safe_psql('postgres',
		"SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"),
	'>', 0, 'the WAL stays, waiting to be archived');
$onode->stop;

($rc, $out, $err) = $w->run($tmp, 'repo-get', '-c', $conf, 'tbdr.json', "$tmp/tbdr2.json");
is(slurp_file("$tmp/tbdr2.json"), $identity, 'tbdr.json is unchanged');
my $wal_after = $w->wal_objects($conf);
is_deeply({ map { $_ => $wal_after->{$_}{size} } keys %$wal_after }, \%wal_before,
	'the WAL in the repository is unchanged');

done_testing();
