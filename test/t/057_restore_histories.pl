
# Copyright (c) tbdr authors

# Restores that cannot be silently wrong (issue 11), against a real
# PostgreSQL 15 and the S3 server:
#  - WAL summaries: recorded for every archived segment, and what they say
#    agrees with pg_waldump;
#  - the printed restorable window is exact: targets 100 ms inside each edge
#    restore exactly (the markers committed by then, no more), targets just
#    outside are refused by a message whose window does not contain them;
#    times have the precision they have (no made-up ".000000");
#  - --target-xid, --target-name and --target-lsn pick the backup by
#    themselves (no --backup);
#  - diverging histories: a standby promoted to timeline 2 while the primary
#    goes on on timeline 1.  tbdr list shows both, a restore without
#    --target-timeline refuses and names both, each --target-timeline
#    brings back that history's markers, and a target that is on one
#    history only leads there (xid and restore point across the switch).

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
use TbdrTest::S3Server;
use TbdrTest::Setup;
use TbdrTest::Wal;

my $tbdr = TbdrTest::Setup::tbdr_program();
my $walsum_tool = TbdrTest::Setup::root() . '/build/test/walsum_tool';
TbdrTest::Setup::isolate_aws_env();

my $tmp = tempdir('tbdr-057-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bucket = 'tbdr-hist';
my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);
my $json = JSON::PP->new;
my $w = TbdrTest::Wal->new(tbdr => $tbdr, tmp => $tmp,
	settings => { $s3->tbdr_settings($bucket), backup_part_size => 1 });
my $conf = $w->write_conf('main');

sub tbdr
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	run([ $tbdr, @args ], '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

sub switch_and_wait { return TbdrTest::Wal::switch_and_wait(@_) }

# --- the primary, on timeline 1 ------------------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tbdr'
archive_mode = on
archive_library = 'tbdr'
track_commit_timestamp = on
wal_keep_size = '256MB'
autovacuum = off
} . $w->conf_lines());
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION tbdr');
$node->safe_psql('postgres', 'CREATE TABLE markers (id text PRIMARY KEY)');
$node->safe_psql('postgres', 'CREATE TABLE burn (x int)');

# Use up xids without committing them at the top level: one transaction
# with $count subtransactions (recovery_target_xid only matches top-level
# xids), so that the two histories below do not commit the same xid.
sub burn_xids
{
	my ($n, $count) = @_;
	$n->safe_psql('postgres', 'BEGIN; '
		  . join('', map { "SAVEPOINT s$_; INSERT INTO burn VALUES ($_); RELEASE s$_; " } 1 .. $count)
		  . 'COMMIT;');
	return;
}

my (%commit, %xid, %lsn_after);
sub marker
{
	my ($n, $id) = @_;
	$xid{$id} = $n->safe_psql('postgres', "INSERT INTO markers (id) VALUES ('$id') RETURNING xmin");
	$commit{$id} = $n->safe_psql('postgres',
		"SELECT pg_xact_commit_timestamp(xmin) FROM markers WHERE id = '$id'");
	$lsn_after{$id} = $n->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	$n->safe_psql('postgres', 'SELECT pg_sleep(0.4)');
	return;
}

my $b1 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
like($b1, qr/^\d{8}T\d{6}Z$/, "backup B1 $b1");
$node->safe_psql('postgres', 'SELECT pg_sleep(1.1)');
marker($node, "a$_") for 1 .. 2;
$node->safe_psql('postgres', "SELECT pg_create_restore_point('rp_a2')");
marker($node, "a$_") for 3 .. 4;
my $seg_a = switch_and_wait($node);

# --- the summaries agree with pg_waldump --------------------------------------------------------
{
	my $file = $node->data_dir . "/pg_wal/$seg_a";
	my ($out, $err) = ('', '');
	run([ $walsum_tool, 16 * 1024 * 1024, $file ], '>', \$out, '2>', \$err) or die $err;
	my %sum = map { /^(\w+) (.*)$/ ? ($1 => $2) : () } split /\n/, $out;
	my $dump = `pg_waldump $file 2>/dev/null`;
	my @recs = grep { /^rmgr:/ } split /\n/, $dump;
	my @commits = grep { /desc: (COMMIT|ABORT)/ } @recs;
	is($sum{records}, scalar @recs, "$seg_a: as many records as pg_waldump shows (" . scalar(@recs) . ')');
	is($sum{xacts}, scalar @commits, 'as many commits and aborts');
	like($dump, qr/RESTORE_POINT rp_a2/, 'pg_waldump sees the restore point');
	like($out, qr/^rp \d+ \d+ \Q${\ unpack('H*', 'rp_a2')}\E$/m, 'and so does the summary');
	ok((grep { /^(\d+)-(\d+)$/ && $1 <= $xid{a4} && $xid{a4} <= $2 } split / /, $sum{xids}),
		"a4's xid $xid{a4} is recorded") or diag $sum{xids};
	ok($sum{switched}, 'the segment ends with its XLOG_SWITCH');
}
my ($rc, $out, $err) = $w->run(undef, 'repo-ls', '-c', $conf, 'walsum/');
like($out, qr/walsum\/0000000100000000\/$seg_a/, 'the summary is stored under walsum/') or diag "$out$err";

# --- the window's edges ---------------------------------------------------------------------
sub restore
{
	my ($name, @args) = @_;
	my $r = PostgreSQL::Test::Cluster->new($name);
	my ($rc, $out, $err) = tbdr('restore', '-c', $conf, '--pgdata', $r->data_dir, '--json', '--as', 'copy', @args);
	my $res = $rc == 0 ? $json->decode($out) : undef;
	return ($r, $rc, $out, $err, $res);
}

sub start_restored
{
	my ($r) = @_;
	$r->append_conf('postgresql.conf', 'port = ' . $r->port . "\narchive_mode = off\n");
	$r->start;
	$r->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die $r->name . ': recovery did not end';
	my $m = $r->safe_psql('postgres', "SELECT coalesce(string_agg(id, ',' ORDER BY id), '') FROM markers");
	$r->stop;
	return $m;
}

# the markers committed at or before time $t, as PostgreSQL compares them
sub markers_by
{
	my ($t, @ids) = @_;
	return join(',', grep { $node->safe_psql('postgres', "SELECT '$commit{$_}'::timestamptz <= '$t'::timestamptz") eq 't' } sort @ids);
}

sub shift_time
{
	my ($t, $interval) = @_;
	return $node->safe_psql('postgres',
		"SELECT to_char(('$t'::timestamptz + interval '$interval') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
}

($rc, $out, $err) = tbdr('list', '-c', $conf, '--json');
my $list = $json->decode($out);
my $iv = $list->{window}{intervals}[0];
my ($start, $end) = ($iv->{start_time}, $iv->{end_time});
note "window: $start .. $end";
my $want_end = shift_time($commit{a4}, '-1 microsecond');
$want_end =~ s/(\.\d*?)0+\+00$/$1+00/;
$want_end =~ s/\.\+00$/+00/;
is($end, $want_end, 'the window ends 1 us before the last commit (from the WAL)')
  or diag "a4 committed at $commit{a4}";
unlike("$start $end", qr/\.\d*0\+00/, 'no made-up trailing zeros in the times');
($rc, $out, $err) = tbdr('list', '-c', $conf);
like($out, qr/restorable window \(timeline 1\):\n  from \Q$start\E \(LSN .*, backup $b1\)\n    to \Q$end\E \(LSN /,
	'tbdr list prints the same window') or diag $out;

my ($r, $res);
for my $edge ([ 'start', $start, '100 milliseconds' ], [ 'end', $end, '-100 milliseconds' ])
{
	my $t = shift_time($edge->[1], $edge->[2]);
	($r, $rc, $out, $err, $res) = restore("r_$edge->[0]_in", '--target-time', $t, '--target-action', 'promote');
	is($rc, 0, "100 ms inside the $edge->[0] ($t): restored") or diag $err;
	is(start_restored($r), markers_by($t, qw(a1 a2 a3 a4)), "exactly the markers committed by then");

	my $out_t = shift_time($edge->[1], $edge->[0] eq 'start' ? '-1 microsecond' : '1 microsecond');
	($r, $rc, $out, $err) = restore("r_$edge->[0]_out", '--target-time', $out_t);
	ok($rc == 1 && $err =~ /outside the restorable window: from (\S+ \S+) to (\S+ \S+) /,
		"1 us outside the $edge->[0] ($out_t): refused") or diag $err;
	my ($f, $l) = ($1 // '', $2 // '');
	is($node->safe_psql('postgres', "SELECT '$out_t'::timestamptz BETWEEN '$f'::timestamptz AND '$l'::timestamptz"),
		'f', 'and the window in the message does not contain it');
}

# --- xid, name and LSN targets choose the backup --------------------------------------------
my $b2 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
like($b2, qr/^\d{8}T\d{6}Z$/, "backup B2 $b2");
marker($node, 'a5');
$node->safe_psql('postgres', "SELECT pg_create_restore_point('rp_a5')");
marker($node, 'a6');
switch_and_wait($node);

for my $case (
	[ 'xid of a2', [ '--target-xid', $xid{a2} ], $b1, 'a1,a2' ],
	[ 'xid of a5', [ '--target-xid', $xid{a5} ], $b2, 'a1,a2,a3,a4,a5' ],
	[ 'name rp_a2', [ '--target-name', 'rp_a2' ], $b1, 'a1,a2' ],
	[ 'name rp_a5', [ '--target-name', 'rp_a5' ], $b2, 'a1,a2,a3,a4,a5' ],
	[ 'LSN after a3', [ '--target-lsn', $lsn_after{a3} ], $b1, 'a1,a2,a3' ],
	[ 'LSN after a5', [ '--target-lsn', $lsn_after{a5} ], $b2, 'a1,a2,a3,a4,a5' ])
{
	my ($what, $args, $backup, $markers) = @$case;
	($r, $rc, $out, $err, $res) = restore('r_' . ($what =~ s/\W/_/gr), @$args, '--target-action', 'promote');
	is($rc, 0, "$what without --backup: restored") or diag $err;
	is($res && $res->{backup}, $backup, "from the newest backup before it");
	is(start_restored($r), $markers, 'with exactly its markers');
}
($r, $rc, $out, $err) = restore('r_no_xid', '--target-xid', '4000000000');
ok($rc == 1 && $err =~ /transaction "4000000000" is not in the archived WAL of timeline 1/,
	'an xid that is not in the WAL: refused before anything is restored') or diag $err;
($r, $rc, $out, $err) = restore('r_no_name', '--target-name', 'nowhere');
ok($rc == 1 && $err =~ /restore point "nowhere" is not in the archived WAL/, 'so is an unknown restore point')
  or diag $err;

# --- diverging histories ---------------------------------------------------------------------
# A standby of the primary is promoted (timeline 2) and archives into the
# same repository, while the primary goes on on timeline 1.
$node->backup('for_standby');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'for_standby', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'promotion';
burn_xids($standby, 25);
marker($standby, 'tl2_x');
$standby->safe_psql('postgres', "SELECT pg_create_restore_point('rp_tl2')");
marker($standby, 'tl2_y');
switch_and_wait($standby);
$standby->stop;

burn_xids($node, 40);
# more WAL on timeline 1 after the branch point than on timeline 2
$node->safe_psql('postgres', 'INSERT INTO burn SELECT generate_series(1, 5000)');
marker($node, 'tl1_x');
$node->safe_psql('postgres', 'SELECT pg_sleep(0.5)');
marker($node, 'tl1_y');
switch_and_wait($node);

($rc, $out, $err) = tbdr('list', '-c', $conf);
like($out, qr/the repository holds 2 diverging histories/, 'tbdr list: two diverging histories') or diag $out;
like($out, qr/^timeline 1: WAL \S+ to \S+, last segment archived at .*, last commit /m, 'timeline 1 with its WAL and last commit');
like($out, qr/^timeline 2 \(branched from timeline 1 at LSN \S+\): WAL /m, 'timeline 2 with its branch point');
($rc, $out, $err) = tbdr('list', '-c', $conf, '--json');
$list = $json->decode($out);
is(join(',', map { $_->{timeline} } @{ $list->{branches} }), '1,2', 'list --json: both branches');

($r, $rc, $out, $err) = restore('r_diverged');
ok($rc == 1 && $err =~ /diverging histories/ && $err =~ /timeline 1\b/ && $err =~ /timeline 2 \(branched/
	  && $err =~ /--target-timeline/, 'restore without --target-timeline: refused, naming both') or diag $err;
ok(!-e $r->data_dir . '/global/pg_control', 'and nothing was restored');

($r, $rc, $out, $err, $res) = restore('r_tl1', '--target-timeline', '1');
is($rc, 0, '--target-timeline 1') or diag $err;
is(start_restored($r), 'a1,a2,a3,a4,a5,a6,tl1_x,tl1_y', "timeline 1's markers");
($r, $rc, $out, $err, $res) = restore('r_tl2', '--target-timeline', '2');
is($rc, 0, '--target-timeline 2') or diag $err;
is($res && $res->{backup}, $b2, 'from B2, before the branch point');
is(start_restored($r), 'a1,a2,a3,a4,a5,a6,tl2_x,tl2_y', "timeline 2's markers");

for my $case (
	[ 'xid of tl2_x', [ '--target-xid', $xid{tl2_x} ], 2, 'a1,a2,a3,a4,a5,a6,tl2_x' ],
	[ 'name rp_tl2', [ '--target-name', 'rp_tl2' ], 2, 'a1,a2,a3,a4,a5,a6,tl2_x' ],
	[ 'xid of tl1_x', [ '--target-xid', $xid{tl1_x} ], 1, 'a1,a2,a3,a4,a5,a6,tl1_x' ],
	[ 'time between tl1_x and tl1_y', [ '--target-time', shift_time($commit{tl1_y}, '-200 milliseconds') ],
		1, 'a1,a2,a3,a4,a5,a6,tl1_x' ],
	[ 'xid of a2 (shared history)', [ '--target-xid', $xid{a2} ], 1, 'a1,a2' ])
{
	my ($what, $args, $tli, $markers) = @$case;
	($r, $rc, $out, $err, $res) = restore('r_d_' . ($what =~ s/\W/_/gr), @$args, '--target-action', 'promote');
	is($rc, 0, "$what, no --target-timeline: restored") or diag $err;
	is($res && $res->{target_timeline}, $tli, "on timeline $tli, where it is");
	is(start_restored($r), $markers, 'with exactly its markers');
}
($r, $rc, $out, $err) = restore('r_d_lsn', '--target-lsn', $lsn_after{tl2_x});
ok($rc == 1 && $err =~ /on more than one of them/, 'an LSN both histories have: refused') or diag $err;
($r, $rc, $out, $err, $res) = restore('r_d_lsn2', '--target-lsn', $lsn_after{tl2_x}, '--target-timeline', '2',
	'--target-action', 'promote');
is($rc, 0, 'with --target-timeline 2: restored') or diag $err;
is($res && $res->{backup}, $b2, 'from B2, across the timeline switch');
is(start_restored($r), 'a1,a2,a3,a4,a5,a6,tl2_x', 'with exactly its markers');

$node->stop;
$s3->stop;
done_testing();
