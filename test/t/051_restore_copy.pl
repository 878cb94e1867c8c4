# A restored copy never writes into the repository it came from; a restore
# declared the new primary does.  Against a real S3 server (Swift + s3api on
# loopback), with backups taken by the server:
#  - issue 11, steps 1-3: a test copy restored with --target-time and
#    promote, started exactly as tbdr restore prints it (only the port
#    added), while production goes on writing marker rows: the repository
#    gets nothing from the copy (no timeline-2 history or segment), even
#    with archiving forced on or through archive-push; tbdr_backup_now(),
#    tbdr_expire() and the schedule refuse on the copy; tbdr list is
#    unchanged; a later restore without a target gives back exactly
#    production's markers;
#  - tbdr restore-wait: exit 0 at a promoted target, at a paused target;
#    exit 1 when the server stopped before its target, and for a new
#    primary without archiving;
#  - the restore commands of README.md and docs/RUNBOOK.md, extracted from
#    the documents and run with only paths, ports, ids and times replaced:
#    README's PITR copy, RUNBOOK's copy next to production (xid, pause),
#    the monthly restore test (restores exactly the backup it verified),
#    and the total-loss restore --as primary, whose new timeline's WAL
#    reaches the repository and whose backup schedule runs.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IPC::Run qw(run);
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TbdrTest::S3Server;
use TbdrTest::Wal;
use TbdrTest::Setup;

my $tbdr = TbdrTest::Setup::tbdr_program();
my $root = TbdrTest::Setup::root();
# the documents name Debian's /usr/lib/postgresql/15/bin: the one under test instead
my $pg_bin = `pg_config --bindir`;
chomp $pg_bin;

TbdrTest::Setup::isolate_aws_env();

my $tmp = tempdir('tbdr-051-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bucket = 'tbdr-copy';
my $repository = "s3://$bucket/main";
my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);
my $json = JSON::PP->new;

my $w = TbdrTest::Wal->new(tbdr => $tbdr, tmp => $tmp, settings => {
	repository => $repository,
	s3_endpoint => $s3->endpoint,
	# as README sets it up: the keys in a file outside the data directory
	# (backups store no secret, so a restored primary archives with them)
	s3_credentials_file => "$tmp/credentials",
	s3_region => 'us-east-1',
	s3_uri_style => 'path',
	s3_max_retries => 2,
	s3_timeout => 20,
	backup_part_size => 1 });
my $conf = $w->write_conf('main');
append_to_file("$tmp/credentials", "[default]\naws_access_key_id = " . $s3->access_key
	  . "\naws_secret_access_key = " . $s3->secret_key . "\n");
chmod 0600, "$tmp/credentials";

# Run a program; returns (exit code, stdout, stderr).
sub runx
{
	my (@cmd) = @_;
	my ($out, $err) = ('', '');
	run([@cmd], '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}
sub tbdr { return runx($tbdr, @_) }
sub sh { return runx('sh', '-c', $_[0]) }

# --- production -----------------------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('production');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tbdr'
archive_mode = on
archive_library = 'tbdr'
track_commit_timestamp = on
} . $w->conf_lines());
$node->start;
my $ts_prod = "$tmp/ts1";
mkdir $ts_prod or die;
$node->safe_psql('postgres', 'CREATE EXTENSION tbdr');
$node->safe_psql('postgres', "CREATE TABLESPACE ts1 LOCATION '$ts_prod'");
$node->safe_psql('postgres',
	'CREATE TABLE markers (id text PRIMARY KEY, at timestamptz DEFAULT clock_timestamp()) TABLESPACE ts1');
# every copy listens in production's socket directory (its postgresql.conf);
# the documents' psql commands run as postgres, whose database is postgres
$ENV{PGHOST} = $node->host;
$ENV{PGDATABASE} = 'postgres';

sub switch_and_wait
{
	my ($n) = @_;
	my $seg = $n->safe_psql('postgres', "SELECT pg_walfile_name(pg_current_wal_lsn())");
	$n->safe_psql('postgres', 'SELECT pg_switch_wal()');
	$n->poll_query_until('postgres', "SELECT last_archived_wal >= '$seg' FROM pg_stat_archiver")
	  or die "timed out waiting for $seg to be archived";
	return $seg;
}

my (%commit, %xid);
sub marker
{
	my ($id) = @_;
	$xid{$id} = $node->safe_psql('postgres', "INSERT INTO markers (id) VALUES ('$id') RETURNING xmin");
	$commit{$id} = $node->safe_psql('postgres',
		"SELECT pg_xact_commit_timestamp(xmin) FROM markers WHERE id = '$id'");
	$node->safe_psql('postgres', 'SELECT pg_sleep(0.3)');
	return;
}

sub midpoint
{
	my ($a, $b) = @_;
	return $node->safe_psql('postgres',
		"SELECT to_char(('$a'::timestamptz + ('$b'::timestamptz - '$a'::timestamptz) / 2) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
}

my $b1 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
like($b1, qr/^\d{8}T\d{6}Z$/, "backup B1 $b1");
$node->safe_psql('postgres', 'SELECT pg_sleep(1.1)');	# past B1's stop second
marker('p1');
marker('p2');
switch_and_wait($node);
my $t_copy = midpoint($commit{p1}, $commit{p2});

# psql against a server of this test on port $port; (exit code, output).
sub psql_at
{
	my ($port, $sql) = @_;
	my ($rc, $out, $err) = runx('psql', '-X', '-Atq', '-p', $port, '-d', 'postgres', '-c', $sql);
	chomp $out;
	return wantarray ? ($rc, $out, $err) : $out;
}

sub markers_at
{
	return scalar psql_at($_[0], "SELECT string_agg(id, ',' ORDER BY id) FROM markers");
}

# The commands under "Next:" of tbdr restore's output (indented lines).
sub next_commands
{
	my ($out) = @_;
	my ($after) = $out =~ /\nNext: [^\n]*\n(?:\([^\n]*\n)?((?:  [^\n]*\n)+)/ or return ();
	return map { s/^  //r } split /\n/, $after;
}

sub wait_for_log
{
	my ($file, $re) = @_;
	for (1 .. $PostgreSQL::Test::Utils::timeout_default)
	{
		return 1 if -f $file && slurp_file($file) =~ $re;
		sleep 1;
	}
	return 0;
}

sub stop_dir
{
	my ($dir, $mode) = @_;
	my ($rc, $out, $err) = runx('pg_ctl', '-D', $dir, '-m', $mode || 'fast', '-w', 'stop');
	return $rc;
}

# Servers this test starts with pg_ctl (not PostgreSQL::Test::Cluster):
# stopped at the end whatever happened.
my @dirs;
END
{
	for my $dir (@dirs)
	{
		runx('pg_ctl', '-D', $dir, '-m', 'immediate', 'stop') if -f "$dir/postmaster.pid";
	}
}

# Wait until $sql returns t on the server at $port.
sub poll_at
{
	my ($port, $sql, $factor) = @_;
	for (1 .. ($factor || 1) * $PostgreSQL::Test::Utils::timeout_default)
	{
		return 1 if psql_at($port, $sql) eq 't';
		sleep 1;
	}
	return 0;
}

# --- the documents' commands ------------------------------------------------------------
# The fenced block of $file that contains $text.
sub doc_block
{
	my ($file, $text) = @_;
	my $doc = slurp_file("$root/$file");
	for my $block ($doc =~ /^ *```sh\n(.*?)^ *```$/msg)
	{
		return $block if index($block, $text) >= 0;
	}
	die "$file has no sh block with \"$text\"";
}

# Its command lines: indentation removed, continuations joined, comments
# (two spaces, then #) and comment lines dropped.
sub doc_commands
{
	my ($block) = @_;
	$block =~ s/^ +//mg;
	$block =~ s/\\\n\s*/ /g;
	return grep { /\S/ && !/^#/ } map { s/\s{2,}#.*$//r } split /\n/, $block;
}

# Replace the documents' placeholders (exact strings, longest first) in a
# command, in one pass: a replacement is never replaced again.
sub substitute
{
	my ($cmd, %pairs) = @_;
	my $alt = join('|', map { quotemeta } sort { length($b) <=> length($a) } keys %pairs);
	$cmd =~ s/($alt)/$pairs{$1}/g;
	return $cmd;
}

# RUNBOOK 2: a copy next to production, to just before a transaction, paused.
sub runbook_copy
{
	my @restore = doc_commands(doc_block('docs/RUNBOOK.md', '--target-xid 734521'));
	my @start = doc_commands(doc_block('docs/RUNBOOK.md', '-l /srv/pitr.log'));
	is(scalar @restore, 1, 'RUNBOOK 2: one restore command');
	is(scalar @start, 3, 'RUNBOOK 2: three commands to start and look');
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my ($rc, $out, $err);
	push @dirs, "$tmp/pitr";
	my @subst = ('sudo -u postgres ' => '', 'tbdr -c /etc/tbdr/tbdr.conf ' => "$tbdr -c $conf ",
		'tbdr restore-wait' => "$tbdr restore-wait", '/usr/lib/postgresql/15/bin/' => "$pg_bin/",
		'/srv/pitr_ts1' => "$tmp/pitr_ts1", '/srv/ts1' => $ts_prod, '/srv/pitr' => "$tmp/pitr",
		'734521' => $xid{p3}, '5433' => $port);
	for my $cmd (@restore, @start)
	{
		my $run = substitute($cmd, @subst);
		($rc, $out, $err) = sh($run);
		is($rc, 0, "RUNBOOK 2: $cmd") or diag "$run\n$out$err";
		like($out, qr/recovery paused at the target/, 'restore-wait: paused at the target')
		  if $cmd =~ /restore-wait/;
		like($out, qr/\bpaused\b/, 'the server says paused') if $cmd =~ /^sudo -u postgres psql/;
	}
	is(markers_at($port), 'p1,p2', 'RUNBOOK 2: just before the xid of p3');
	stop_dir("$tmp/pitr");
	return;
}

# --- restore without --as ------------------------------------------------------------
my ($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', "$tmp/x", '--target', 'immediate');
is($rc, 2, 'restore without --as: usage error');
like($err, qr/--as copy .*never writes into this repository.* --as primary .*archives WAL and takes backups/,
	'naming both choices and what they do');
ok(!-e "$tmp/x", 'nothing restored');
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', "$tmp/x", '--as', 'test');
ok($rc == 2 && $err =~ /--as must be copy or primary/, '--as with another value: usage error');

# --- issue 11 step 1: a test copy, promoted at a time, started as printed ------------------------
my $copy = "$tmp/copy";
push @dirs, $copy;
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', $copy, '--as', 'copy',
	'--tablespace-map', "$ts_prod=$tmp/copy_ts1", '--target-time', $t_copy,
	'--target-action', 'promote', '--no-progress');
is($rc, 0, "restore --as copy to $t_copy, then promote") or diag $err;
note $out;
like($out, qr/restored as a COPY \(--as copy\): it reads WAL from \Q$repository\E but never writes into it/,
	'the output says it is a copy that never writes into the repository');
my $auto = slurp_file("$copy/postgresql.auto.conf");
like($auto, qr/^archive_mode = 'off'\ntbdr\.copy_of = '\Q$repository\E'$/m,
	'postgresql.auto.conf: archive_mode off and tbdr.copy_of');
my @next = next_commands($out);
is(scalar @next, 2, 'two next commands') or diag $out;
is($next[0], "pg_ctl -D $copy -l $copy.log start", 'Next: pg_ctl start');
is($next[1], "$tbdr restore-wait --pgdata $copy", 'Next: tbdr restore-wait');

my $copy_port = PostgreSQL::Test::Cluster::get_free_port();
($rc, $out, $err) = sh("$next[0] -o '-p $copy_port'");
is($rc, 0, 'the copy starts as printed, on another port') or diag "$out$err";
($rc, $out, $err) = sh($next[1]);
is($rc, 0, 'restore-wait: exit 0') or diag "$out$err";
like($out, qr/recovery reached the target; the server was promoted onto timeline 2/, 'promoted at the target onto timeline 2');
like($out, qr/a copy: it does not archive or back up into \Q$repository\E/, 'and it is a copy');
is(markers_at($copy_port), 'p1', 'the copy has the markers before the target');
is(psql_at($copy_port, 'SHOW archive_mode'), 'off', 'archive_mode is off on the copy');
is(psql_at($copy_port, 'SHOW tbdr.copy_of'), $repository, 'tbdr.copy_of names the repository');

# The copy lives: writes, switches WAL, is asked for a backup and an expiry.
psql_at($copy_port, "INSERT INTO markers (id) VALUES ('copy_a')");
psql_at($copy_port, 'SELECT pg_switch_wal()');
psql_at($copy_port, 'CHECKPOINT');
($rc, $out, $err) = psql_at($copy_port, 'SELECT tbdr_backup_now(wait => true)');
ok($rc != 0 && $err =~ /this server is a restored copy of \Q$repository\E \(tbdr\.copy_of\) and does not take backups into it/,
	'tbdr_backup_now() on the copy: refused') or diag $err;
like($err, qr/HINT:  If this server is the new primary, declare it: ALTER SYSTEM RESET tbdr\.copy_of/, 'with a hint');
($rc, $out, $err) = psql_at($copy_port, 'SELECT * FROM tbdr_expire()');
ok($rc != 0 && $err =~ /does not expire backups or WAL into it/, 'tbdr_expire() on the copy: refused') or diag $err;
psql_at($copy_port, "ALTER SYSTEM SET tbdr.backup_schedule = '* * * * *'");
psql_at($copy_port, 'SELECT pg_reload_conf()');
ok(wait_for_log("$copy.log", qr/no scheduled backups: this server is a restored copy of \Q$repository\E/),
	'a backup schedule on the copy: no scheduled backups, logged');

# --- step 2: production goes on; the repository is unchanged by the copy ----------------
marker('p3');
marker('p4');
switch_and_wait($node);
# RUNBOOK 2's copy, beside production and the first copy
runbook_copy();
my $b2 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
like($b2, qr/^\d{8}T\d{6}Z$/, "production backup B2 $b2");
switch_and_wait($node);
my ($rc_a, $list_a) = tbdr('list', '-c', $conf);
is($rc_a, 0, 'tbdr list');

# Archiving forced on at the command line: the archive module refuses.
is(stop_dir($copy), 0, 'copy stopped');
($rc, $out, $err) = sh("$next[0] -o '-p $copy_port -c archive_mode=on'");
is($rc, 0, 'the copy restarted with archive_mode forced on') or diag "$out$err";
psql_at($copy_port, "INSERT INTO markers (id) VALUES ('copy_b')");
psql_at($copy_port, 'SELECT pg_switch_wal()');
ok(wait_for_log("$copy.log", qr/tbdr could not archive "[0-9A-F]{24}": this server is a restored copy of \Q$repository\E \(tbdr\.copy_of\) and does not archive WAL into it/),
	'the archive module refuses to archive the copy\'s WAL, logged');
ok(poll_at($copy_port, 'SELECT failed_count > 0 AND archived_count = 0 FROM pg_stat_archiver'),
	'pg_stat_archiver: failures, nothing archived');
is(stop_dir($copy), 0, 'copy stopped');

# archive_command = 'tbdr archive-push %p' in the copy's directory refuses as well.
($rc, $out, $err) = $w->run($copy, 'archive-push', '-c', $conf, 'pg_wal/00000002.history');
is($rc, 1, 'tbdr archive-push in the copy: refused');
like($err, qr/restored copy of \Q$repository\E .*does not archive WAL into it/, 'saying why') or diag $err;

my @tl2 = grep { /^00000002/ } keys %{ $w->wal_objects($conf) };
is_deeply(\@tl2, [], 'the repository has no timeline-2 history or segment');
my ($rc_b, $list_b) = tbdr('list', '-c', $conf);
is($list_b, $list_a, 'tbdr list is unchanged by the copy') or diag "before:\n$list_a\nafter:\n$list_b";
($rc, $out) = tbdr('list', '-c', $conf, '--json');
my $list = $json->decode($out);
is($list->{window}{timeline}, 1, 'the restorable window is on timeline 1');
ok(!grep({ $_->{status} eq 'complete' && !$_->{restorable} } @{ $list->{backups} }),
	'every complete backup is restorable');

# --- step 3: a later restore without a target gives back exactly production's markers -------------
my $later = "$tmp/later";
push @dirs, $later;
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', $later, '--as', 'copy',
	'--tablespace-map', "$ts_prod=$tmp/later_ts1", '--no-progress');
is($rc, 0, 'restore --as copy without a target') or diag $err;
@next = next_commands($out);
my $later_port = PostgreSQL::Test::Cluster::get_free_port();
($rc, $out, $err) = sh("$next[0] -o '-p $later_port'");
is($rc, 0, 'started as printed') or diag "$out$err";
($rc, $out, $err) = sh($next[1]);
is($rc, 0, 'restore-wait: exit 0') or diag "$out$err";
like($out, qr/recovery replayed all archived WAL; the server was promoted onto timeline 2/, 'all WAL replayed');
is(markers_at($later_port), 'p1,p2,p3,p4', 'exactly production\'s markers');
stop_dir($later);

# --- restore-wait when the server stops before its target ----------------------------------
my $short = "$tmp/short";
push @dirs, $short;
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', $short, '--as', 'copy',
	'--tablespace-map', "$ts_prod=$tmp/short_ts1", '--no-progress');
is($rc, 0, 'restore --as copy, to be given a target the WAL does not reach') or diag $err;
@next = next_commands($out);
# an xid far beyond any transaction: PostgreSQL replays all WAL, then stops
append_to_file("$short/postgresql.auto.conf", "recovery_target_xid = '4000000000'\n");
my $short_port = PostgreSQL::Test::Cluster::get_free_port();
sh("$next[0] -o '-p $short_port'");
ok(wait_for_log("$short.log", qr/recovery ended before configured recovery target was reached/),
	'PostgreSQL: recovery ended before the target');
($rc, $out, $err) = sh($next[1]);
is($rc, 1, 'restore-wait: exit 1');
like($err, qr/stopped during recovery, before it reached its target/, 'saying so') or diag "$out$err";
stop_dir($short, 'immediate');

# --- the documents' commands, as printed -----------------------------------------------------
# README: a PITR copy.
{
	my @cmds = doc_commands(doc_block('README.md', 'tbdr restore --pgdata /srv/pg15'));
	is(scalar @cmds, 5, 'README: five restore commands') or diag join("\n", @cmds);
	my $dir = "$tmp/readme";
	push @dirs, $dir;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	for my $cmd (@cmds)
	{
		my $run = substitute($cmd, 'tbdr ' => "$tbdr -c $conf ", '/srv/pg15' => $dir,
			"'2026-11-30 14:05:00+00'" => "'$t_copy' --tablespace-map $ts_prod=$tmp/readme_ts1",
			'-l /srv/pg15.log start' => "-l $dir.log -o '-p $port' start");
		($rc, $out, $err) = sh($run);
		is($rc, 0, "README: $cmd") or diag "$run\n$out$err";
	}
	is(markers_at($port), 'p1', 'README: the copy has the markers before the target');
	is(psql_at($port, 'SHOW tbdr.copy_of'), $repository, 'README: it is a copy');
	stop_dir($dir);
}

# RUNBOOK 3: the monthly restore test, the script as printed.
{
	my $script = doc_block('docs/RUNBOOK.md', 'tbdr-restore-test');
	my $dir = "$tmp/monthly";
	push @dirs, $dir;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	$script = substitute($script, 'CONF=/etc/tbdr/tbdr.conf' => "CONF=$conf",
		'DIR=/srv/restore-test' => "DIR=$dir",
		'export PATH=/usr/lib/postgresql/15/bin:' => 'export PATH=' . dirname($tbdr) . ":$pg_bin:",
		'--no-progress  ' => "--no-progress --tablespace-map $ts_prod=$tmp/monthly_ts1  ",
		'5499' => $port);
	($rc, $out, $err) = runx('sh', '-c', $script);
	is($rc, 0, 'RUNBOOK 3: the monthly restore test succeeds') or diag "$out$err";
	like($out, qr/^backup \Q$b2\E: OK /m, "it verified the latest backup, $b2");
	like($out, qr/^restoring backup \Q$b2\E /m, 'and restored exactly that backup');
	like($out, qr/^restore test OK: backup \Q$b2\E,/m, 'restore test OK, naming it');
}

# --- RUNBOOK 1: total loss; the restore --as primary archives and backs up --------------------
$node->stop('immediate');
{
	my @restore = doc_commands(doc_block('docs/RUNBOOK.md', '--as primary --force'));
	my @start = doc_commands(doc_block('docs/RUNBOOK.md', 'sudo systemctl start postgresql@15-main'));
	my $dir = "$tmp/primary";
	push @dirs, $dir;
	mkdir $dir, 0700 or die;
	append_to_file("$dir/PG_VERSION", "15\n");	# what Debian's empty cluster leaves
	my @subst = ('sudo -u postgres ' => '', 'tbdr -c /etc/tbdr/tbdr.conf ' => "$tbdr -c $conf ",
		'tbdr restore-wait' => "$tbdr restore-wait", '/var/lib/postgresql/15/main' => $dir,
		'--force' => "--force --tablespace-map $ts_prod=$tmp/primary_ts1");
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my @printed;
	for my $cmd (@restore, @start)
	{
		# the Debian service: started with the printed pg_ctl command instead
		next if $cmd =~ /^sudo systemctl stop/;
		my $run = $cmd =~ /^sudo systemctl start/ ? "$printed[0] -o '-p $port'" : substitute($cmd, @subst);
		($rc, $out, $err) = sh($run);
		is($rc, 0, "RUNBOOK 1: $cmd") or diag "$run\n$out$err";
		@printed = next_commands($out) if $cmd =~ / restore /;
		like($out, qr/restored as the NEW PRIMARY/, 'the output says it is the new primary')
		  if $cmd =~ / restore /;
		like($out, qr/the new primary: archive_mode = on/, 'restore-wait: promoted, archiving on')
		  if $cmd =~ /restore-wait/;
	}
	unlike(slurp_file("$dir/postgresql.auto.conf"), qr/copy_of|archive_mode/,
		'no copy settings in the new primary');
	is(markers_at($port), 'p1,p2,p3,p4', 'the new primary has production\'s markers');

	# Its new timeline reaches the repository.
	psql_at($port, "INSERT INTO markers (id) VALUES ('n1')");
	my $seg = psql_at($port, 'SELECT pg_walfile_name(pg_current_wal_lsn())');
	like($seg, qr/^00000002/, "the new primary writes timeline 2 ($seg)");
	psql_at($port, 'SELECT pg_switch_wal()');
	ok(poll_at($port, "SELECT last_archived_wal >= '$seg' FROM pg_stat_archiver"),
		'the new primary archived its timeline-2 segment');
	my $objects = $w->wal_objects($conf);
	ok($objects->{'00000002.history'} && $objects->{$seg}, "00000002.history and $seg are in the repository");

	# Its backup schedule runs.
	psql_at($port, "ALTER SYSTEM SET tbdr.backup_schedule = '* * * * *'");
	psql_at($port, 'SELECT pg_reload_conf()');
	ok(poll_at($port, "SELECT count(*) > 0 FROM tbdr_list_backups() WHERE timeline = 2 AND status = 'complete'", 3),
		'a scheduled backup of the new primary, on timeline 2, completes');
	psql_at($port, 'ALTER SYSTEM RESET tbdr.backup_schedule');
	psql_at($port, 'SELECT pg_reload_conf()');
	($rc, $out) = tbdr('list', '-c', $conf, '--json');
	is($json->decode($out)->{window}{timeline}, 2, 'tbdr list: the window is on timeline 2 now');

	# A new primary that does not archive fails restore-wait.
	psql_at($port, "ALTER SYSTEM SET archive_mode = 'off'");
	stop_dir($dir);
	($rc, $out, $err) = sh("$printed[0] -o '-p $port'");
	($rc, $out, $err) = sh($printed[1]);
	is($rc, 1, 'restore-wait on a new primary with archive_mode off: exit 1');
	like($err, qr/restored as the new primary, but archive_mode is off/, 'saying so') or diag "$out$err";
	stop_dir($dir);
}

done_testing();
