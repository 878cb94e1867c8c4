# Expiry with real backups (tbdr_backup_now) against a real S3 server: the
# test moves two of three backups into the past by rewriting the start and
# stop times of their status objects (test-side, with repo-get/repo-put),
# then, with tbdr.retention_days = 7:
#  - tbdr_expire(dry_run => true) names the 20-day-old backup and deletes
#    nothing;
#  - `tbdr expire` killed with -9 half-way (deletes slowed by the fault
#    proxy) leaves both kept backups passing `tbdr verify`;
#  - tbdr_expire() finishes the job (taking over the dead run's lock), logs
#    one line; the expired backup and the WAL before the kept 10-day-old
#    backup are gone, every WAL segment from it on is there;
#  - both kept backups still pass `tbdr verify`, and a point-in-time
#    restore to a time between the kept backups gives exactly the rows
#    committed up to then.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Temp qw(tempdir);
use IPC::Run qw(run start finish);
use JSON::PP ();
use POSIX qw(strftime);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TbdrTest::S3Server;
use TbdrTest::FaultProxy;
use TbdrTest::Wal;
use TbdrTest::Setup;

my $tbdr = TbdrTest::Setup::tbdr_program();

TbdrTest::Setup::isolate_aws_env();

my $tmp = tempdir('tbdr-071-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bucket = 'tbdr-pitr-expire';
my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);
my $proxy = TbdrTest::FaultProxy->start(target => $s3->endpoint);
my $json = JSON::PP->new;

my %base = (
	repository => "s3://$bucket/main",
	s3_endpoint => $s3->endpoint,
	s3_access_key_id => $s3->access_key,
	s3_secret_access_key => $s3->secret_key,
	s3_region => 'us-east-1',
	s3_max_retries => 2,
	s3_timeout => 30,
	backup_schedule => '',
	backup_part_size => 1,
	retention_days => 7);

my $w = TbdrTest::Wal->new(tbdr => $tbdr, tmp => $tmp, settings => \%base);
sub conf_lines { return $w->conf_lines(@_) }
sub write_conf { return $w->write_conf(@_) }

sub tbdr
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	run([ $tbdr, @args ], '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

my $conf = write_conf('main');
my $pconf = write_conf('proxied', s3_endpoint => $proxy->endpoint);

sub listing
{
	my ($rc, $out, $err) = tbdr('repo-ls', '--json', '-c', $conf);
	die "repo-ls: $err" if $rc;
	return { map { $_->{key} => $_->{size} } @{ $json->decode($out) } };
}

sub switch_and_wait { return TbdrTest::Wal::switch_and_wait(@_) }

# --- the primary and three backups -------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tbdr'
archive_mode = on
archive_library = 'tbdr'
track_commit_timestamp = on
} . conf_lines());
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION tbdr');
$node->safe_psql('postgres', 'CREATE TABLE markers (id text PRIMARY KEY)');
$node->command_ok([ 'pgbench', '-i', '-s', '1', '-q', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'pgbench -i -s 1');

my %commit;
sub marker
{
	my ($id) = @_;
	$node->safe_psql('postgres', "INSERT INTO markers VALUES ('$id')");
	$commit{$id} = $node->safe_psql('postgres',
		"SELECT pg_xact_commit_timestamp(xmin) FROM markers WHERE id = '$id'");
	$node->safe_psql('postgres', 'SELECT pg_sleep(0.3)');
}

my $b1 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
marker('m1');
switch_and_wait($node);
$node->safe_psql('postgres', 'SELECT pg_sleep(1.1)');
my $b2 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
$node->safe_psql('postgres', 'SELECT pg_sleep(1.1)');
marker('m2');
marker('m3');
switch_and_wait($node);
$node->safe_psql('postgres', 'SELECT pg_sleep(1.1)');
my $b3 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
marker('m4');
my $last_seg = switch_and_wait($node);
like("$b1 $b2 $b3", qr/^\d{8}T\d{6}Z \d{8}T\d{6}Z \d{8}T\d{6}Z$/, "three backups: $b1 $b2 $b3");

is($node->safe_psql('postgres',
	"SELECT last_backup_id || ' ' || last_backup_status || ' ' || (last_successful_backup_bytes > 0) FROM tbdr_status()"),
	"$b3 complete true", 'tbdr_status() shows the newest backup at once (reported by the backup worker)');

my %info = map {
	my ($id, $ws) = split /\|/;
	$id => $ws
} split /\n/, $node->safe_psql('postgres',
	"SELECT backup_id || '|' || wal_start FROM tbdr_list_backups() WHERE status = 'complete'");
is(scalar(keys %info), 3, 'three complete backups with their WAL start');

# --- move B1 20 days and B2 10 days into the past (test-side) ------------------------
sub shift_times
{
	my ($id, $days) = @_;
	for my $obj ('started.json', 'manifest.json')
	{
		my $file = "$tmp/$id-$obj";
		my ($rc, $out, $err) = tbdr('repo-get', '--no-progress', '-c', $conf, "backups/$id/$obj", $file);
		die "repo-get $obj: $err" if $rc;
		open(my $fh, '<', $file) or die;
		my $doc = do { local $/; <$fh> };
		close $fh;
		$doc =~ s{"(start_time|stop_time)": "(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z"}{
			require Time::Local;
			my $t = Time::Local::timegm($7, $6, $5, $4, $3 - 1, $2) - $days * 86400;
			"\"$1\": \"" . strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($t)) . '"'
		}ge;
		open($fh, '>', $file) or die;
		print $fh $doc;
		close $fh;
		($rc, $out, $err) = tbdr('repo-put', '--no-progress', '-c', $conf, $file, "backups/$id/$obj");
		die "repo-put $obj: $err" if $rc;
	}
}
shift_times($b1, 20);
shift_times($b2, 10);

# --- dry run in SQL ------------------------------------------------------------------
my $before = listing();
my $dry = $node->safe_psql('postgres',
	"SELECT string_agg(name, ',') FROM tbdr_expire(dry_run => true) WHERE kind = 'backup'");
is($dry, $b1, 'tbdr_expire(dry_run) would delete the 20-day-old backup only');
my $dry_wal = $node->safe_psql('postgres',
	"SELECT coalesce(sum(objects), 0) FROM tbdr_expire(dry_run => true) WHERE kind = 'wal'");
cmp_ok($dry_wal, '>', 0, "and $dry_wal WAL files before the kept 10-day-old backup");
is_deeply(listing(), $before, 'the dry run deleted nothing');

# --- tbdr expire killed half-way ---------------------------------------------------------
$proxy->inject(mode => 'delay', seconds => 2, duration => 300, method => 'DELETE');
$proxy->inject(mode => 'delay', seconds => 2, duration => 300, method => 'POST');
my ($ko, $ke) = ('', '');
my $kh = start([ $tbdr, 'expire', '-c', $pconf ], '<', \undef, '>', \$ko, '2>', \$ke);
my $deletes = 0;
for (1 .. 3000)
{
	my $st = $proxy->stats;
	$deletes = ($st->{by_method}{DELETE} // 0) + ($st->{by_method}{POST} // 0);
	last if $deletes >= 2 || !$kh->pumpable;
	select(undef, undef, undef, 0.1);
}
cmp_ok($deletes, '>=', 2, "expire was deleting ($deletes delete requests) when killed");
$kh->signal('KILL');
eval { finish($kh) };
$proxy->clear;
my $mid = listing();
my @b1_left = grep { index($_, "backups/$b1/") == 0 } keys %$mid;
note scalar(@b1_left) . " objects of $b1 left after the kill";
for my $id ($b2, $b3)
{
	my ($rc, $out, $err) = tbdr('verify', '--no-progress', '-c', $conf, $id);
	is($rc, 0, "after the kill, kept backup $id passes tbdr verify") or diag "$out\n$err";
}

# --- tbdr_expire() finishes the job ----------------------------------------------------------
my $rows = $node->safe_psql('postgres',
	"SELECT kind || ':' || name || ':' || done FROM tbdr_expire() ORDER BY kind, name");
# Killed after its status objects went, the expired backup is "failed (no
# status object)" and its time comes from its id, which this test did not
# move into the past: then what is left goes as a failed backup's data.
like($rows, qr/^backup(?:-data)?:\Q$b1\E:true$/m, 'tbdr_expire() deletes what is left of the expired backup')
  or diag $rows;
my $after = listing();
is(scalar(grep { index($_, "backups/$b1/") == 0 } keys %$after), 0, "no object of $b1 is left");
for my $id ($b2, $b3)
{
	is(scalar(grep { index($_, "backups/$id/") == 0 } keys %$after),
		scalar(grep { index($_, "backups/$id/") == 0 } keys %$before),
		"every object of kept backup $id is there");
}

# WAL: nothing before B2's start, every segment from it to the last archived one
my @segs = sort map { m{^wal/[0-9A-F]{16}/([0-9A-F]{24})$} ? $1 : () } keys %$after;
my $b2_start = $info{$b2};
is((grep { $_ lt $b2_start } @segs), 0, "no WAL segment before $b2_start (the kept anchor's start) is left");
my @expected;
{
	my ($tli, $log, $seg) = (substr($b2_start, 0, 8), hex(substr($b2_start, 8, 8)), hex(substr($b2_start, 16, 8)));
	my $name = $b2_start;
	while ($name le $last_seg)
	{
		push @expected, $name;
		$seg++;
		if ($seg > 0xFF) { $seg = 0; $log++ }
		$name = sprintf('%s%08X%08X', $tli, $log, $seg);
	}
}
my %have = map { $_ => 1 } @segs;
my @gaps = grep { !$have{$_} } @expected;
is("@gaps", '', scalar(@expected) . " WAL segments from $b2_start to $last_seg all present");

my $log = slurp_file($node->logfile);
my @lines = $log =~ /LOG:  (tbdr: tbdr_expire\(\): [^\n]*)/g;
is(scalar(@lines), 1, 'one log line for the expiry run') or diag "@lines";
note $lines[0] // '';
my $status = $node->safe_psql('postgres',
	"SELECT last_expiry_result LIKE 'ok: deleted %' FROM tbdr_status()");
is($status, 't', 'tbdr_status() shows the expiry result');

for my $id ($b2, $b3)
{
	my ($rc, $out, $err) = tbdr('verify', '--no-progress', '-c', $conf, $id);
	is($rc, 0, "after expiry, kept backup $id passes tbdr verify") or diag "$out\n$err";
}

# --- PITR to a point inside the window, between the kept backups -----------------------------
my $target = $commit{m2};
my $r = PostgreSQL::Test::Cluster->new('restored');
my ($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', $r->data_dir,
	'--no-progress', '--as', 'copy', '--target-time', $target, '--target-action', 'promote');
is($rc, 0, "restore to $target (between $b2 and $b3)") or diag $err;
$r->append_conf('postgresql.conf', 'port = ' . $r->port . "\narchive_mode = off\n");
$r->start;
$r->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'recovery did not end';
is($r->safe_psql('postgres', "SELECT string_agg(id, ',' ORDER BY id) FROM markers"),
	'm1,m2', 'the restored cluster has exactly the rows committed up to the target');
is($r->safe_psql('postgres', 'SELECT count(*) FROM pgbench_accounts'), '100000',
	'and the pgbench data');
$r->stop;

# --- expiry runs after every scheduled backup --------------------------------------------
$node->safe_psql('postgres', "ALTER SYSTEM SET tbdr.backup_schedule = '* * * * *'");
$node->reload;
# (the words are split so that the logged statement itself does not match)
$node->poll_query_until('postgres',
	"SELECT position('tbdr: expiry after ' || 'scheduled backup:' in pg_read_file('"
	  . $node->logfile . "')) > 0")
  or die 'no expiry after a scheduled backup within the poll timeout';
$node->safe_psql('postgres', "ALTER SYSTEM SET tbdr.backup_schedule = ''");
$node->reload;
$log = slurp_file($node->logfile);
my ($sched_line) = $log =~ /LOG:  (tbdr: expiry after scheduled backup: [^\n]*)/;
ok($sched_line, 'the scheduled backup was followed by an expiry, logged in one line');
note $sched_line // '';
like($log, qr/tbdr: backup \d{8}T\d{6}Z started \(scheduled\)/, 'the scheduled backup logged its start');
like($log, qr/tbdr: backup \d{8}T\d{6}Z complete in [\d.]+ s: \d+ bytes of data, \d+ bytes stored/,
	'and its end with size and duration');

$node->stop;
$proxy->stop;
done_testing();
