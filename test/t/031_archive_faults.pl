# WAL archiving under faults, and the CLI paths, against a real S3 server
# (Swift + s3api on loopback) behind the fault proxy:
#  - 503 SlowDown and connection resets for a while during pgbench:
#    archiving stalls, PostgreSQL keeps the segments, then it catches up
#    with no gap, every segment byte-identical;
#  - an immediate-mode stop in the middle of archiving loses nothing;
#  - the pre-push workers run (tbdr_status().worker_state);
#  - tbdr.archive_queue_max: past it a segment is acknowledged without being
#    stored, loudly, with the gap in the status and under gaps/;
#  - archive_command = 'tbdr archive-push %p';
#  - restore_command = 'tbdr archive-get %f %p' with prefetch into the
#    spool, feeding a real archive recovery from a pg_basebackup; the
#    pre-push worker removes the spool once recovery is over;
#  - a fast shutdown while the archiver waits for a pre-push worker's
#    stalled push completes promptly, and nothing is lost.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Compare qw(compare);
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use JSON::PP ();
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TbdrTest::FaultProxy;
use TbdrTest::S3Server;
use TbdrTest::Wal;
use TbdrTest::Setup;

my $tbdr = TbdrTest::Setup::tbdr_program();

TbdrTest::Setup::isolate_aws_env();

my $tmp = tempdir('tbdr-031-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bucket = 'tbdr-faults';
my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);
my $proxy = TbdrTest::FaultProxy->start(target => $s3->endpoint);

my $w = TbdrTest::Wal->new(
	tbdr => $tbdr,
	tmp => $tmp,
	settings => {
		repository => "s3://$bucket/main",
		s3_endpoint => $proxy->endpoint,
		s3_access_key_id => $s3->access_key,
		s3_secret_access_key => $s3->secret_key,
		s3_region => 'us-east-1',
		s3_uri_style => 'path',
		s3_max_retries => 1,
		s3_timeout => 5
	});
sub conf_lines { return $w->conf_lines(@_) }
sub write_conf { return $w->write_conf(@_) }
sub tbdr_in { return $w->run(@_) }
sub repo_segments { return [ $w->segments($_[0]) ] }
sub gaps_in { return TbdrTest::Wal::gaps(@_) }

sub ready_count
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'");
}

# Write something, switch, and return the name of the segment switched from.
sub switch_segment
{
	my ($node) = @_;
	$node->safe_psql('postgres', 'INSERT INTO marks VALUES (default)');
	my $seg = $node->safe_psql('postgres',
		'SELECT pg_walfile_name(pg_current_wal_insert_lsn())');
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
	return $seg;
}

sub wait_drained
{
	my ($node, $what) = @_;
	$node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'")
	  or die "timed out waiting for the archive queue to drain ($what)";
}

my $conf = write_conf('main', s3_endpoint => $s3->endpoint);

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tbdr'
archive_mode = on
archive_library = 'tbdr'
archive_timeout = 0
wal_keep_size = '4GB'
max_wal_size = '4GB'
} . conf_lines(archive_parallel => 3));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION tbdr');
$node->safe_psql('postgres', 'CREATE TABLE marks (id serial primary key, at timestamptz default now())');
$node->poll_query_until('postgres',
	"SELECT worker_state ~ '^idle \\(3\\)|^pushing' FROM tbdr_status()")
  or die 'the pre-push workers did not start';
pass('three pre-push workers run (tbdr_status().worker_state)');

# --- load without faults: throughput ---------------------------------------------
my $t0 = time;
$node->command_ok([ 'pgbench', '-i', '-s', '10', '-q', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'pgbench -i');
my $first = $node->safe_psql('postgres',
	"SELECT min(name) FROM pg_ls_archive_statusdir() WHERE name ~ '^[0-9A-F]{24}\\.(ready|done)\$'");
$first = substr($first, 0, 24);
switch_segment($node);
wait_drained($node, 'initial load');
my $dt = time - $t0;
my ($n0, $plain0, $stored0) = split /\|/, $node->safe_psql('postgres',
	'SELECT archived_count, archived_bytes, stored_bytes FROM tbdr_status()');
note sprintf('no faults: %d files archived in %.1f s including pgbench -i (%.2f segments/s); stored %.1f%% of %d bytes',
	$n0, $dt, $n0 / ($dt || 1), 100 * $stored0 / ($plain0 || 1), $plain0);

# --- a worker that exits is restarted ------------------------------------------------
sub pusher_pid
{
	my ($n) = @_;
	for my $pid (map { m{^/proc/(\d+)$} ? $1 : () } glob('/proc/[0-9]*'))
	{
		open(my $fh, '<', "/proc/$pid/cmdline") or next;
		my $cmd = <$fh> // '';
		close $fh;
		return $pid if $cmd =~ /^postgres: primary: tbdr wal pusher $n\/3/;
	}
	return undef;
}
my $pid1 = pusher_pid(1);
ok($pid1, "worker 1 runs (pid $pid1)");
kill 'TERM', $pid1 if $pid1;
$node->poll_query_until('postgres', "SELECT worker_state ~ '\\(2\\)' FROM tbdr_status()")
  or diag 'the state did not show the exit';
my $restarted;
for (1 .. 120)
{
	my $p = pusher_pid(1);
	$restarted = $p, last if $p && $p != $pid1;
	select(undef, undef, undef, 0.5);
}
ok($restarted, 'worker 1 was restarted after it exited (bgw_restart_time)');
$node->poll_query_until('postgres',
	"SELECT worker_state ~ '^idle \\(3\\)|^pushing' FROM tbdr_status()")
  or die 'the pre-push workers did not come back';

# --- 503s and connection resets during pgbench -----------------------------------
my $fault_secs = 25;
$proxy->reset_stats;
$proxy->inject(
	{ mode => 'status', status => 503, s3_code => 'SlowDown', method => 'PUT', duration => $fault_secs },
	{ mode => 'reset', phase => 'request', duration => $fault_secs });
my $fault_start = time;
my $failed_before = $node->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver');
$node->command_ok([ 'pgbench', '-T', '8', '-c', '2', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'pgbench during the faults');
my $stalled = switch_segment($node);
switch_segment($node);
ok($node->poll_query_until('postgres',
	"SELECT failed_count > $failed_before FROM pg_stat_archiver"),
	'archiving fails while S3 answers 503 and resets connections');
my $ready_during = ready_count($node);
cmp_ok($ready_during, '>', 0, "segments wait for archiving during the faults ($ready_during ready)");
ok(-f $node->data_dir . "/pg_wal/$stalled", "PostgreSQL keeps $stalled meanwhile");
my ($qd, $age) = split /\|/, $node->safe_psql('postgres',
	'SELECT queue_depth, oldest_ready_wal IS NOT NULL FROM tbdr_status()');
cmp_ok($qd, '>', 0, "tbdr_status() shows the queue ($qd)");
is($age, 't', 'and the oldest ready segment');
my $faulted = $proxy->stats->{faulted};
cmp_ok($faulted, '>', 0, "the proxy injected $faulted faults");
# The rules expire by themselves; then archiving catches up.
my $t1 = time;
wait_drained($node, 'after the faults');
note sprintf('caught up %.1f s after the faults began (%d ready then)', time - $fault_start, $ready_during);
my $last = switch_segment($node);
wait_drained($node, 'after one more switch');
my $segs = repo_segments($conf);
my @g = gaps_in(@$segs);
is(scalar(@g), 0, "no gap in $segs->[0] .. $segs->[-1] after the faults") or diag "gaps before: @g";
ok((grep { $_ eq $stalled } @$segs), "$stalled is stored");

# Byte-identical: every segment still in pg_wal against archive-get.
my $pgwal = $node->data_dir . '/pg_wal';
my ($same, $diff) = (0, 0);
my $get_t0 = time;
for my $seg (@$segs)
{
	next unless -f "$pgwal/$seg";
	my ($rc, $out, $err) = tbdr_in($tmp, 'archive-get', '-c', $conf, '--set', 'restore_prefetch=0', $seg, "$tmp/got");
	if ($rc == 0 && compare("$tmp/got", "$pgwal/$seg") == 0) { $same++ }
	else { $diff++; diag "archive-get $seg: rc $rc $err" }
}
note sprintf('archive-get without prefetch: %d segments in %.1f s', $same + $diff, time - $get_t0);
cmp_ok($same, '>=', 5, "$same segments byte-identical to pg_wal's");
is($diff, 0, 'none differs');

# --- immediate stop in the middle of archiving -------------------------------------
# Slow every PUT down so that the stop comes while several are in flight.
$proxy->inject(mode => 'delay', seconds => 2, method => 'PUT', duration => 60);
my @mid;
push @mid, switch_segment($node) for 1 .. 6;
$node->poll_query_until('postgres',
	"SELECT archived_count > 0 FROM pg_stat_archiver")
  or die;
my $ready_at_stop = ready_count($node);
note "immediate stop with $ready_at_stop segments waiting";
$node->stop('immediate');
$proxy->clear;
$node->start;
push @mid, switch_segment($node);
wait_drained($node, 'after the immediate stop');
$segs = repo_segments($conf);
my %have = map { $_ => 1 } @$segs;
my @lost = grep { !$have{$_} } @mid;
is(scalar(@lost), 0, 'an immediate stop in the middle of archiving loses nothing') or diag "lost: @lost";
@g = gaps_in(@$segs);
is(scalar(@g), 0, "no gap in $segs->[0] .. $segs->[-1]") or diag "gaps before: @g";
is($node->safe_psql('postgres', 'SELECT failed_count FROM tbdr_status()'), 0,
	'no archiving failure after the restart');

# --- archive_queue_max: acknowledge without storing, loudly ------------------------
$node->append_conf('postgresql.conf', "tbdr.archive_queue_max = 2\n");
$node->reload;
$node->poll_query_until('postgres', 'SHOW tbdr.archive_queue_max', '2') or die;
$proxy->inject(mode => 'status', status => 503, duration => 600);
my $log_offset = -s $node->logfile;
my @dropped_candidates;
push @dropped_candidates, switch_segment($node) for 1 .. 5;
ok($node->poll_query_until('postgres', 'SELECT gap_count > 0 FROM tbdr_status()'),
	'past tbdr.archive_queue_max segments are acknowledged without being stored');
my ($gap_wal, $gap_count) = split /\|/, $node->safe_psql('postgres',
	'SELECT last_gap_wal, gap_count FROM tbdr_status()');
ok($node->log_contains(qr/WARNING: .*"$gap_wal" is acknowledged WITHOUT being stored.*tbdr\.archive_queue_max \(2\)/,
	$log_offset), "a loud WARNING names the gap ($gap_wal)");
$proxy->clear;
$node->append_conf('postgresql.conf', "tbdr.archive_queue_max = 0\n");
$node->reload;
push @dropped_candidates, switch_segment($node);
wait_drained($node, 'after the queue limit');
$segs = repo_segments($conf);
%have = map { $_ => 1 } @$segs;
ok(!$have{$gap_wal}, "$gap_wal is not in the repository");
my ($rc, $out, $err) = tbdr_in(undef, 'repo-get', '-c', $conf, "gaps/$gap_wal", "$tmp/gap.json");
is($rc, 0, "the gap is recorded under gaps/$gap_wal") or diag $err;
if ($rc == 0)
{
	my $gap = JSON::PP->new->decode(slurp_file("$tmp/gap.json"));
	is($gap->{segment}, $gap_wal, 'the marker names the segment');
	like($gap->{reason}, qr/archive_queue_max/, 'and why');
}
note "gaps: $gap_count segment(s) acknowledged without being stored";

# --- a reload that changes the repository --------------------------------------------
# Every segment completed after the reload must be in the new repository,
# also those a worker had stored with the old settings just before.
my $movedconf = write_conf('moved', s3_endpoint => $s3->endpoint, repository => "s3://$bucket/moved");
$node->append_conf('postgresql.conf', "tbdr.repository = 's3://$bucket/moved'\n");
$node->reload;
$node->poll_query_until('postgres', 'SHOW tbdr.repository', "s3://$bucket/moved") or die;
my @moved;
push @moved, switch_segment($node) for 1 .. 4;
wait_drained($node, 'after moving the repository');
my %inmoved = map { $_ => 1 } @{ repo_segments($movedconf) };
is(scalar(grep { !$inmoved{$_} } @moved), 0,
	'after a reload that changes tbdr.repository, new segments go to the new one');
$node->append_conf('postgresql.conf', "tbdr.repository = 's3://$bucket/main'\n");
$node->reload;
$node->poll_query_until('postgres', 'SHOW tbdr.repository', "s3://$bucket/main") or die;

# --- archive_command = 'tbdr archive-push %p' ----------------------------------------
my $cmdconf = write_conf('cmd', s3_endpoint => $s3->endpoint, repository => "s3://$bucket/cmd");
my $cmdnode = PostgreSQL::Test::Cluster->new('cmd');
$cmdnode->init(allows_streaming => 1);
$cmdnode->append_conf('postgresql.conf', qq{
archive_mode = on
archive_command = '$tbdr archive-push -c $cmdconf %p'
});
$cmdnode->start;
$cmdnode->safe_psql('postgres', 'CREATE TABLE marks (id serial primary key, at timestamptz default now())');
my @cmdsegs;
push @cmdsegs, switch_segment($cmdnode) for 1 .. 3;
wait_drained($cmdnode, 'archive_command');
my $cmdstored = repo_segments($cmdconf);
%have = map { $_ => 1 } @$cmdstored;
is(scalar(grep { !$have{$_} } @cmdsegs), 0,
	"archive_command = 'tbdr archive-push %p' stores every segment");
is($cmdnode->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver'), 0,
	'without a failure');
$cmdnode->stop;

# --- archive-get prefetch into the spool ---------------------------------------------
# A scratch "data directory" (pg_control for the segment size, pg_wal).
my $scratch = "$tmp/scratch";
mkdir $scratch;
mkdir "$scratch/global";
mkdir "$scratch/pg_wal";
copy($node->data_dir . '/global/pg_control', "$scratch/global/pg_control")
  or die "copy pg_control: $!";
$segs = repo_segments($conf);
my @run = @$segs[ 0 .. 5 ];
($rc, $out, $err) = tbdr_in($scratch, 'archive-get', '-c', $conf, '--set', 'restore_prefetch=4',
	$run[0], 'pg_wal/RECOVERYXLOG');
is($rc, 0, 'archive-get with prefetch') or diag $err;
my $spool = "$scratch/pg_wal/tbdr-spool";
my $spooled = 0;
for (1 .. 120)
{
	$spooled = grep { -f "$spool/$_" } @run[ 1 .. 4 ];
	last if $spooled == 4 && !glob("$spool/*.fetching");
	select(undef, undef, undef, 0.25);
}
is($spooled, 4, 'the next four segments are prefetched into the spool');
ok(!-e "$spool/$run[5]", 'and not more than tbdr.restore_prefetch');
($rc, $out, $err) = tbdr_in($scratch, 'archive-get', '-c', $conf, '--set', 'restore_prefetch=4',
	$run[2], 'pg_wal/RECOVERYXLOG');
is($rc, 0, 'archive-get of a spooled segment');
ok(!-e "$spool/$run[2]", 'is served from the spool (moved out)');
ok(!-e "$spool/$run[1]", 'a spooled segment recovery passed is removed');
SKIP:
{
	skip "$run[2] no longer in pg_wal", 1 unless -f "$pgwal/$run[2]";
	is(compare("$scratch/pg_wal/RECOVERYXLOG", "$pgwal/$run[2]"), 0,
		'the spooled segment is byte-identical');
}
($rc, $out, $err) = tbdr_in($scratch, 'archive-get', '-c', $conf, 'FFFFFFFF0000000000000001', 'pg_wal/RECOVERYXLOG');
is($rc, 1, 'a missing segment: exit 1');
is($err, '', 'without noise');

# --- a real archive recovery: pg_basebackup + restore_command with prefetch ------------
$node->safe_psql('postgres', 'CHECKPOINT');
$node->backup('bb');
$node->safe_psql('postgres', 'CREATE TABLE after_backup AS SELECT generate_series(1, 50000) g');
$node->command_ok([ 'pgbench', '-T', '5', '-c', '2', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'pgbench after the base backup');
my $marks = $node->safe_psql('postgres', 'SELECT count(*) FROM marks');
my $accounts = $node->safe_psql('postgres', 'SELECT sum(abalance) FROM pgbench_accounts');
my $endseg = switch_segment($node);
$marks++;						# switch_segment's own insert
wait_drained($node, 'before the recovery');

my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init_from_backup($node, 'bb');
# Archiving on (into another prefix), so that the pre-push workers run.
$restored->append_conf('postgresql.conf', qq{
archive_mode = on
tbdr.repository = 's3://$bucket/restored'
restore_command = '$tbdr archive-get -c $conf %f %p'
});
$restored->set_recovery_mode;
my $rt0 = time;
$restored->start;
$restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'recovery did not end';
my $rdt = time - $rt0;
is($restored->safe_psql('postgres', 'SELECT count(*) FROM marks'), $marks,
	'archive recovery through tbdr archive-get replays every archived segment');
is($restored->safe_psql('postgres', 'SELECT sum(abalance) FROM pgbench_accounts'), $accounts,
	'pgbench data identical');
is($restored->safe_psql('postgres', 'SELECT count(*) FROM after_backup'), 50000,
	'a table created after the base backup is there');
my $nrestored = () = slurp_file($restored->logfile) =~ /restored log file "[0-9A-F]{24}" from archive/g;
note sprintf('recovery: %d segments restored in %.1f s (%.2f segments/s, with prefetch)',
	$nrestored, $rdt, $nrestored / ($rdt || 1));
ok(!$restored->log_contains(qr/tbdr: error/), 'no tbdr error during recovery');
cmp_ok($nrestored, '>', 1, 'recovery used archive-get, with the spool (tbdr.restore_prefetch 8)');
my $rspool = $restored->data_dir . '/pg_wal/tbdr-spool';
my $spool_gone = 0;
for (1 .. 4 * $PostgreSQL::Test::Utils::timeout_default)
{
	$spool_gone = !-e $rspool, last if !-e $rspool;
	select(undef, undef, undef, 0.25);
}
ok($spool_gone, 'the pre-push worker removes pg_wal/tbdr-spool once recovery is over');
$restored->stop;

# --- a fast shutdown while the archiver waits for a pre-push worker -------------------
# The archiver's push of A is held 10 s, long enough for a worker to claim B,
# whose push is held 300 s; the archiver then waits for that worker.  The
# fast shutdown stops the worker (its push is abandoned), the archiver
# stores B itself and the server stops, long before the held push would end.
sub next_segment
{
	my ($seg) = @_;
	my ($tli, $log, $num) = map { hex } unpack('A8 A8 A8', $seg);
	($log, $num) = ($log + 1, 0) if ++$num > 0xFF;
	return sprintf('%08X%08X%08X', $tli, $log, $num);
}
$node->safe_psql('postgres', 'INSERT INTO marks VALUES (default)');
my $seg_a = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_insert_lsn())');
my $seg_b = next_segment($seg_a);
$proxy->inject(
	{ mode => 'delay', phase => 'request', seconds => 10, method => 'PUT', path_regex => $seg_a },
	{ mode => 'delay', phase => 'request', seconds => 300, method => 'PUT', path_regex => $seg_b });
is(switch_segment($node), $seg_a, "segment A ($seg_a) switched");
is(switch_segment($node), $seg_b, "segment B ($seg_b) switched");
ok($node->poll_query_until('postgres',
	"SELECT wait_event = 'Extension' FROM pg_stat_activity WHERE backend_type = 'archiver'"),
	'the archiver waits for the worker storing B');
my $stop_t0 = time;
$node->stop('fast');
my $stop_secs = time - $stop_t0;
note sprintf('fast shutdown while the archiver waited for a worker: %.1f s', $stop_secs);
cmp_ok($stop_secs, '<', 120, 'the fast shutdown does not wait for the held push');
$segs = repo_segments($conf);
%have = map { $_ => 1 } @$segs;
ok($have{$seg_a} && $have{$seg_b}, 'A and B are stored (the archiver stored B itself)');

$proxy->stop;
$s3->stop;
done_testing();
