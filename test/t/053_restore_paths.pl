# Where a restore may write, and no secret in the repository, against a real
# S3 server (Swift + s3api on loopback) and real PostgreSQL 15:
#  - a backup whose tablespace location exists and is not empty (here: the
#    live tablespace of the primary) is refused without --tablespace-map,
#    with --delta and with --force too, and nothing is written;
#  - with the location mapped (to itself, holding a sibling PG_14_*
#    directory and an unrelated file) the restore works, and --delta and
#    --force then touch only the backup's PG_15_* subdirectory;
#  - the configuration file's path holds '%' (and a space): restore_command
#    still finds it, so the restored server recovers;
#  - the S3 secret key and a session token set in the server's configuration
#    (postgresql.conf, postgresql.auto.conf, $PGDATA/tbdr.conf) are in no
#    file of a restored data directory and in no object of the repository,
#    raw or decoded;
#  - tbdr.s3_verify_tls = off: a WARNING in the server log at start and at
#    reload, and in tbdr check, which also warns about the secrets in the
#    data directory.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Find qw(find);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IPC::Run qw(run);
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TbdrTest::Backup;
use TbdrTest::S3Server;
use TbdrTest::Setup;

my $tbdr = TbdrTest::Setup::tbdr_program();
TbdrTest::Setup::isolate_aws_env();

my $tmp = tempdir('tbdr-053-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bucket = 'tbdr-paths';
my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);
my $json = JSON::PP->new;
my $secret = $s3->secret_key;
# Swift's s3api ignores session tokens: any value works and must not leak
my $token = 'TbdrSessionToken' . join('', map { int(rand(10)) } 1 .. 20);

# The configuration the tbdr program uses lives in a directory whose name
# PostgreSQL's restore_command would expand if it were not escaped.
my $confdir = "$tmp/conf %f%p%%r";
make_path($confdir);
my $b = TbdrTest::Backup->new(tbdr => $tbdr, tmp => $confdir, s3 => $s3,
	bucket => $bucket, settings => { backup_schedule => '', s3_session_token => $token });
my $conf = $b->conf;
like($conf, qr/%f%p/, "configuration at \"$conf\"");

sub tbdr
{
	my ($out, $err) = ('', '');
	run([ $tbdr, @_ ], '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# --- the primary: secrets in three files of its data directory ----------------------
my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
my $pgdata = $node->data_dir;
my %settings_no_token = map { $_ => 1 } grep { !/s3_session_token/ } split /\n/, $b->conf_lines;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tbdr'
archive_mode = on
archive_library = 'tbdr'
include_if_exists = 'tbdr.conf'
} . join("\n", sort keys %settings_no_token) . "\n");
append_to_file("$pgdata/tbdr.conf", $b->conf_lines);
$node->start;
$node->safe_psql('postgres', "ALTER SYSTEM SET tbdr.s3_session_token = '$token'");
$node->reload;
$node->safe_psql('postgres', 'CREATE EXTENSION tbdr');
for my $f ('postgresql.conf', 'postgresql.auto.conf', 'tbdr.conf')
{
	like(slurp_file("$pgdata/$f"), qr/\Q$secret\E|\Q$token\E/, "the primary's $f holds a secret");
}

my $ts = "$tmp/ts_primary";
mkdir $ts or die;
$node->safe_psql('postgres', "CREATE TABLESPACE ts1 LOCATION '$ts'");
$node->safe_psql('postgres', "CREATE TABLE t (id int) TABLESPACE ts1; INSERT INTO t SELECT generate_series(1, 1000)");
my $id = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
like($id, qr/^\d{8}T\d{6}Z$/, "backup $id");
$node->safe_psql('postgres', "INSERT INTO t SELECT generate_series(1001, 1500)");
my $seg = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
$node->poll_query_until('postgres', "SELECT last_archived_wal >= '$seg' FROM pg_stat_archiver")
  or die "timed out waiting for $seg to be archived";
my ($verdir) = grep { m{/PG_15_\d+$} } glob("$ts/PG_*");
($verdir) = $verdir =~ m{/(PG_15_\d+)$};
ok($verdir, "the tablespace's version directory is $verdir");

# A listing (path => size) of a directory tree, to see that nothing changed.
sub snapshot
{
	my ($dir) = @_;
	my %s;
	return \%s unless -e $dir;
	find({ no_chdir => 1, wanted => sub { $s{$_} = -d $_ ? 'dir' : (-s _) . ':' . (stat _)[9] } }, $dir);
	return \%s;
}

# --- a non-empty location of the manifest is not written without --tablespace-map -----
$node->stop;	# so that its tablespace holds still
my $before = snapshot($ts);
for my $mode ([], ['--delta'], ['--force'])
{
	my $target = "$tmp/r_refused";
	my ($rc, $out, $err) = tbdr('restore', '--as', 'copy', '-c', $conf, '--pgdata', $target, '--target', 'immediate', @$mode);
	ok($rc == 1 && $err =~ /location of tablespace \d+ "\Q$ts\E" is not empty/,
		"restore @$mode into the primary's tablespace location: refused") or diag $err;
	like($err, qr/--tablespace-map \Q$ts\E=NEWDIR.*--tablespace-map \Q$ts\E=\Q$ts\E/s,
		'with a hint at mapping it elsewhere or naming it');
	ok(!-e $target, 'the data directory was not created');
	is_deeply(snapshot($ts), $before, 'the tablespace location is unchanged');
}

# --- mapped, the location may hold other things: they stay ---------------------------
my $shared = "$tmp/ts_shared";
make_path("$shared/PG_14_202107181/16384");
append_to_file("$shared/PG_14_202107181/16384/1259", 'an older server\'s table');
append_to_file("$shared/unrelated.txt", 'not PostgreSQL\'s');
my $others = snapshot($shared);

my $r = PostgreSQL::Test::Cluster->new('restored');
my ($rc, $out, $err) = tbdr('restore', '--as', 'copy', '-c', $conf, '--pgdata', $r->data_dir, '--json',
	'--tablespace-map', "$ts=$shared", '--target', 'immediate', '--target-action', 'promote');
is($rc, 0, 'restore with the location mapped to a directory holding other things') or diag $err;
my $auto = slurp_file($r->data_dir . '/postgresql.auto.conf');
(my $conf_escaped = $conf) =~ s/%/%%/g;
like($auto, qr/^restore_command = '.*archive-get -c ''\Q$conf_escaped\E'' %f %p'$/m,
	'restore_command names the configuration with % doubled') or diag $auto;
ok(-d "$shared/$verdir", "$verdir created in the mapped location");
is_deeply({ map { $_ => snapshot($shared)->{$_} } keys %$others }, $others,
	'the sibling PG_14 directory and the unrelated file are intact');

# the restored server recovers through that restore_command
$r->append_conf('postgresql.conf', "port = " . $r->port . "\narchive_mode = off\n");
$r->start;
$r->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'recovery did not end';
is($r->safe_psql('postgres', 'SELECT count(*) FROM t'), '1000', 'the restored server has the table in its tablespace');
$r->stop;

# --- the secrets: in no restored file, in no object --------------------------------------
my ($r2, @leaks) = (PostgreSQL::Test::Cluster->new('restored2'));
($rc, $out, $err) = tbdr('restore', '--as', 'copy', '-c', $conf, '--pgdata', $r2->data_dir,
	'--tablespace-map', "$ts=$tmp/ts_r2", '--target', 'immediate');
is($rc, 0, 'a second restore, never started') or diag $err;
my $nfiles = 0;
find({ no_chdir => 1, follow_fast => 1, wanted => sub {
	return unless -f $_;
	$nfiles++;
	my $c = slurp_file($_);
	push @leaks, $_ if index($c, $secret) >= 0 || index($c, $token) >= 0;
} }, $r2->data_dir);
cmp_ok($nfiles, '>', 500, "$nfiles files of the restored data directory read");
is_deeply(\@leaks, [], 'no restored file holds the secret key or the session token');
like(slurp_file($r2->data_dir . '/tbdr.conf'), qr/^# tbdr\.s3_secret_access_key: value removed/m,
	'tbdr.conf is restored with the secret line replaced by a comment');
like(slurp_file($r2->data_dir . '/postgresql.auto.conf'), qr/^# tbdr\.s3_session_token: value removed/m,
	'so is postgresql.auto.conf');
like(slurp_file($r2->data_dir . '/tbdr.conf'), qr/^tbdr\.repository = /m, 'other settings are kept');

my $keys = $b->list_keys('');
my ($nobj, $ndecoded) = (0, 0);
@leaks = ();
for my $key (sort keys %$keys)
{
	my $raw = slurp_file($b->get($key, "$tmp/obj.raw"));
	my @texts = ($raw);
	my $plain = TbdrTest::Backup::plain_object($raw, "$tmp/obj");
	if (defined $plain)
	{
		push @texts, $plain;
		$ndecoded++;
	}
	$nobj++;
	push @leaks, $key if grep { index($_, $secret) >= 0 || index($_, $token) >= 0 } @texts;
}
cmp_ok($ndecoded, '>', 3, "$nobj objects read, $ndecoded of them decoded");
is_deeply(\@leaks, [], 'no object holds the secret key or the session token, raw or decoded');

# --- --delta and --force touch only the version directory ----------------------------------
for my $mode ('--delta', '--force')
{
	append_to_file("$shared/$verdir/stray", 'not in the backup');
	($rc, $out, $err) = tbdr('restore', '--as', 'copy', '-c', $conf, '--pgdata', $r->data_dir, $mode,
		'--tablespace-map', "$ts=$shared", '--target', 'immediate', '--target-action', 'promote');
	is($rc, 0, "$mode restore over the started copy") or diag $err;
	ok(!-e "$shared/$verdir/stray", "$mode removed what is not in the backup from $verdir");
	is_deeply({ map { $_ => snapshot($shared)->{$_} } keys %$others }, $others,
		"$mode left the sibling PG_14 directory and the unrelated file intact");
}
# the restores replaced postgresql.conf with the primary's
$r->append_conf('postgresql.conf', "port = " . $r->port . "\narchive_mode = off\n");
$r->start;
$r->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'recovery did not end';
is($r->safe_psql('postgres', 'SELECT count(*) FROM t'), '1000', 'and the server restored with --force recovers');
$r->stop;

# --- tbdr check: secrets inside the data directory, TLS verification off -------------------
{
	local $ENV{PGDATA} = $pgdata;
	($rc, $out, $err) = tbdr('check', '-c', $conf, '--set', 's3_verify_tls=off');
}
is($rc, 0, 'tbdr check passes') or diag "$out\n$err";
like($out, qr/^WARNING: tls: tbdr\.s3_verify_tls is off/m, 'and warns that TLS verification is off');
like($out, qr/^WARNING: secrets: "\Q$pgdata\E\/tbdr\.conf" sets tbdr\.s3_secret_access_key/m,
	'and that tbdr.conf in the data directory holds a secret');
like($out, qr/^WARNING: secrets: "\Q$pgdata\E\/postgresql\.auto\.conf" sets tbdr\.s3_session_token/m,
	'and postgresql.auto.conf');
($rc, $out, $err) = tbdr('check', '-c', $conf);
unlike($out, qr/WARNING/, 'no warning with TLS verification on and no data directory to look at') or diag $out;

# --- the server: WARNING at start and at reload ----------------------------------------------
$node->start;
my $log_start = -s $node->logfile;
$node->safe_psql('postgres', "ALTER SYSTEM SET tbdr.s3_verify_tls = off");
$node->reload;
ok($node->poll_query_until('postgres', 'SELECT true FROM pg_settings WHERE name = \'tbdr.s3_verify_tls\' AND setting = \'off\''),
	'tbdr.s3_verify_tls = off after reload');
my $warning = qr/WARNING:  tbdr\.s3_verify_tls is off: the S3 server's TLS certificate is not verified/;
ok(wait_for_log($node, $warning, $log_start), 'the server log has a WARNING after the reload');
$log_start = -s $node->logfile;
$node->restart;
ok(wait_for_log($node, $warning, $log_start), 'and again at server start');
$node->safe_psql('postgres', "ALTER SYSTEM RESET tbdr.s3_verify_tls");
$log_start = -s $node->logfile;
$node->restart;
unlike(substr(slurp_file($node->logfile), $log_start), $warning, 'none with it on');

sub wait_for_log
{
	my ($n, $re, $from) = @_;
	for (1 .. 600)
	{
		return 1 if substr(slurp_file($n->logfile), $from) =~ $re;
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

$node->stop;
done_testing();
