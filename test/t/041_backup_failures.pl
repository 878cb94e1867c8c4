# Base backups that fail, and scheduled backups (issue 4), against the S3
# test server behind the fault proxy:
#  - a backup interrupted by an immediate server stop shows as failed
#    (interrupted) after the restart, and the next backup marks it failed in
#    the repository and leaves none of its parts or multipart uploads;
#  - a backup whose S3 uploads fail past the retry limit fails with the S3
#    error, and the next run leaves no orphan upload or partial object;
#  - a backup whose part writer is terminated fails and leaves no part or
#    upload (tbdr.backup_max_rate slows it down enough to catch the writer);
#  - a backup whose WAL is not archived fails after
#    tbdr.backup_archive_timeout with an error that says so;
#  - tbdr.backup_schedule fires, and a schedule missed while the server was
#    down is caught up at start (tbdr.backup_catchup).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Temp qw(tempdir);
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TbdrTest::Backup;
use TbdrTest::FaultProxy;
use TbdrTest::S3Server;
use TbdrTest::Setup;

my $tbdr = TbdrTest::Setup::tbdr_program();

TbdrTest::Setup::isolate_aws_env();

my $tmp = tempdir('tbdr-041-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bucket = 'tbdr-backup';
my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);
my $proxy = TbdrTest::FaultProxy->start(target => $s3->endpoint);

# Uncompressed, so that 16 MB parts are multipart uploads of 5 MB parts.
my $b = TbdrTest::Backup->new(tbdr => $tbdr, tmp => $tmp, s3 => $s3, bucket => $bucket,
	endpoint => $proxy->endpoint,
	settings => { s3_part_size => '5MB', compression => 'none' });
my ($conf, $conf_lines) = ($b->conf, $b->conf_lines);

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tbdr'
wal_level = replica
archive_mode = on
archive_library = 'tbdr'
tbdr.backup_schedule = ''
tbdr.backup_part_size = '16MB'
tbdr.backup_archive_timeout = '60s'
} . $conf_lines);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION tbdr');
$node->command_ok([ 'pgbench', '-i', '-s', '5', '-q', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'pgbench -i -s 5');

sub list
{
	my %l;
	for my $line (split /\n/, $node->safe_psql('postgres',
		'SELECT backup_id, status, coalesce(error, \'\') FROM tbdr_list_backups()'))
	{
		my ($id, $status, $error) = split /\|/, $line, 3;
		$l{$id} = { status => $status, error => $error };
	}
	return \%l;
}

sub objects_of
{
	my ($id) = @_;
	return [ sort map { m{^backups/\Q$id\E/(.*)$} ? $1 : () } keys %{ $b->list_keys("backups/$id/") } ];
}

sub uploads { return scalar(grep { $_->{key} =~ m{^main/backups/} } $s3->list_uploads($bucket)) }

# --- an immediate stop in the middle of a backup -------------------------------------
# Slow the backup's uploads down so that the stop lands in its middle.
$proxy->inject(mode => 'delay', seconds => 1, duration => 600, method => 'PUT',
	path_regex => '/backups/.*/part-');
my $id1 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now()');
$node->poll_query_until('postgres',
	"SELECT parts_done >= 1 FROM tbdr_backup_progress() WHERE backup_id = '$id1'")
  or die 'backup made no progress';
$node->stop('immediate');
$proxy->clear;
my $left = objects_of($id1);
ok((grep { /^part-/ } @$left), "the interrupted backup left parts behind (@$left)");
note 'multipart uploads left by the stop: ' . uploads();
$node->start;
my $l = list();
is($l->{$id1}{status}, 'failed', 'after the restart the interrupted backup is listed failed');
like($l->{$id1}{error}, qr/interrupted/, 'as interrupted');

my $id2 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
is(list()->{$id2}{status}, 'complete', 'the next backup completes');
is_deeply(objects_of($id1), [ 'failed.json', 'started.json' ],
	'the next run left only the status objects of the interrupted backup');
my $f1 = $b->manifest($id1, 'failed.json');
is($f1->{status}, 'failed', 'failed.json written');
like($f1->{error}, qr/interrupted/, 'failed.json says interrupted');
is(uploads(), 0, 'no multipart upload left');
is(list()->{$id1}{status}, 'failed', 'listed failed from the repository');

# --- S3 failing past the retry limit ---------------------------------------------
# Part uploads fail, and so do the deletes of the cleanup after the failure,
# so that the next run has to clean up.
$proxy->inject({ mode => 'status', status => 500, duration => 600, method => 'PUT',
		path_regex => '/backups/.*/part-' },
	{ mode => 'status', status => 500, duration => 600, method => 'DELETE',
		path_regex => '/backups/' });
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
isnt($ret, 0, 'a backup whose uploads fail past the retry limit fails');
like($err, qr/backup (\d{8}T\d{6}Z) failed: could not store backup part .*500/s,
	'with the S3 error') or diag $err;
my ($id3) = $err =~ /backup (\d{8}T\d{6}Z) failed/;
$l = list();
is($l->{$id3}{status}, 'failed', 'listed failed');
like($l->{$id3}{error}, qr/part/, 'with its reason');
my $orphans = uploads();
cmp_ok($orphans, '>=', 1, "its cleanup failed too: $orphans multipart upload(s) left");
$proxy->clear;
my $id4 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
is(list()->{$id4}{status}, 'complete', 'with S3 back, the next backup completes');
is(uploads(), 0, 'and no multipart upload is left');
is_deeply(objects_of($id3), [ 'failed.json', 'started.json' ],
	'nor any part of the failed backup');

# --- a backup writer terminated in the middle of a backup -----------------------
# With tbdr.backup_parallel = 2 the parts are stored by the backup worker
# and one "tbdr backup writer 2/2" worker.  tbdr.backup_max_rate = 1 (MB/s)
# keeps the backup slow enough to catch the writer at work; SIGTERM it.
sub writer_pids
{
	my $pm = $node->{_pid};
	my @pids;
	for my $stat (glob '/proc/[0-9]*/stat')
	{
		my ($pid) = $stat =~ m{/proc/(\d+)/};
		open(my $fh, '<', "/proc/$pid/cmdline") or next;
		my $cmd = do { local $/; <$fh> } // '';
		close $fh;
		next unless $cmd =~ /tbdr backup writer/;
		open($fh, '<', $stat) or next;
		my $line = <$fh> // '';
		close $fh;
		my ($ppid) = $line =~ /^\d+ \(.*\) \S+ (\d+)/;
		push @pids, $pid if defined $ppid && $ppid == $pm;
	}
	return @pids;
}
$node->append_conf('postgresql.conf', "tbdr.backup_max_rate = 1\n");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('tbdr.backup_max_rate') = '1'")
  or die 'tbdr.backup_max_rate not reloaded';
my $idw = $node->safe_psql('postgres', 'SELECT tbdr_backup_now()');
my @writers;
for (1 .. 600)
{
	@writers = writer_pids();
	last if @writers == 1;
	select(undef, undef, undef, 0.1);
}
is(scalar(@writers), 1, 'a backup writer process stores parts beside the backup worker');
my $slow = $node->safe_psql('postgres',
	"SELECT bytes_done < bytes_total / 2 FROM tbdr_backup_progress() WHERE backup_id = '$idw'");
is($slow, 't', 'tbdr.backup_max_rate holds the backup back');
kill 'TERM', $writers[0];
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM tbdr_backup_progress()")
  or die 'the backup did not end';
$l = list();
is($l->{$idw}{status}, 'failed', 'a backup whose writer is terminated fails');
like($l->{$idw}{error}, qr/backup writer 2\/2 was terminated while storing part \d+/,
	'saying which writer stopped') or diag $l->{$idw}{error};
is(scalar(writer_pids()), 0, 'no writer is left');
is_deeply(objects_of($idw), [ 'failed.json', 'started.json' ],
	'no part of it is left');
is(uploads(), 0, 'nor a multipart upload');
$node->append_conf('postgresql.conf', "tbdr.backup_max_rate = 0\n");
$node->reload;

# --- WAL not archived ------------------------------------------------------------
$node->append_conf('postgresql.conf', "tbdr.backup_archive_timeout = '5s'\n");
$node->reload;
$proxy->inject(mode => 'status', status => 500, duration => 600, method => 'PUT', path_regex => '/wal/');
($ret, $out, $err) = $node->psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
$proxy->clear;
isnt($ret, 0, 'a backup whose WAL is not archived fails');
like($err, qr/WAL segment [0-9A-F]{24}, needed to restore this backup, was not archived within tbdr.backup_archive_timeout \(5 s\)/,
	'after tbdr.backup_archive_timeout, saying so') or diag $err;
$node->append_conf('postgresql.conf', "tbdr.backup_archive_timeout = '120s'\n");
$node->reload;

# --- an encrypted backup ------------------------------------------------------------
# Parts and status objects go through AES-256-GCM; the repository is still
# listed from SQL, and tbdr verify (the CLI, with the key) checks every part.
# (Encryption stays on for the rest of the test.)  The repository holds
# the unencrypted backups above, which a key alone refuses to read
# (docs/FORMAT.md): the migration opt-in reads them, with a warning.
my $keyfile = "$tmp/tbdr.key";
open(my $kfh, '>', $keyfile) or die;
print $kfh join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32), "\n";
close $kfh;
chmod 0600, $keyfile;
$node->append_conf('postgresql.conf', "tbdr.encryption_key_file = '$keyfile'\n"
	  . "tbdr.allow_unauthenticated_reads = on\n");
$node->reload;
my $id5 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
like(slurp_file($node->logfile), qr/WARNING:  tbdr\.allow_unauthenticated_reads is on/,
	'the opt-in is logged as a warning');
is(list()->{$id5}{status}, 'complete', 'an encrypted backup completes and is listed');
my $raw = slurp_file($b->get("backups/$id5/manifest.json", "$tmp/enc-manifest"));
is(substr($raw, 0, 4), 'TBDR', 'its manifest is stored encrypted');
unlike($raw, qr/pg_control/, 'no file name readable in it');
my $part1 = slurp_file($b->get("backups/$id5/part-000001", "$tmp/enc-part"));
is(ord(substr($part1, 6, 1)), 1, 'its parts are encrypted');
open(my $cfh, '>>', $conf) or die;
print $cfh "tbdr.encryption_key_file = '$keyfile'\ntbdr.allow_unauthenticated_reads = on\n";
close $cfh;
($ret, $out, $err) = $b->tbdr('verify', $id5);
is($ret, 0, 'tbdr verify with the key passes') or diag "$out $err";

# The migration done: without the unencrypted backups, the opt-in goes off
# (its warnings would also disturb poll_query_until, which wants no stderr).
for my $k (sort keys %{ $b->list_keys('backups/') })
{
	next unless $k =~ m{^backups/([^/]+)/} && $1 lt $id5;
	($ret, $out, $err) = $b->tbdr('repo-rm', $k);
	die "repo-rm $k: $err" if $ret;
}
$node->append_conf('postgresql.conf', "tbdr.allow_unauthenticated_reads = off\n");
$node->reload;
$node->poll_query_until('postgres',
	"SELECT current_setting('tbdr.allow_unauthenticated_reads') = 'off'")
  or die 'the reload did not take effect';
is(join(',', sort keys %{ list() }), $id5, 'with the unencrypted backups removed, the opt-in is off and listing works');

# --- the schedule ------------------------------------------------------------------
my $before = scalar keys %{ list() };
$node->append_conf('postgresql.conf', "tbdr.backup_schedule = '* * * * *'\n");
$node->reload;
$node->poll_query_until('postgres',
	"SELECT count(*) > $before AND bool_and(status <> 'running') FROM tbdr_list_backups()")
  or die 'the scheduled backup did not run';
# and the one after it, from the same scheduler (it once hung after its first)
$node->poll_query_until('postgres',
	"SELECT count(*) > $before + 1 AND bool_and(status <> 'running') FROM tbdr_list_backups()")
  or die 'the second scheduled backup did not run';
$node->append_conf('postgresql.conf', "tbdr.backup_schedule = ''\n");
$node->reload;
my @fired = slurp_file($node->logfile) =~ /tbdr: backup \d{8}T\d{6}Z started \(scheduled\)/g;
cmp_ok(scalar @fired, '>=', 2, 'the schedule fired minute after minute');
my $newest = (sort keys %{ list() })[-1];
is(list()->{$newest}{status}, 'complete', "scheduled backup $newest completed");

# Catch-up: every minute is scheduled, and the server is down over a minute
# boundary after the newest backup.
$node->append_conf('postgresql.conf', "tbdr.backup_schedule = '* * * * *'\n");
$node->stop;
# (while the server is down there is nothing to poll but the clock)
my $minute = int(time / 60);
sleep 1 while int(time / 60) == $minute;
my $log_offset = -s $node->logfile;
$node->start;
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM tbdr_list_backups() WHERE backup_id > '$newest' AND status = 'complete'")
  or die 'no catch-up backup';
ok($node->log_contains('tbdr: starting catch-up backup', $log_offset), 'a missed schedule is caught up at start');

$node->stop;
done_testing();
