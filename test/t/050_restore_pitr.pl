# tbdr restore / list / verify against a real S3 server (Swift + s3api on
# loopback), with backups taken by the server (tbdr_backup_now):
#  - a workload records marker rows with their commit times; a restore to a
#    time between two markers yields exactly the markers before it; so do
#    restores to an LSN, to a named restore point, to an xid (exclusive) and
#    to "immediate";
#  - a promoted PITR restore that keeps archiving on timeline 2, then a
#    second restore that follows timeline 2 (ignoring a newer backup of the
#    old timeline taken after the branch point);
#  - tbdr list shows the backups and the window; targets outside it are
#    refused with a message naming it; bad arguments get clear errors;
#  - a corrupted part is caught by verify and by restore, naming it; a
#    missing WAL segment is caught by verify;
#  - --delta over a stale copy rewrites only what changed and gives the same
#    files as a fresh restore;
#  - an encrypted repository restores only with the right key.
# Tablespaces: the markers live in a tablespace, restored elsewhere with
# --tablespace-map.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Compare qw(compare);
use File::Find qw(find);
use File::Path qw(rmtree);
use File::Temp qw(tempdir);
use IPC::Run qw(run);
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

my $tmp = tempdir('tbdr-050-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bucket = 'tbdr-pitr';
my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);
my $json = JSON::PP->new;

my %base = ($s3->tbdr_settings($bucket),
	backup_schedule => '',
	backup_part_size => 1);

my $w = TbdrTest::Wal->new(tbdr => $tbdr, tmp => $tmp, settings => \%base);
sub conf_lines { return $w->conf_lines(@_) }
sub write_conf { return $w->write_conf(@_) }

# Run tbdr; returns (exit code, stdout, stderr).
sub tbdr
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	run([ $tbdr, @args ], '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

my $conf = write_conf('main');

sub switch_and_wait { return TbdrTest::Wal::switch_and_wait(@_) }

# --- the primary ----------------------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tbdr'
archive_mode = on
archive_library = 'tbdr'
track_commit_timestamp = on
max_wal_size = '1GB'
} . conf_lines());
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION tbdr');
my $ts_old = "$tmp/ts_primary";
mkdir $ts_old or die;
$node->safe_psql('postgres', "CREATE TABLESPACE ts1 LOCATION '$ts_old'");
$node->safe_psql('postgres', 'CREATE TABLE markers (id text PRIMARY KEY, at timestamptz DEFAULT clock_timestamp()) TABLESPACE ts1');
$node->command_ok([ 'pgbench', '-i', '-s', '3', '-q', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'pgbench -i -s 3');

my $b1 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
like($b1, qr/^\d{8}T\d{6}Z$/, "backup B1 $b1");

# Markers, each in its own transaction; commit times from track_commit_timestamp.
my (%commit, %lsn_after, %xid);
sub marker
{
	my ($id) = @_;
	$xid{$id} = $node->safe_psql('postgres',
		"INSERT INTO markers (id) VALUES ('$id') RETURNING xmin");
	$commit{$id} = $node->safe_psql('postgres',
		"SELECT pg_xact_commit_timestamp(xmin) FROM markers WHERE id = '$id'");
	$lsn_after{$id} = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	# commit times must differ clearly (recovery_target_time has microseconds)
	$node->safe_psql('postgres', 'SELECT pg_sleep(0.3)');
	return;
}
$node->safe_psql('postgres', 'SELECT pg_sleep(1.1)');	# past B1's stop second
marker("m$_") for 1 .. 4;
$node->safe_psql('postgres', "SELECT pg_create_restore_point('after_m4')");
marker("m$_") for 5 .. 6;
switch_and_wait($node);
note "commit times: " . join(', ', map { "$_ $commit{$_}" } sort keys %commit);

# A time between m2 and m3: the midpoint, computed by PostgreSQL.
my $t_mid = $node->safe_psql('postgres',
	"SELECT to_char(('$commit{m2}'::timestamptz + ('$commit{m3}'::timestamptz - '$commit{m2}'::timestamptz) / 2) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");

# --- tbdr list -----------------------------------------------------------------------
my ($rc, $out, $err) = tbdr('list', '-c', $conf, '--json');
is($rc, 0, 'tbdr list --json') or diag $err;
my $list = $json->decode($out);
my ($lb1) = grep { $_->{id} eq $b1 } @{ $list->{backups} };
ok($lb1 && $lb1->{status} eq 'complete' && $lb1->{restorable}, 'B1 listed complete and restorable');
is($list->{window}{timeline}, 1, 'window on timeline 1');
is(scalar @{ $list->{window}{intervals} }, 1, 'one interval');
is(scalar @{ $list->{window}{gaps} }, 0, 'no WAL gap');
is($list->{window}{intervals}[0]{backup}, $b1, 'the window starts at B1');
($rc, $out, $err) = tbdr('list', '-c', $conf);
like($out, qr/restorable window \(timeline 1\):\n  from .* \(LSN .*, backup $b1\)\n    to /, 'tbdr list shows the window')
  or diag $out;

# --- restore helpers -----------------------------------------------------------------
my $nrestore = 0;
my @timings;

# Restore into a new node's data directory; returns (node, rc, out, err, result).
sub restore_node
{
	my ($name, %o) = @_;
	my $r = PostgreSQL::Test::Cluster->new($name);
	my $ts_new = "$tmp/ts_$name";
	my @args = ('restore', '-c', $o{conf} || $conf, '--pgdata', $r->data_dir, '--json',
		'--as', $o{as} || 'copy', '--tablespace-map', "$ts_old=$ts_new", @{ $o{args} || [] });
	my $t0 = time;
	my ($rc, $out, $err) = tbdr(@args);
	my $secs = time - $t0;
	my $res = $rc == 0 ? eval { $json->decode($out) } : undef;
	if ($res)
	{
		$nrestore++;
		push @timings, sprintf('%s: %.1f s, %d files, %.1f MB written, %.1f MB fetched',
			$name, $secs, $res->{files_written}, $res->{bytes_written} / 1e6, $res->{bytes_fetched} / 1e6);
	}
	return ($r, $rc, $out, $err, $res);
}

# Make a restored directory a node of its own (port, no archiving unless
# asked; backups store no secret, so an archiving node gets the secret key
# again).
sub start_restored
{
	my ($r, %o) = @_;
	$r->append_conf('postgresql.conf', "port = " . $r->port . "\n"
		  . ($o{archive} ? "tbdr.s3_secret_access_key = '$base{s3_secret_access_key}'\n"
			  : "archive_mode = off\n"));
	$r->start;
	$r->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die $r->name . ': recovery did not end';
	return $r;
}

sub markers_of
{
	my ($r) = @_;
	return $r->safe_psql('postgres', "SELECT string_agg(id, ',' ORDER BY id) FROM markers");
}

# --- PITR to a time ---------------------------------------------------------------------
my ($r, $res);
($r, $rc, $out, $err, $res) = restore_node('r_time',
	args => [ '--target-time', $t_mid, '--target-action', 'promote' ]);
is($rc, 0, "restore to a time between m2 and m3 ($t_mid)") or diag $err;
is($res->{backup}, $b1, 'from B1');
ok(-f $r->data_dir . '/recovery.signal', 'recovery.signal written');
my $auto = slurp_file($r->data_dir . '/postgresql.auto.conf');
like($auto, qr/^restore_command = '\S+\/tbdr archive-get -c \Q$conf\E %f %p'$/m,
	'restore_command runs tbdr archive-get with the configuration file');
like($auto, qr/^recovery_target_time = '\Q$t_mid\E'$/m, 'recovery_target_time set');
is(readlink($r->data_dir . '/pg_tblspc/' . $node->safe_psql('postgres',
	"SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'")), "$tmp/ts_r_time",
	'the tablespace link points to the mapped directory');
start_restored($r);
is(markers_of($r), 'm1,m2', 'time target: exactly the markers committed before it');
is($r->safe_psql('postgres', 'SELECT count(*) FROM pgbench_accounts'), 300000, 'the pgbench data is there');
$r->stop;

# --- PITR to an LSN -------------------------------------------------------------------
($r, $rc, $out, $err, $res) = restore_node('r_lsn',
	args => [ '--target-lsn', $lsn_after{m3}, '--target-action', 'promote' ]);
is($rc, 0, "restore to the LSN after m3 ($lsn_after{m3})") or diag $err;
start_restored($r);
is(markers_of($r), 'm1,m2,m3', 'LSN target: m1..m3');
$r->stop;

# --- a named restore point -----------------------------------------------------------
($r, $rc, $out, $err, $res) = restore_node('r_name',
	args => [ '--target-name', 'after_m4', '--target-action', 'promote' ]);
is($rc, 0, 'restore to the restore point after_m4') or diag $err;
start_restored($r);
is(markers_of($r), 'm1,m2,m3,m4', 'named restore point: m1..m4');
$r->stop;

# --- just before a transaction (xid, exclusive) ------------------------------------------
($r, $rc, $out, $err, $res) = restore_node('r_xid',
	args => [ '--target-xid', $xid{m6}, '--target-exclusive', '--target-action', 'promote' ]);
is($rc, 0, "restore to just before xid $xid{m6} (m6)") or diag $err;
start_restored($r);
is(markers_of($r), 'm1,m2,m3,m4,m5', 'xid target, exclusive: m1..m5');
$r->stop;

# --- immediate -----------------------------------------------------------------------------
($r, $rc, $out, $err, $res) = restore_node('r_imm',
	args => [ '--target', 'immediate', '--target-action', 'promote' ]);
is($rc, 0, 'restore to immediate') or diag $err;
start_restored($r);
is(markers_of($r), '', 'immediate: the backup as it was, no marker');
$r->stop;

# --- targets outside the window, bad arguments ------------------------------------------------
my $before = $node->safe_psql('postgres',
	"SELECT to_char((now() - interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00'");
($r, $rc, $out, $err) = restore_node('r_before', args => [ '--target-time', $before ]);
is($rc, 1, 'a time before the first backup is refused');
like($err, qr/recovery target time "\Q$before\E" is outside the restorable window: from .* to .* on timeline 1/,
	'naming the window') or diag $err;
ok(!-e $r->data_dir . '/global', 'nothing restored');
($r, $rc, $out, $err) = restore_node('r_future', args => [ '--target-time', '2099-01-01 00:00:00+00' ]);
like($err, qr/outside the restorable window/, 'a time in the future is refused');
($r, $rc, $out, $err) = restore_node('r_bad', args => [ '--target-time', '2026-11-30 01:00:00' ]);
is($rc, 2, 'a time without zone: usage error');
like($err, qr/no time zone/, 'saying so');
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', "$tmp/x", '--target-lsn', '0/1', '--target-name', 'a');
ok($rc == 2 && $err =~ /only one recovery target/, 'two targets: usage error');
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', "$tmp/x", '--target-lsn', 'nonsense');
ok($rc == 2 && $err =~ /invalid LSN "nonsense"/, 'bad LSN: usage error');
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--target', 'immediate');
ok($rc == 2 && $err =~ /--pgdata is required/, 'no --pgdata: usage error');
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', "$tmp/x", '--target-action', 'promote');
ok($rc == 2 && $err =~ /needs a recovery target/, '--target-action without target: usage error');
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', "$tmp/x", '--backup', 'yesterday');
ok($rc == 2 && $err =~ /not a backup id/, 'bad --backup: usage error');
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', "$tmp/x", '--backup', '20000101T000000Z', '--as', 'copy');
ok($rc == 1 && $err =~ /backup "20000101T000000Z" is not a complete backup/, 'unknown backup: error') or diag $err;
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', $node->data_dir, '--target', 'immediate', '--force', '--as', 'copy');
ok($rc == 1 && $err =~ /postmaster\.pid" exists: a server may be running/,
	'the data directory of a running server is refused, even with --force') or diag $err;
mkdir "$tmp/nonempty" or die;
append_to_file("$tmp/nonempty/junk", 'x');
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', "$tmp/nonempty", '--target', 'immediate', '--as', 'copy');
ok($rc == 1 && $err =~ /data directory ".*nonempty" is not empty/, 'a non-empty data directory is refused') or diag $err;
like($err, qr/--delta .* --force/, 'with a hint at --delta and --force');
ok(-f "$tmp/nonempty/junk", 'and left alone');
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', "$tmp/x", '--target', 'immediate', '--as', 'copy');
ok($rc == 1 && $err =~ /location of tablespace \d+ "\Q$ts_old\E" is not empty/,
	'a tablespace location in use is refused') or diag $err;
like($err, qr/--tablespace-map \Q$ts_old\E=NEWDIR/, 'with a hint at --tablespace-map');

# --- timelines: a promoted PITR restore that archives on timeline 2 ------------------------------
my $t_m4 = $node->safe_psql('postgres',
	"SELECT to_char(('$commit{m4}'::timestamptz + ('$commit{m5}'::timestamptz - '$commit{m4}'::timestamptz) / 2) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
my $tl2;
($tl2, $rc, $out, $err, $res) = restore_node('r_tl2', as => 'primary',
	args => [ '--target-time', $t_m4, '--target-action', 'promote' ]);
is($rc, 0, 'PITR restore to between m4 and m5, to be promoted') or diag $err;
start_restored($tl2, archive => 1);
is($tl2->safe_psql('postgres', 'SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)'), '00000002',
	'promoted onto timeline 2');
$tl2->safe_psql('postgres', "INSERT INTO markers (id) VALUES ('tl2_a')");
my $commit_tl2a = $tl2->safe_psql('postgres',
	"SELECT pg_xact_commit_timestamp(xmin) FROM markers WHERE id = 'tl2_a'");
$tl2->safe_psql('postgres', 'SELECT pg_sleep(0.3)');
$tl2->safe_psql('postgres', "INSERT INTO markers (id) VALUES ('tl2_b')");
my $commit_tl2b = $tl2->safe_psql('postgres',
	"SELECT pg_xact_commit_timestamp(xmin) FROM markers WHERE id = 'tl2_b'");
# object times have whole seconds: archive in a later second than the target
$tl2->safe_psql('postgres', 'SELECT pg_sleep(1.1)');
switch_and_wait($tl2);
$tl2->stop;

# The old primary goes on on timeline 1 and takes a backup after the branch point.
marker('m7');
my $b2 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
like($b2, qr/^\d{8}T\d{6}Z$/, "backup B2 $b2 on timeline 1, after the branch point");
switch_and_wait($node);

($rc, $out, $err) = tbdr('list', '-c', $conf, '--json');
$list = $json->decode($out);
is($list->{window}{timeline}, 2, 'tbdr list: the latest timeline is 2');
($lb1) = grep { $_->{id} eq $b2 } @{ $list->{backups} };
ok($lb1 && !$lb1->{restorable}, 'B2 (old timeline, after the branch) does not serve timeline 2');

my $t_tl2 = $node->safe_psql('postgres',
	"SELECT to_char(('$commit_tl2a'::timestamptz + ('$commit_tl2b'::timestamptz - '$commit_tl2a'::timestamptz) / 2) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
# timeline 1 went on after the branch point: the histories diverge, and a
# time both have is only restored with --target-timeline (052 tests more)
($r, $rc, $out, $err, $res) = restore_node('r_tl2_diverged',
	args => [ '--target-time', $t_tl2, '--target-action', 'promote' ]);
ok($rc == 1 && $err =~ /diverging histories/ && $err =~ /--target-timeline/,
	'a time on both diverging histories: refused') or diag $err;
($r, $rc, $out, $err, $res) = restore_node('r_tl2_again',
	args => [ '--target-time', $t_tl2, '--target-timeline', '2', '--target-action', 'promote' ]);
is($rc, 0, 'second restore to a time on timeline 2') or diag $err;
is($res->{backup}, $b1, 'it starts from B1 (B2 is on the other branch)');
is($res->{target_timeline}, 2, 'and follows timeline 2');
start_restored($r);
is(markers_of($r), 'm1,m2,m3,m4,tl2_a', 'timeline 2 followed: m1..m4 then tl2_a, not m5..m7');
$r->stop;

($r, $rc, $out, $err, $res) = restore_node('r_tl1', args => [ '--target-timeline', '1' ]);
is($rc, 0, '--target-timeline 1, to the end of its WAL') or diag $err;
is($res->{backup}, $b2, 'from B2 this time');
start_restored($r);
is(markers_of($r), 'm1,m2,m3,m4,m5,m6,m7', 'timeline 1: every marker');
$r->stop;

# --- verify and corruption -----------------------------------------------------------------------
($rc, $out, $err) = tbdr('verify', '-c', $conf, $b2);
is($rc, 0, "tbdr verify $b2: OK") or diag "$out$err";
like($out, qr/backup $b2: OK \(\d+ parts, .*, \d+ files, \d+ WAL segments checked\)/, 'verify says what it checked');

my $m2 = $json->decode(slurp_file(do {
	($rc) = tbdr('repo-get', '-c', $conf, "backups/$b2/manifest.json", "$tmp/m2.json");
	"$tmp/m2.json" }));
cmp_ok(scalar @{ $m2->{parts} }, '>', 1, 'B2 has several parts (' . scalar(@{ $m2->{parts} }) . ')');
my $victim = $m2->{parts}[-1]{key};
($rc) = tbdr('repo-get', '-c', $conf, $victim, "$tmp/part.orig");
my $data = slurp_file("$tmp/part.orig");
substr($data, int(length($data) / 2), 1) = chr(ord(substr($data, int(length($data) / 2), 1)) ^ 0x55);
open(my $fh, '>', "$tmp/part.bad") or die;
binmode $fh;
print $fh $data;
close $fh;
($rc, $out, $err) = tbdr('repo-put', '-c', $conf, "$tmp/part.bad", $victim);
is($rc, 0, "one byte of $victim flipped in the repository") or diag $err;
($rc, $out, $err) = tbdr('verify', '-c', $conf, $b2);
is($rc, 1, 'verify fails on the corrupted part');
like($out, qr/PROBLEM: .*\Q$victim\E/, 'naming the object') or diag $out;
($rc, $out, $err) = tbdr('verify', '-c', $conf, '--json', $b2);
my $vj = eval { $json->decode($out) } || {};
ok($rc == 1 && $vj->{ok} == JSON::PP::false && $vj->{problems}[0]{message} =~ /\Q$victim\E/,
	'verify --json: ok false, the problem names the object') or diag $out;
($r, $rc, $out, $err) = restore_node('r_corrupt', args => [ '--backup', $b2, '--target-timeline', 'current', '--target', 'immediate' ]);
is($rc, 1, 'restore fails on the corrupted part');
like($err, qr/\Q$victim\E/, 'naming the object') or diag $err;
ok(!-e $r->data_dir . '/global/pg_control', 'and leaves no pg_control: the directory cannot be started');
($rc, $out, $err) = tbdr('repo-put', '-c', $conf, "$tmp/part.orig", $victim);

# A WAL segment the backup needs, removed.
my $wal = $m2->{wal_start};
my $walkey = 'wal/' . substr($wal, 0, 16) . "/$wal";
($rc) = tbdr('repo-get', '-c', $conf, $walkey, "$tmp/wal.orig");
($rc) = tbdr('repo-rm', '-c', $conf, $walkey);
($rc, $out, $err) = tbdr('verify', '-c', $conf, $b2);
is($rc, 1, 'verify fails when a WAL segment is missing');
like($out, qr/PROBLEM: WAL segment $wal is missing/, 'naming the segment') or diag $out;
($rc, $out, $err) = tbdr('repo-put', '-c', $conf, "$tmp/wal.orig", $walkey);
($rc, $out, $err) = tbdr('verify', '-c', $conf, $b2);
is($rc, 0, 'verify passes again once the objects are back') or diag $out;

# --- delta ------------------------------------------------------------------------------------
# A stale copy: the immediate restore of B2, started (so it has moved on).
my $stale;
($stale, $rc, $out, $err, $res) = restore_node('r_delta', args => [ '--backup', $b2, '--target-timeline', 'current', '--target', 'immediate', '--target-action', 'promote' ]);
is($rc, 0, 'a restore of B2, to become stale') or diag $err;
start_restored($stale);
$stale->safe_psql('postgres', "INSERT INTO markers (id) VALUES ('stale_only')");
$stale->stop;

$node->safe_psql('postgres', 'UPDATE pgbench_branches SET bbalance = bbalance + 1');
marker('m8');
my $b3 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
switch_and_wait($node);
my $nfiles3 = do {
	($rc) = tbdr('repo-get', '-c', $conf, "backups/$b3/manifest.json", "$tmp/m3.json");
	scalar @{ $json->decode(slurp_file("$tmp/m3.json"))->{files} } };

my $ts_stale = "$tmp/ts_r_delta";
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', $stale->data_dir, '--json',
	'--tablespace-map', "$ts_old=$ts_stale", '--backup', $b3, '--target-timeline', 'current', '--target', 'immediate',
	'--target-action', 'promote', '--as', 'copy');
ok($rc == 1 && $err =~ /is not empty/, 'without --delta the stale directory is refused');
my $t0 = time;
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', $stale->data_dir, '--json', '--delta',
	'--tablespace-map', "$ts_old=$ts_stale", '--backup', $b3, '--target-timeline', 'current', '--target', 'immediate',
	'--target-action', 'promote', '--as', 'copy');
my $delta_secs = time - $t0;
is($rc, 0, "--delta restore of $b3 over the stale copy") or diag $err;
$res = $json->decode($out);
note "delta: $out";
cmp_ok($res->{files_kept}, '>', 0, "$res->{files_kept} identical files kept");
cmp_ok($res->{files_written}, '<', $nfiles3 / 2, "only $res->{files_written} of $nfiles3 files rewritten");
is($res->{files_written} + $res->{files_kept}, $nfiles3, 'every file of the backup written or kept');
cmp_ok($res->{files_removed}, '>', 0, "$res->{files_removed} files not in the backup removed");
push @timings, sprintf('r_delta: %.1f s, %d written, %d kept, %d removed, %.1f MB fetched',
	$delta_secs, $res->{files_written}, $res->{files_kept}, $res->{files_removed}, $res->{bytes_fetched} / 1e6);

# The same files as a fresh restore of B3.
my $fresh;
($fresh, $rc, $out, $err, $res) = restore_node('r_fresh', args => [ '--backup', $b3, '--target-timeline', 'current', '--target', 'immediate', '--target-action', 'promote' ]);
is($rc, 0, "fresh restore of $b3") or diag $err;
sub tree
{
	my ($dir) = @_;
	my %files;
	find({ no_chdir => 1, follow_fast => 1, wanted => sub {
		return unless -f $_;
		(my $rel = $_) =~ s{^\Q$dir\E/}{};
		$rel =~ s{^pg_tblspc/\d+/}{pg_tblspc/TS/};
		$files{$rel} = $_;
	} }, $dir);
	return \%files;
}
my $ta = tree($stale->data_dir);
my $tb = tree($fresh->data_dir);
is_deeply([ sort keys %$ta ], [ sort keys %$tb ], 'delta and fresh restore have the same files');
my @differ = grep { $_ ne 'tablespace_map' && compare($ta->{$_}, $tb->{$_}) != 0 } sort keys %$tb;
is(scalar @differ, 0, 'with the same contents') or diag "differ: @differ";
start_restored($stale);
is(markers_of($stale), 'm1,m2,m3,m4,m5,m6,m7,m8', 'the delta-restored server has B3\'s data, not the stale row');
$stale->stop;

# --- an encrypted repository ---------------------------------------------------------------------
sub write_key { return TbdrTest::Data::key_file("$tmp/$_[0]", $_[1]) }
my $key1 = write_key('key1', 'c3' x 32);
my $key2 = write_key('key2', 'd4' x 32);
$node->append_conf('postgresql.conf',
	"tbdr.repository = 's3://$bucket/enc'\ntbdr.encryption_key_file = '$key1'\n");
$node->reload;
switch_and_wait($node);
marker('enc1');
my $benc = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
switch_and_wait($node);
my $conf_enc1 = write_conf('enc1', repository => "s3://$bucket/enc", encryption_key_file => $key1);
my $conf_enc2 = write_conf('enc2', repository => "s3://$bucket/enc", encryption_key_file => $key2);
my $conf_enc0 = write_conf('enc0', repository => "s3://$bucket/enc");
($r, $rc, $out, $err) = restore_node('r_enc_wrong', conf => $conf_enc2, args => [ '--target', 'immediate' ]);
isnt($rc, 0, 'encrypted repository, wrong key: refused');
like($err, qr/key/i, 'the error is about the key') or diag $err;
ok(!-e $r->data_dir . '/global/pg_control', 'nothing startable restored');
($r, $rc, $out, $err) = restore_node('r_enc_none', conf => $conf_enc0, args => [ '--target', 'immediate' ]);
isnt($rc, 0, 'encrypted repository, no key: refused');
like($err, qr/encrypt/i, 'saying it is encrypted') or diag $err;
($r, $rc, $out, $err, $res) = restore_node('r_enc', conf => $conf_enc1,
	args => [ '--target', 'immediate', '--target-action', 'promote' ]);
is($rc, 0, 'encrypted repository, right key: restored') or diag $err;
is($res->{backup}, $benc, "from $benc");
start_restored($r);
like(markers_of($r), qr/enc1/, 'with the data');
$r->stop;

note "restore timings (database " . $node->safe_psql('postgres', 'SELECT pg_size_pretty(pg_database_size(\'postgres\'))') . "):";
note "  $_" for @timings;

$node->stop;
$s3->stop;
done_testing();
