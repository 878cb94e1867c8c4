# The benchmark harness (make bench) still works: a tiny quick run of the
# WAL scenarios (which set up everything the others use: the S3 server with
# TLS, the cluster, pgBackRest and tbdr against the same bucket, archive
# settings switched between tools) writes a well-formed results.json with
# both tools measured (or tbdr honestly reported as not available), prints
# its table, and leaves no process and no scratch behind.  The object-store
# and backup scenarios are left to make bench: pgBackRest's backup and
# restore of even an empty cluster take minutes on a busy test machine.
#
# It checks the harness, never the numbers: the machine is shared and noisy.
use strict;
use warnings;
use FindBin;
use File::Temp qw(tempdir);
use IPC::Run qw(run timeout);
use JSON::PP;
use Test::More;

my $root = "$FindBin::RealBin/../..";
plan skip_all => 'the harness runs as a user PostgreSQL accepts, not root'
  if $> == 0;
for my $prog ('pgbackrest', '/usr/bin/aws', 'openssl', 'pg_config')
{
	plan skip_all => "$prog is not installed (bash .ci/install-deps)"
	  unless $prog =~ m{/} ? -x $prog : grep { -x "$_/$prog" } split /:/, $ENV{PATH};
}

my $tmp = tempdir('tbdr-090-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $results = "$tmp/results.json";
my $scratch = "$tmp/scratch";
mkdir $scratch or die "mkdir $scratch: $!";

my %env = (
	BENCH_QUICK => 1,
	BENCH_REPS => 1,
	BENCH_SCENARIOS => 'wal_backlog,wal_fetch',
	BENCH_WAL_SEGMENTS => 2,
	BENCH_RESULTS => $results,
	BENCH_DIR => $scratch,
	BENCH_PGBIN => '',
	BENCH_KEEP => '');
local @ENV{ keys %env } = values %env;

my ($out, $err) = ('', '');
my $t0 = time;
my $ok = run([ 'bash', "$root/bench/run" ], '<', \'', '>', \$out, '2>', \$err,
	timeout(900));
my $rc = $? >> 8;
note sprintf('quick bench run took %d s', time - $t0);
is($rc, 0, 'bench/run (quick, tiny) exits 0') or diag("$out\n$err");

like($out, qr/^scenario\s+unit\s+tbdr/m, 'the terminal table is printed');

ok(-f $results, 'results.json written') or BAIL_OUT('no results');
my $res = eval {
	local $/;
	open(my $fh, '<', $results) or die "open: $!";
	decode_json(<$fh>);
};
ok($res && ref $res eq 'HASH', 'results.json is a JSON object') or diag($@);

# Whether the installed pgBackRest supports this PostgreSQL (Debian 12's
# 2.45: up to 15), as the harness decides it: without, tbdr is measured alone.
my ($pg_major) = `pg_config --version` =~ /PostgreSQL (\d+)/;
chomp(my $pgbr_version = `pgbackrest version`);
chomp(my $pgbr_ok = `/usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import benchlib; print(int(benchlib.pgbr_supports(sys.argv[2], int(sys.argv[3]))))' $root/bench '$pgbr_version' $pg_major`);
note "PostgreSQL $pg_major, $pgbr_version: pgBackRest " . ($pgbr_ok ? 'measured' : 'not supported, tbdr alone');

# Every scenario: the fields the issue asks for, both tools measured
# (medians within their samples, ratio = tbdr/pgbackrest), or tbdr reported
# as not available with a note saying why.
my @expect = qw(wal_backlog_vs_sync wal_backlog_vs_async
  wal_backlog_push_vs_sync wal_backlog_stored_bytes wal_fetch_vs_sync
  wal_fetch_vs_async);
for my $name (@expect)
{
	my $r = $res->{$name};
	ok($r, "$name present") or next;
	ok(exists $r->{$_}, "$name has $_")
	  for qw(tbdr pgbackrest unit ratio runs);
	if (!$pgbr_ok)
	{
		ok(!defined $r->{pgbackrest} && !defined $r->{ratio} && $r->{tbdr} > 0,
			"$name: tbdr measured alone (pgBackRest does not support PostgreSQL $pg_major)");
		next;
	}
	ok(defined $r->{pgbackrest} && $r->{pgbackrest} > 0,
		"$name: the comparison tool was measured");
	if (defined $r->{tbdr})
	{
		ok($r->{tbdr} > 0 && abs($r->{ratio} - $r->{tbdr} / $r->{pgbackrest}) < 0.01,
			"$name: tbdr measured, ratio is tbdr/pgbackrest");
	}
	else
	{
		ok(!defined $r->{ratio} && ($r->{note} || '') =~ /not in this build|failed/,
			"$name: tbdr reported as not available, with the reason");
	}
}

# Stopped everything it started, removed its scratch directory.
my @left;
opendir(my $proc, '/proc') or die "opendir /proc: $!";
for my $pid (grep { /^\d+$/ } readdir $proc)
{
	open(my $fh, '<', "/proc/$pid/cmdline") or next;
	local $/;
	my $cmd = <$fh> // '';
	push @left, "$pid: $cmd" if index($cmd, $scratch) >= 0;
}
is(scalar(@left), 0, 'no process of the run is left') or diag(join("\n", @left));
opendir(my $dh, $scratch) or die "opendir $scratch: $!";
my @files = grep { !/^\.\.?$/ } readdir $dh;
is(scalar(@files), 0, 'the scratch directory is removed') or diag("@files");

done_testing();
