# Monitoring: the SQL of the postgres_exporter queries shipped in
# monitoring/postgres_exporter_queries.yaml, run against a test cluster,
# and every alert of monitoring/prometheus_alerts.yml evaluated on their
# values, once in the situation the alert guards (it must fire) and once
# in a normal one (it must not):
#  - TbdrNoRecentBackup: newest complete backup 2 days old; a repository
#    without any complete backup (also right after the start, before any
#    expiry); vs. one an hour old, also right after a restart (the scheduler
#    fills the figures from the repository; while S3 cannot be read they say
#    "unknown: ..." and are filled once it can);
#  - TbdrBackupStatusUnknown: the repository unreadable since the start;
#    vs. readable;
#  - TbdrBackupSizeAnomaly: newest backup a tenth of the median of the
#    recent ones; vs. about the median;
#  - TbdrArchivingFailing and TbdrArchiveLagging: S3 answering 503 to every
#    PUT (fault proxy) while more segments than the threshold complete; vs.
#    after S3 recovers;
#  - TbdrExpiryFailing: an expiry that cannot read the repository; vs. one
#    that succeeds.
# Backups at past dates are synthetic (TbdrTest::FakeRepo); the backup
# figures of tbdr_status() come from the repository through tbdr_expire
# (dry run).  Also: the log has one line per expiry run and per archive
# failure and recovery.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Temp qw(tempdir);
use IPC::Run qw(run);
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TbdrTest::Daemon;
use TbdrTest::S3Server;
use TbdrTest::FaultProxy;
use TbdrTest::FakeRepo;
use TbdrTest::Setup;

my $root = TbdrTest::Setup::root();
TbdrTest::Setup::isolate_aws_env();

my $tmp = tempdir('tbdr-072-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bucket = 'tbdr-mon';
my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);
my $proxy = TbdrTest::FaultProxy->start(target => $s3->endpoint);
my $json = JSON::PP->new;

# --- the shipped files, as data -------------------------------------------------
sub yaml_file
{
	my ($path) = @_;
	my ($out, $err) = ('', '');
	local %ENV = %{ TbdrTest::Daemon::python_env() };
	run([ $TbdrTest::Daemon::PYTHON, '-c',
		  'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', $path ],
		'<', \undef, '>', \$out, '2>', \$err)
	  or die "cannot read $path: $err";
	return $json->decode($out);
}
my $queries = yaml_file("$root/monitoring/postgres_exporter_queries.yaml");
my $rules = yaml_file("$root/monitoring/prometheus_alerts.yml");
my %alert = map { $_->{alert} => $_ } @{ $rules->{groups}[0]{rules} };
ok(scalar(keys %alert) >= 6, 'alert rules read: ' . join(', ', sort keys %alert));

# --- the cluster ----------------------------------------------------------------
my %base = (
	repository => "s3://$bucket/none",
	s3_endpoint => $proxy->endpoint,
	s3_access_key_id => $s3->access_key,
	s3_secret_access_key => $s3->secret_key,
	s3_region => 'us-east-1',
	s3_max_retries => 1,
	s3_timeout => 10,
	backup_schedule => '',
	retention_days => 7);
my $node = PostgreSQL::Test::Cluster->new('mon');
$node->init(extra => [ '--wal-segsize=1' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tbdr'
wal_level = replica
archive_mode = on
archive_library = 'tbdr'
} . join('', map { "tbdr.$_ = '$base{$_}'\n" } sort keys %base));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION tbdr');
$node->safe_psql('postgres', 'CREATE TABLE t (x int)');

sub set_repo
{
	my ($prefix) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET tbdr.repository = 's3://$bucket/$prefix'");
	$node->reload;
	$node->poll_query_until('postgres',
		"SELECT current_setting('tbdr.repository') = 's3://$bucket/$prefix'")
	  or die 'reload did not take';
}

# The metrics the exporter would publish: namespace_column => value (undef: NULL).
sub metrics
{
	my %m;
	for my $ns (sort keys %$queries)
	{
		my $q = $queries->{$ns};
		my $sql = $q->{query};
		my $out = $node->safe_psql('postgres',
			"SELECT row_to_json(r) FROM ($sql) r");
		my $row = $json->decode($out);
		for my $metric (@{ $q->{metrics} })
		{
			my ($col) = keys %$metric;
			$m{"${ns}_$col"} = $row->{$col};
		}
	}
	return \%m;
}

# Evaluate an alert's expr ("metric OP number" joined by "or") on metrics;
# NULL/NaN never fires, as in Prometheus.
sub firing
{
	my ($name, $m) = @_;
	my $expr = $alert{$name}{expr} // die "no alert $name";
	my $fires = 0;
	for my $term (split /\s+or\s+/, $expr)
	{
		my ($metric, $op, $num) = $term =~ /^\s*(\w+)\s*(>|<|>=|<=)\s*([\d.e+]+)\s*$/
		  or die "cannot evaluate expr of $name: $term";
		die "alert $name uses $metric, which no exporter query publishes"
		  unless exists $m->{$metric};
		my $v = $m->{$metric};
		next unless defined $v;
		$v = 9**9**9 if $v eq 'Infinity';
		next if $v eq 'NaN';
		$fires ||= $op eq '>' ? $v > $num : $op eq '<' ? $v < $num
		  : $op eq '>=' ? $v >= $num : $v <= $num;
	}
	return $fires ? 1 : 0;
}

sub refresh_backups
{
	$node->safe_psql('postgres', 'SELECT count(*) FROM tbdr_expire(dry_run => true)');
}

sub fake_repo
{
	my ($prefix, @backups) = @_;
	my $r = TbdrTest::FakeRepo->new("$tmp/$prefix");
	my $seg = 10;
	for my $b (@backups)
	{
		$r->backup(time => $b->[0], stored_bytes => $b->[1],
			status => $b->[2] // 'complete',
			wal_start => $seg, wal_stop => $seg + 1, parts => 1);
		$r->wal($seg);
		$r->wal($seg + 1);
		$seg += 2;
	}
	$r->upload($s3, $bucket, $prefix);
}

# Right after the start the scheduler worker lists the (empty) repository:
# no complete backup at all, so the alert fires without waiting for an expiry.
$node->poll_query_until('postgres',
	'SELECT last_successful_backup_time IS NOT NULL FROM tbdr_status()')
  or die 'backup figures not filled after the start';
my $now = time;
my $m = metrics();
is($m->{tbdr_backup_seconds_since_last_success}, 'Infinity',
	'just started, empty repository: +Inf without any expiry');
is(firing('TbdrNoRecentBackup', $m), 1, 'TbdrNoRecentBackup fires right after the start');

# --- no successful backup in 24 hours ---------------------------------------------
fake_repo('old', [ $now - 2 * 86400, 1000 ]);
set_repo('old');
refresh_backups();
$m = metrics();
cmp_ok($m->{tbdr_backup_seconds_since_last_success}, '>', 1.9 * 86400,
	'seconds since last success: about 2 days');
is(firing('TbdrNoRecentBackup', $m), 1, 'TbdrNoRecentBackup fires: newest backup 2 days old');

# a repository whose only backup failed: no complete backup at all
fake_repo('empty', [ $now - 3600, 1000, 'failed' ]);
set_repo('empty');
refresh_backups();
$m = metrics();
is($m->{tbdr_backup_seconds_since_last_success}, 'Infinity',
	'no complete backup in the repository: +Inf');
is(firing('TbdrNoRecentBackup', $m), 1, 'TbdrNoRecentBackup fires: no complete backup at all');
is($m->{tbdr_backup_last_failed}, 1, 'the newest backup failed: last_failed = 1');

fake_repo('fresh', [ $now - 3 * 86400, 1000 ], [ $now - 3600, 1000 ]);
set_repo('fresh');
refresh_backups();
$m = metrics();
cmp_ok($m->{tbdr_backup_seconds_since_last_success}, '<', 86400, 'newest backup an hour old');
is(firing('TbdrNoRecentBackup', $m), 0, 'TbdrNoRecentBackup does not fire');
is($m->{tbdr_backup_last_failed}, 0, 'last_failed = 0');

# --- after a restart: filled from the repository, no expiry or backup needed ------
# First with the backups unreadable at the start (every GET of backups/
# answered 503; not WAL, whose archiving must not fail here): the status says
# so instead of a silent NULL; the scheduler retries on its next wake-up (at
# most a minute) and fills the figures once S3 answers.
my $fresh_stop = $now - 3600 + 600;		# FakeRepo: stop = start + 600 s

# Once the scheduler filled them (polled: no fixed sleep): the newest
# complete backup's stop time (epoch), its size, the newest backup's status,
# and whether no expiry ran (so that they came from the start's listing).
sub backup_figures
{
	my ($what) = @_;
	$node->poll_query_until('postgres',
		'SELECT last_successful_backup_time IS NOT NULL FROM tbdr_status()')
	  or die "backup figures not filled $what";
	return $node->safe_psql('postgres',
		'SELECT extract(epoch FROM last_successful_backup_time)::bigint, '
		  . 'last_successful_backup_bytes, last_backup_status, '
		  . 'last_expiry_time IS NULL FROM tbdr_status()');
}
$proxy->inject(mode => 'status', status => 503, s3_code => 'ServiceUnavailable',
	duration => 3600, method => 'GET', path_regex => 'backups');
$node->restart;
$node->poll_query_until('postgres',
	"SELECT last_backup_status LIKE 'unknown: %' FROM tbdr_status()")
  or die 'an unreadable repository is not shown after the start';
my $st = $node->safe_psql('postgres',
	'SELECT last_successful_backup_time IS NULL, last_backup_status FROM tbdr_status()');
like($st, qr/^t\|unknown: .+/, "repository unreadable at the start: $st");
$m = metrics();
is($m->{tbdr_backup_last_failed}, undef, 'last_failed unknown (not "failed") while unreadable');
is(firing('TbdrBackupStatusUnknown', $m), 1, 'TbdrBackupStatusUnknown fires while unreadable');
$proxy->clear;
is(backup_figures('after S3 came back'), "$fresh_stop|1000|complete|t",
	'after S3 came back: the newest backup\'s stop time and size, no expiry ran');

# Then a plain restart: filled at once from the listing at the start.
$node->restart;
is(backup_figures('after the restart'), "$fresh_stop|1000|complete|t",
	'after a restart: the newest backup\'s stop time and size, no expiry ran');
$m = metrics();
cmp_ok($m->{tbdr_backup_seconds_since_last_success}, '<', 86400, 'after a restart: newest backup under a day old');
is(firing('TbdrNoRecentBackup', $m), 0, 'TbdrNoRecentBackup does not fire after a restart with a recent backup');
is(firing('TbdrBackupStatusUnknown', $m), 0, 'TbdrBackupStatusUnknown does not fire');

# --- backup size anomaly -----------------------------------------------------------
my @usual = map { [ $now - (9 - $_) * 86400 - 3600, 1_000_000 + 1000 * $_ ] } 0 .. 7;
fake_repo('small', @usual, [ $now - 600, 100_000 ]);
set_repo('small');
refresh_backups();
$m = metrics();
cmp_ok(abs($m->{tbdr_backup_size_ratio} - 0.1), '<', 0.01, 'size ratio about 0.1');
is(firing('TbdrBackupSizeAnomaly', $m), 1, 'TbdrBackupSizeAnomaly fires: a tenth of the median');

fake_repo('usual', @usual, [ $now - 600, 1_020_000 ]);
set_repo('usual');
refresh_backups();
$m = metrics();
cmp_ok(abs($m->{tbdr_backup_size_ratio} - 1.02), '<', 0.02, 'size ratio about 1');
is(firing('TbdrBackupSizeAnomaly', $m), 0, 'TbdrBackupSizeAnomaly does not fire');
is($m->{tbdr_backup_recent_median_bytes}, 1_004_000, 'median of the 7 before the newest');

# --- expiry failing ------------------------------------------------------------------
$proxy->inject(mode => 'status', status => 503, s3_code => 'ServiceUnavailable',
	duration => 60, method => 'GET');
my ($ok, $stdout, $stderr) = $node->psql('postgres', 'SELECT count(*) FROM tbdr_expire()');
$proxy->clear;
like($stderr, qr/ERROR/, 'an expiry that cannot read the repository fails');
$m = metrics();
is($m->{tbdr_repository_last_expiry_failed}, 1, 'last_expiry_failed = 1');
is(firing('TbdrExpiryFailing', $m), 1, 'TbdrExpiryFailing fires');
$node->safe_psql('postgres', 'SELECT count(*) FROM tbdr_expire()');
$m = metrics();
is(firing('TbdrExpiryFailing', $m), 0, 'TbdrExpiryFailing does not fire after a good run');
cmp_ok($m->{tbdr_repository_bytes}, '>', 0, 'repository size known after an expiry');
my $log = slurp_file($node->logfile);
like($log, qr/LOG:  tbdr: tbdr_expire\(\): deleted \d+ backups? and \d+ WAL files?/,
	'one log line per expiry run');
like($log, qr/WARNING:  tbdr: tbdr_expire\(\) failed: /, 'a failed expiry is logged');

# --- archiving failing and lagging ----------------------------------------------------
set_repo('archive');
# a healthy start: one segment stored
my $seg = $node->safe_psql('postgres', "SELECT pg_walfile_name(pg_current_wal_lsn())");
$node->safe_psql('postgres', 'INSERT INTO t VALUES (1); SELECT pg_switch_wal()');
$node->poll_query_until('postgres', "SELECT last_archived_wal >= '$seg' FROM tbdr_status()")
  or die 'first segment not archived';
$m = metrics();
is(firing('TbdrArchivingFailing', $m) . firing('TbdrArchiveLagging', $m), '00',
	'archiving healthy: neither archive alert fires');

my ($lag_threshold) = $alert{TbdrArchiveLagging}{expr} =~ />\s*(\d+)/;
$proxy->inject(mode => 'status', status => 503, s3_code => 'ServiceUnavailable',
	duration => 3600, method => 'PUT');
for (0 .. $lag_threshold + 2)
{
	$node->safe_psql('postgres', 'INSERT INTO t VALUES (1); SELECT pg_switch_wal()');
}
$node->poll_query_until('postgres', 'SELECT failed_count > 0 FROM tbdr_status()')
  or die 'no archiving failure seen';
$m = metrics();
is(firing('TbdrArchivingFailing', $m), 1, 'TbdrArchivingFailing fires while S3 refuses PUTs');
cmp_ok($m->{tbdr_archive_lag_segments}, '>', $lag_threshold,
	"lag $m->{tbdr_archive_lag_segments} segments > $lag_threshold");
is(firing('TbdrArchiveLagging', $m), 1, 'TbdrArchiveLagging fires');

$proxy->clear;
$seg = $node->safe_psql('postgres', "SELECT pg_walfile_name(pg_current_wal_lsn())");
$node->safe_psql('postgres', 'INSERT INTO t VALUES (1); SELECT pg_switch_wal()');
$node->poll_query_until('postgres', "SELECT last_archived_wal >= '$seg' FROM tbdr_status()")
  or die 'archiving did not recover';
$m = metrics();
is(firing('TbdrArchivingFailing', $m), 0, 'TbdrArchivingFailing stops after recovery');
is(firing('TbdrArchiveLagging', $m), 0, "TbdrArchiveLagging stops (lag $m->{tbdr_archive_lag_segments})");
cmp_ok($m->{tbdr_archive_seconds_since_last_archive}, '<', 600, 'seconds since last archive is small');

$log = slurp_file($node->logfile);
my $fail_lines = () = $log =~ /(?:tbdr could not archive|tbdr wal pusher could not store)/g;
note "archive failure lines in the log: $fail_lines";
ok($fail_lines > 0, 'archive failures are logged');
my @recovered = $log =~ /LOG:  (tbdr: archiving recovered: "[0-9A-F]{24}" stored after \d+ failed attempts since [^\n]+)/g;
is(scalar(@recovered), 1, 'one log line for the recovery from the outage') or diag "@recovered";
note $recovered[0] // '';
unlike($log, qr/LOG:  tbdr archived "/, 'no per-segment LOG line on success');
$node->stop;
$proxy->stop;
done_testing();
