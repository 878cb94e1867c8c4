# The archive module (archive_library = 'tbdr') against a real S3 server
# (Swift + s3api on loopback):
#  - under a pgbench load every segment PostgreSQL generated is in the
#    repository, without a gap, and archive-get returns each byte-identical;
#  - re-archiving an identical segment succeeds; a different object at a
#    segment's key makes archiving fail loudly, never overwritten, and
#    PostgreSQL keeps the segment;
#  - with encryption, archive-get with the wrong key fails clearly;
#  - a WAL object that decodes to more than a segment (a zstd bomb) is
#    refused by archive-get in the data directory, nothing written;
#  - a second cluster (other system identifier) is refused;
#  - without a repository the archiver warns and keeps the WAL;
#  - a standby with archive_mode = always archives into the same repository;
#  - without shared_preload_libraries archiving works, tbdr_status() refuses.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Compare qw(compare);
use File::Temp qw(tempdir);
use JSON::PP ();
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TbdrTest::Data;
use TbdrTest::S3Server;
use TbdrTest::Wal;
use TbdrTest::Setup;

my $tbdr = TbdrTest::Setup::tbdr_program();

TbdrTest::Setup::isolate_aws_env();

my $tmp = tempdir('tbdr-030-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bucket = 'tbdr-wal';
my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);

my $w = TbdrTest::Wal->new(
	tbdr => $tbdr,
	tmp => $tmp,
	settings => { $s3->tbdr_settings($bucket), s3_timeout => 10 });
sub conf_lines { return $w->conf_lines(@_) }
sub write_conf { return $w->write_conf(@_) }
sub tbdr { return $w->run($tmp, @_) }
sub tbdr_in { return $w->run(@_) }
sub repo_wal_names { return $w->wal_objects($_[0]) }

# Switch to a new segment and wait until it and everything before it is
# archived (nothing .ready left).
sub switch_and_wait
{
	my ($node) = @_;
	my $seg = TbdrTest::Wal::switch_and_wait($node);
	$node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'")
	  or die "timed out waiting for the archive queue to drain";
	return $seg;
}

my $conf = write_conf('main');

# --- the primary ---------------------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tbdr'
archive_mode = on
archive_library = 'tbdr'
wal_keep_size = '4GB'
max_wal_size = '4GB'
log_min_messages = debug1
} . conf_lines());
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION tbdr');
my $sysid = $node->safe_psql('postgres',
	'SELECT system_identifier FROM pg_control_system()');

# Load: pgbench initialization and a short run, then segment switches.
my $t0 = time;
$node->command_ok([ 'pgbench', '-i', '-s', '10', '-q', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'pgbench -i');
$node->command_ok([ 'pgbench', '-T', '5', '-c', '2', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'pgbench run');
$node->safe_psql('postgres', 'SELECT pg_switch_wal()') for 1 .. 3;
my $last = switch_and_wait($node);
my $elapsed = time - $t0;

my $arch = $node->safe_psql('postgres',
	'SELECT archived_count, failed_count FROM pg_stat_archiver');
my ($archived, $failed) = split /\|/, $arch;
note sprintf('archived %d segments (load and archiving) in %.1f s, %d failed attempts',
	$archived, $elapsed, $failed);
cmp_ok($archived, '>=', 5, "pgbench produced and archived $archived segments");
is($failed, 0, 'no archiving failure under load');

# The repository identity.
my ($rc, $out, $err) = tbdr('repo-get', '-c', $conf, 'tbdr.json', "$tmp/tbdr.json");
is($rc, 0, 'tbdr.json exists') or diag $err;
my $id = JSON::PP->new->decode(slurp_file("$tmp/tbdr.json"));
is($id->{system_identifier}, $sysid, 'tbdr.json records the system identifier');
is($id->{pg_version},
	int($node->safe_psql('postgres', 'SHOW server_version_num') / 10000),
	'tbdr.json records the PostgreSQL major version');
is($id->{format_version}, 1, 'tbdr.json format version');

# Every segment PostgreSQL archived (.done) is in the repository, and the
# segments from the first to the last form an unbroken range.
my @done = sort map { /^([0-9A-F]{24})\.done$/ ? $1 : () }
  split /\n/, $node->safe_psql('postgres', 'SELECT name FROM pg_ls_archive_statusdir()');
my $names = repo_wal_names($conf);
my @missing = grep { !exists $names->{$_} } @done;
is(scalar(@missing), 0, scalar(@done) . ' archived segments all in the repository')
  or diag "missing: @missing";
my @segs = sort grep { /^[0-9A-F]{24}$/ } keys %$names;
my $gaps = scalar(TbdrTest::Wal::gaps(@segs));
is($gaps, 0, "no gap in $segs[0] .. $segs[-1]");
is($segs[-1], $last, 'the last switched segment is the last one stored');
my ($plain, $stored) = split /\|/, $node->safe_psql('postgres',
	'SELECT archived_bytes, stored_bytes FROM tbdr_status()');
note sprintf('stored %d bytes for %d bytes of WAL (%.1f%%)', $stored, $plain, 100 * $stored / ($plain || 1));
cmp_ok($stored, '<', $plain, 'zstd: less stored than archived');
my ($st_last, $st_count, $st_fail, $st_queue, $st_oldest, $st_worker) = split /\|/,
  $node->safe_psql('postgres',
	'SELECT last_archived_wal, archived_count, failed_count, queue_depth, oldest_ready_wal, worker_state FROM tbdr_status()');
is($st_last, $last, 'tbdr_status(): last_archived_wal');
cmp_ok($st_count, '>=', $archived, 'tbdr_status(): archived_count counts every segment');
is($st_fail, 0, 'tbdr_status(): failed_count');
is($st_queue, 0, 'tbdr_status(): queue_depth 0 once drained');
is($st_oldest, '', 'tbdr_status(): no oldest ready segment');
like($st_worker, qr/^\w+/, "tbdr_status(): worker_state ($st_worker)");

# archive-get returns each segment byte-identical to pg_wal's copy.
my $pgwal = $node->data_dir . '/pg_wal';
my ($same, $diff) = (0, 0);
$t0 = time;
for my $seg (@done)
{
	next unless -f "$pgwal/$seg";
	($rc, $out, $err) = tbdr('archive-get', '-c', $conf, $seg, "$tmp/got");
	if ($rc == 0 && compare("$tmp/got", "$pgwal/$seg") == 0) { $same++ }
	else { $diff++; diag "archive-get $seg: rc $rc $err" }
}
note sprintf('archive-get of %d segments in %.1f s', $same + $diff, time - $t0);
cmp_ok($same, '>=', 5, "archive-get returned $same segments byte-identical");
is($diff, 0, 'no segment differs');
ok(!-e "$tmp/got.tbdr-tmp.$$", 'no temporary file left');

# A missing file: exit 1 and no noise.
($rc, $out, $err) = tbdr('archive-get', '-c', $conf, '0000000100000000000000FF', "$tmp/none");
is($rc, 1, 'archive-get of a missing segment exits 1');
is($err, '', 'quietly');
ok(!-e "$tmp/none", 'and creates nothing');
($rc, $out, $err) = tbdr('archive-get', '-c', $conf, '00000002.history', "$tmp/none");
is($rc, 1, 'archive-get of a missing history file exits 1');

# A zstd bomb stored as a segment: 17 MiB of zeros (a few KB stored), more
# than a segment of this cluster (16 MiB, read from pg_control), so
# archive-get run as restore_command refuses it and writes nothing.
my $bomb = '0000000100000000000000FE';
open(my $bfh, '>', "$tmp/$bomb") or die;
print $bfh "\0" x (17 * 1024 * 1024);
close $bfh;
($rc, $out, $err) = tbdr_in($node->data_dir, 'archive-push', '-c', $conf, "$tmp/$bomb");
is($rc, 0, 'a 17 MiB object stored as a segment') or diag $err;
my $conf_nopf = write_conf('noprefetch', restore_prefetch => 0);
($rc, $out, $err) = tbdr_in($node->data_dir, 'archive-get', '-c', $conf_nopf, $bomb,
	"pg_wal/RECOVERYXLOG");
ok($rc != 0 && $rc != 1, 'archive-get refuses it, with the code that stops recovery')
  or diag "rc $rc";
like($err, qr/decodes to more than 16777216 bytes, more than a WAL segment of this cluster can have/,
	'the error says why') or diag $err;
ok(!-e "$pgwal/RECOVERYXLOG", 'nothing written to pg_wal');
opendir(my $wdh, $pgwal) or die;
is(scalar(grep { /tbdr-tmp/ } readdir($wdh)), 0, 'no temporary file left in pg_wal');
closedir($wdh);

# --- idempotent re-archive -------------------------------------------------------
my $again = $done[-1];
my $count_before = $node->safe_psql('postgres', 'SELECT archived_count FROM tbdr_status()');
rename("$pgwal/archive_status/$again.done", "$pgwal/archive_status/$again.ready") or die;
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
switch_and_wait($node);
my ($count_after, $nfail) = split /\|/, $node->safe_psql('postgres',
	'SELECT archived_count, failed_count FROM tbdr_status()');
cmp_ok($count_after, '>', $count_before, 'an identical segment is archived again without error');
is($nfail, 0, 'no failure for the re-archived segment');
($rc, $out, $err) = tbdr_in($node->data_dir, 'archive-push', '-c', $conf, "pg_wal/$again");
is($rc, 0, 'tbdr archive-push of an identical segment succeeds') or diag $err;
($rc, $out, $err) = tbdr_in($tmp, 'archive-push', '-c', $conf, "$pgwal/$again");
is($rc, 1, 'tbdr archive-push outside a data directory fails');
like($err, qr/not a PostgreSQL data directory.*PGDATA/, 'and says to run it in the data directory');

# --- a different object at the next segment's key -------------------------------
# Write first: right after a switch, pg_walfile_name() of the current
# position names the previous, already archived segment.
$node->safe_psql('postgres', 'CREATE TABLE impostor_marker ()');
my $next = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_insert_lsn())');
open(my $fh, '>', "$tmp/$next") or die;
print $fh pack('N', $_ * 7919) x 1024 for 1 .. 1024;	# 4 MB of other data
close $fh;
($rc, $out, $err) = tbdr_in($node->data_dir, 'archive-push', '-c', $conf, "$tmp/$next");
is($rc, 0, "an impostor object for $next stored") or diag $err;
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
$node->poll_query_until('postgres',
	"SELECT failed_count > 0 AND last_failed_wal = '$next' FROM pg_stat_archiver")
  or die 'archiving did not fail';
ok($node->log_contains(qr/WARNING: .*tbdr could not archive "$next": WAL file "$next" is already in repository .* with different content/,
	$log_offset), 'the conflict is a loud WARNING');
ok(-f "$pgwal/$next" && -f "$pgwal/archive_status/$next.ready",
	'PostgreSQL keeps the segment, still ready');
my ($lf, $lmsg) = split /\|/, $node->safe_psql('postgres',
	'SELECT last_failed_wal, last_failure FROM tbdr_status()');
is($lf, $next, 'tbdr_status() names the failed segment');
like($lmsg, qr/different content/, 'tbdr_status() has the message');
($rc, $out, $err) = tbdr('archive-get', '-c', $conf, $next, "$tmp/impostor");
ok($rc == 0 && compare("$tmp/impostor", "$tmp/$next") == 0,
	'the object was not overwritten');
# Remove the impostor: the archiver stores the real segment on its next try.
my $key = "wal/" . substr($next, 0, 16) . "/$next";
($rc, $out, $err) = tbdr('repo-rm', '-c', $conf, $key);
is($rc, 0, 'impostor removed') or diag $err;
switch_and_wait($node);
($rc, $out, $err) = tbdr('archive-get', '-c', $conf, $next, "$tmp/real");
ok($rc == 0 && compare("$tmp/real", "$pgwal/$next") == 0,
	'after that the real segment is archived');

# --- encryption ----------------------------------------------------------------
sub write_key { return TbdrTest::Data::key_file("$tmp/$_[0]", $_[1]) }
my $key1 = write_key('key1', 'a1' x 32);
my $key2 = write_key('key2', 'b2' x 32);
$node->append_conf('postgresql.conf', "tbdr.encryption_key_file = '$key1'\n");
$node->reload;
# The postmaster signals the archiver when it has read the file; a new
# session sees the value only after that.
$node->poll_query_until('postgres', 'SHOW tbdr.encryption_key_file', $key1)
  or die 'the reload did not take effect';
$node->safe_psql('postgres', 'CREATE TABLE enc_marker ()');
$log_offset = -s $node->logfile;
my $enc = switch_and_wait($node);
# (Whether a process logs "reopening" depends on which process had the
# repository open; the segment archived after the reload being encrypted
# is what matters, checked next.)
my $conf1 = write_conf('key1', encryption_key_file => $key1);
my $conf2 = write_conf('key2', encryption_key_file => $key2);
($rc, $out, $err) = tbdr('archive-get', '-c', $conf1, $enc, "$tmp/enc");
ok($rc == 0 && compare("$tmp/enc", "$pgwal/$enc") == 0,
	'encrypted segment: archive-get with the key returns it byte-identical') or diag $err;
($rc, $out, $err) = tbdr('archive-get', '-c', $conf2, $enc, "$tmp/enc2");
isnt($rc, 0, 'archive-get with the wrong key fails');
isnt($rc, 1, 'with an exit code that stops recovery, not the "missing" one');
like($err, qr/key/i, 'the error is about the key') or diag $err;
note "wrong key: $err";
ok(!-e "$tmp/enc2", 'nothing written with the wrong key');
($rc, $out, $err) = tbdr('archive-get', '-c', $conf, $enc, "$tmp/enc3");
isnt($rc, 0, 'archive-get without a key fails');
like($err, qr/encrypt|key/i, 'and says so') or diag $err;

# --- a standby with archive_mode = always ----------------------------------------
$node->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'b1', has_streaming => 1);
$standby->append_conf('postgresql.conf', "archive_mode = always\n");
$standby->start;
$node->safe_psql('postgres', 'CREATE TABLE s AS SELECT generate_series(1, 100000) g');
my $sseg = switch_and_wait($node);
$node->wait_for_catchup($standby);
$standby->poll_query_until('postgres',
	"SELECT last_archived_wal >= '$sseg' FROM pg_stat_archiver")
  or diag 'standby did not archive ' . $sseg;
is($standby->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver'), 0,
	'the standby archives the same segments into the same repository without conflict');
$standby->stop;

# --- another database system on the same repository -------------------------------
my $other = PostgreSQL::Test::Cluster->new('other');
$other->init(allows_streaming => 1);
# No shared_preload_libraries: archiving works, tbdr_status() refuses.
$other->append_conf('postgresql.conf', qq{
archive_mode = on
archive_library = 'tbdr'
} . conf_lines());
$other->start;
my $before = repo_wal_names($conf);
$other->safe_psql('postgres', 'SELECT pg_switch_wal()');
$other->poll_query_until('postgres', 'SELECT failed_count > 0 FROM pg_stat_archiver')
  or die 'the other cluster did not fail';
ok($other->log_contains(qr/WARNING: .*belongs to database system $sysid, this server is \d+/),
	'a second cluster is refused: the repository belongs to another system');
ok($other->log_contains(qr/HINT: .*tbdr\.repository/), 'with a hint to use another tbdr.repository');
ok($other->log_contains(qr/not in shared_preload_libraries/),
	'archiving without preloading warns that the status is not kept');
my $after = repo_wal_names($conf);
is_deeply([ map { "$_:$after->{$_}{etag}" } sort keys %$after ],
	[ map { "$_:$before->{$_}{etag}" } sort keys %$before ],
	'nothing of the repository changed');
my $ocwd = $other->data_dir;
{
	my ($orc, $o, $e) = tbdr_in($ocwd, 'archive-push', '-c', $conf, 'pg_wal/000000010000000000000001');
	isnt($orc, 0, 'tbdr archive-push from the other cluster is refused too');
	like($e, qr/belongs to database system $sysid/, 'with the same message');
}
$other->safe_psql('postgres', 'CREATE EXTENSION tbdr');
my ($ok, $sout, $serr) = $other->psql('postgres', 'SELECT * FROM tbdr_status()');
like($serr, qr/tbdr is not loaded at server start.*HINT:.*shared_preload_libraries/s,
	'tbdr_status() without preloading: an error with a hint');

# --- no repository: warn and keep the WAL ---------------------------------------------
$other->append_conf('postgresql.conf', "tbdr.repository = ''\n");
$other->reload;
$log_offset = -s $other->logfile;
$other->safe_psql('postgres', 'CHECKPOINT');    # WAL in the segment to switch
my $kept = $other->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal() - 1)');
my $warned = 0;
for (1 .. 60)
{
	$warned = 1, last if $other->log_contains(qr/WARNING: .*tbdr\.repository is not set/, $log_offset);
	sleep 1;
}
ok($warned, 'no repository: the archiver warns, naming tbdr.repository');
ok(-f $other->data_dir . "/pg_wal/archive_status/$kept.ready", 'and keeps the WAL');
$other->stop;

$node->stop;
$s3->stop;
done_testing();
