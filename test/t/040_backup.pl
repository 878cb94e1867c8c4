# Base backups (issue 4) against the S3 test server:
#  - a backup of a pgbench database (scale 10) taken while pgbench writes
#    restores, by a test-side download (parts decoded and extracted here,
#    not by tbdr restore) plus WAL from tbdr archive-get, to a cluster that
#    is consistent at the backup's end (pgbench's balance invariants) and,
#    replayed to the end of the archive, equal to the source;
#  - every file's SHA-256 and offset in the manifest match the stored data;
#  - tbdr_list_backups() reads the repository; progress is shown;
#  - a second concurrent tbdr_backup_now() gets an error naming the first;
#  - a page corrupted on purpose is reported (warning, list, manifest).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Temp qw(tempdir);
use IPC::Run ();
use JSON::PP ();
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TbdrTest::Backup;
use TbdrTest::S3Server;
use TbdrTest::Setup;

my $tbdr = TbdrTest::Setup::tbdr_program();
plan skip_all => 'no zstd program' unless -x '/usr/bin/zstd';

TbdrTest::Setup::isolate_aws_env();

my $tmp = tempdir('tbdr-040-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bucket = 'tbdr-backup';
my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);

my $b = TbdrTest::Backup->new(tbdr => $tbdr, tmp => $tmp, s3 => $s3, bucket => $bucket);
my ($conf, $conf_lines) = ($b->conf, $b->conf_lines);

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(extra => ['--data-checksums']);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tbdr'
wal_level = replica
archive_mode = on
archive_library = 'tbdr'
max_wal_size = '1GB'
tbdr.backup_schedule = ''
tbdr.backup_part_size = '32MB'
tbdr.backup_archive_timeout = '120s'
} . $conf_lines);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION tbdr');
my @pg = ('-p', $node->port, '-h', $node->host);
$node->command_ok([ 'pgbench', '-i', '-s', '10', '-q', @pg, 'postgres' ], 'pgbench -i -s 10');

# --- a backup while pgbench writes ------------------------------------------
my $count_sql = 'SELECT count(*) FROM pgbench_history';
my $bench = IPC::Run::start([ 'pgbench', '-T', '900', '-c', '2', @pg, 'postgres' ],
	'<', \undef, '>', "$tmp/pgbench.out", '2>', "$tmp/pgbench.err");
$node->poll_query_until('postgres', "SELECT ($count_sql) > 100") or die 'pgbench does not write';
my $hist_before = $node->safe_psql('postgres', $count_sql);

my $t0 = time;
my $id = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
my $backup_secs = time - $t0;
my $hist_after = $node->safe_psql('postgres', $count_sql);
$bench->kill_kill;
$bench->finish;
like($id, qr/^\d{8}T\d{6}Z$/, "backup id $id is a UTC timestamp");
cmp_ok($hist_after, '>', $hist_before,
	"pgbench wrote during the backup ($hist_before -> $hist_after history rows)");

# The final state of the source, with all its WAL archived.
$node->safe_psql('postgres', 'CHECKPOINT');
my $last_seg = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
$node->poll_query_until('postgres', "SELECT last_archived_wal >= '$last_seg' FROM pg_stat_archiver")
  or die "timed out waiting for $last_seg to be archived";
my $tables_sql = join(' UNION ALL ', map {
	"SELECT '$_', count(*), coalesce(sum(hashtext(t::text)::bigint), 0) FROM $_ t" }
	qw(pgbench_accounts pgbench_branches pgbench_tellers pgbench_history));
my $source_state = $node->safe_psql('postgres', $tables_sql);

# --- what the server and the repository say ----------------------------------
my $row = $node->safe_psql('postgres',
	"SELECT status, started_at <= finished_at, start_lsn < stop_lsn, timeline, database_bytes, stored_bytes, wal_start, wal_stop, error IS NULL, checksum_failures FROM tbdr_list_backups() WHERE backup_id = '$id'");
my ($status, $times_ok, $lsn_ok, $tli, $db_bytes, $stored, $wal_start, $wal_stop, $no_error, $nfail) = split /\|/, $row;
is($status, 'complete', 'tbdr_list_backups(): complete');
is($times_ok, 't', 'started_at <= finished_at');
is($lsn_ok, 't', 'start_lsn < stop_lsn');
is($tli, 1, 'timeline 1');
is($no_error, 't', 'no error');
is($nfail, 0, 'no checksum failures');
cmp_ok($db_bytes, '>', 150_000_000, "database_bytes $db_bytes");
cmp_ok($stored, '<', $db_bytes / 2, "stored_bytes $stored: compressed");
note sprintf('backup of %.1f MB in %.1f s while pgbench ran; stored %.1f MB (ratio %.2f); WAL %s .. %s',
	$db_bytes / 1e6, $backup_secs, $stored / 1e6, $db_bytes / $stored, $wal_start, $wal_stop);
is($node->safe_psql('postgres', 'SELECT count(*) FROM tbdr_backup_progress()'), 0,
	'no progress row once finished');
like(slurp_file($node->logfile),
	qr/backup \Q$id\E complete in [\d.]+ s: .*, \d+ parts \(by 2 processes\)/,
	'the parts were stored by two processes at once (tbdr.backup_parallel = 2)');

my $m = $b->manifest($id);
is($m->{status}, 'complete', 'manifest status');
is($m->{id}, $id, 'manifest id');
is($m->{system_identifier},
	$node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()'),
	'manifest system identifier');
cmp_ok(scalar @{ $m->{parts} }, '>=', 3, scalar(@{ $m->{parts} }) . ' parts (32 MB of files each, larger files alone, a final one)');
my %paths = map { $_->{path} => $_ } @{ $m->{files} };
my $last_part = $m->{parts}[-1]{part};
for my $f ('backup_label', 'global/pg_control')
{
	ok($paths{$f} && $paths{$f}{part} == $last_part, "$f is in the last part");
}
ok(!$paths{'postmaster.pid'}, 'postmaster.pid left out');
ok(!(grep { m{^pg_wal/.} && !m{^pg_wal/archive_status$} } keys %paths), 'no WAL in the backup');
ok((grep { $_->{path} eq 'pg_wal/archive_status' } @{ $m->{directories} }), 'pg_wal/archive_status directory kept');
ok(!(grep { m{^pg_stat_tmp/} } keys %paths), 'pg_stat_tmp contents left out');
like(slurp_file($b->get("backups/$id/started.json", "$tmp/started.json")), qr/"status": ?"running"/,
	'started.json says running');
ok(!exists $b->list_keys("backups/$id/")->{"backups/$id/failed.json"}, 'no failed.json');

# --- restore: consistent at the backup's end ------------------------------------
my ($ra, $res) = $b->restore_node($node, $id, 'restore_immediate', target => 'immediate');
is_deeply($res->{bad}, [], "all $res->{files} files match their SHA-256 and offset in the manifest");
note sprintf('downloaded %d parts: %.1f MB stored, %.1f MB of tar', $res->{parts},
	$res->{stored} / 1e6, $res->{plain} / 1e6);
$ra->start;
$ra->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'restored cluster did not finish recovery';
my ($sa, $sb, $st, $sh) = split /\|/, $ra->safe_psql('postgres',
	'SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(bbalance) FROM pgbench_branches), (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT coalesce(sum(delta), 0) FROM pgbench_history)');
ok($sa == $sh && $sb == $sh && $st == $sh,
	"consistent at the backup's end: balances agree ($sa, $sb, $st, $sh)");
my $hist_restored = $ra->safe_psql('postgres', $count_sql);
ok($hist_restored >= $hist_before && $hist_restored <= $hist_after,
	"history rows at the backup's end ($hist_restored) between its start and finish counts");
is($ra->safe_psql('postgres', 'SELECT count(*) FROM pgbench_accounts'), 1_000_000, 'all accounts');
$ra->stop;

# --- restore: replayed to the end of the archive, equal to the source -----------
my ($rb) = $b->restore_node($node, $id, 'restore_end');
$rb->start;
$rb->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'restored cluster did not finish recovery';
is($rb->safe_psql('postgres', $tables_sql), $source_state,
	'replayed to the end of the archive: every pgbench table equals the source');
$rb->stop;

# --- two concurrent backups --------------------------------------------------------
my $id1 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now()');
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT tbdr_backup_now()');
isnt($ret, 0, 'a second backup while one runs fails');
like($err, qr/backup \Q$id1\E is already running/, 'the error names the running backup');
my $prog = $node->safe_psql('postgres', 'SELECT backup_id, phase, bytes_total >= 0 FROM tbdr_backup_progress()');
like($prog, qr/^\Q$id1\E\|[a-z ]+\|t$|^$/, "progress while it runs: $prog");
$node->poll_query_until('postgres', "SELECT count(*) = 0 FROM tbdr_backup_progress()")
  or die 'backup did not finish';
is($node->safe_psql('postgres', "SELECT status FROM tbdr_list_backups() WHERE backup_id = '$id1'"),
	'complete', 'the first one completed');

# --- a corrupt page is reported ---------------------------------------------------
$node->safe_psql('postgres', 'CREATE TABLE corrupt_me AS SELECT g, repeat(\'x\', 200) AS pad FROM generate_series(1, 10000) g');
$node->safe_psql('postgres', 'CHECKPOINT');
my $relpath = $node->safe_psql('postgres', "SELECT pg_relation_filepath('corrupt_me')");
my $file = $node->data_dir . "/$relpath";
{
	# flip bytes in the middle of block 3 (its LSN is older than any backup start)
	open(my $fh, '+<:raw', $file) or die "$file: $!";
	seek($fh, 3 * 8192 + 4000, 0);
	print $fh 'CORRUPTED BY TEST';
	close $fh;
}
($ret, $out, $err) = $node->psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
is($ret, 0, 'a backup with a corrupt page completes');
like($err, qr/1 page checksum failures \(\Q$relpath\E block 3\)/, 'and warns naming the page');
my $id3 = $out;
is($node->safe_psql('postgres', "SELECT checksum_failures FROM tbdr_list_backups() WHERE backup_id = '$id3'"),
	1, 'tbdr_list_backups() counts it');
my $m3 = $b->manifest($id3);
is_deeply($m3->{checksum_failures}, [ { path => $relpath, block => 3 } ], 'the manifest lists it');
# put the page back so that the cluster stays usable
$node->safe_psql('postgres', 'DROP TABLE corrupt_me');

$node->stop;
done_testing();
