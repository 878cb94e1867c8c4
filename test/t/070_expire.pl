# Retention and expiry (tbdr expire) against a real S3 server (Swift +
# s3api on loopback), on repositories of synthetic backups at past dates
# written test-side (TbdrTest::FakeRepo, uploaded with the aws CLI):
#  - a dry run reports exactly the set the rules keep (window, anchor,
#    daily/weekly/monthly) and deletes nothing;
#  - the real run deletes exactly the others, keeps every object of the kept
#    backups and every WAL file they and the window need, history files,
#    the running backup and a failed backup's record inside the window;
#  - a second run deletes nothing;
#  - the repository lock: a live lock of another host makes expiry fail
#    clearly, a lock whose holder died on this host is taken over, a lock
#    whose lease ran out is taken with --wait; two concurrent runs: one
#    fails with the lock error and deletes nothing;
#  - an expiry killed with -9 half-way (deletes slowed by the fault proxy)
#    leaves every kept backup whole and listed complete, and the next run
#    finishes the job.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Temp qw(tempdir);
use IPC::Run qw(run start finish);
use JSON::PP ();
use POSIX qw(floor);
use Sys::Hostname qw(hostname);
use PostgreSQL::Test::Utils;
use Test::More;
use TbdrTest::S3Server;
use TbdrTest::FaultProxy;
use TbdrTest::FakeRepo;
use TbdrTest::Setup;

my $tbdr = TbdrTest::Setup::tbdr_program();

TbdrTest::Setup::isolate_aws_env();

my $tmp = tempdir('tbdr-070-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bucket = 'tbdr-expire';
my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);
my $json = JSON::PP->new->canonical;

sub conf
{
	my ($name, %s) = @_;
	my %c = (
		s3_endpoint => $s3->endpoint,
		s3_access_key_id => $s3->access_key,
		s3_secret_access_key => $s3->secret_key,
		s3_region => 'us-east-1',
		s3_max_retries => 2,
		s3_timeout => 30,
		%s);
	my $path = "$tmp/$name.conf";
	open(my $fh, '>', $path) or die;
	print $fh map { "tbdr.$_ = '$c{$_}'\n" } sort keys %c;
	close $fh;
	return $path;
}

sub tbdr
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	run([ $tbdr, @args ], '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# key => "size etag" of every object under the repository.
sub listing
{
	my ($conf) = @_;
	my ($rc, $out, $err) = tbdr('repo-ls', '--json', '-c', $conf);
	die "repo-ls: $err" if $rc;
	my %l = map { $_->{key} => "$_->{size} " . ($_->{etag} // '') }
	  @{ $json->decode($out) };
	return \%l;
}

sub keys_under
{
	my ($l, $prefix) = @_;
	return grep { index($_, $prefix) == 0 } sort keys %$l;
}

# A repository of synthetic backups: one a day for N days, one hour of
# the day before now (so that no boundary is near), each with 3 WAL
# segments of which its own range is the last two; a failed backup 50
# days ago, one inside the window (with parts), a running one.
my $now0 = time;
my %rules = (daily => 3, weekly => 3, monthly => 3);
my $policy = 'daily=3 weekly=3 monthly=3';
my $days = 7;

sub build_repo
{
	my ($name, $ndays) = @_;
	my $r = TbdrTest::FakeRepo->new("$tmp/$name");
	my $seg = 16;
	for my $k (reverse 0 .. $ndays - 1)
	{
		my $t = $now0 - $k * 86400 - 3600;
		$r->wal($seg + $_) for 0 .. 2;
		$r->backup(time => $t, wal_start => $seg + 1, wal_stop => $seg + 2,
			stored_bytes => 1000 + $k, parts => 1);
		$seg += 3;
	}
	$r->wal($_) for 1 .. 15;    # WAL from before the oldest backup
	$r->wal(2, 1, '.partial');
	$r->wal(3, 1, '.00000028.backup');
	$r->history(2);
	$r->backup(time => $now0 - ($ndays / 2) * 86400 - 7200, status => 'failed',
		wal_start => 9, parts => 2);
	$r->backup(time => $now0 - 2 * 86400 - 7200, status => 'failed',
		wal_start => $seg - 6, parts => 2);
	$r->backup(time => $now0 - 600, status => 'running',
		wal_start => $seg, parts => 1, parts_when_running => 1);
	$r->wal($seg + $_) for 0 .. 2;    # WAL the running backup needs
	return $r;
}

my $repo = build_repo('main', 45);
$repo->upload($s3, $bucket, 'main');
my $conf = conf('main', repository => "s3://$bucket/main",
	retention_days => $days, retention_policy => $policy);
my @b = $repo->backups;
my %by_id = map { $_->{id} => $_ } @b;
my $before = listing($conf);
note scalar(keys %$before) . ' objects in the synthetic repository';

# --- dry run ----------------------------------------------------------------
my ($rc, $out, $err) = tbdr('expire', '--dry-run', '--json', '-c', $conf);
is($rc, 0, 'dry run succeeds') or diag $err;
my $dry = $json->decode($out);
ok($dry->{dry_run}, 'dry run says so');

# the oracle, at the time the run used
my $now = TbdrTest::FakeRepo::_parse_now($dry->{window_start}, $days);
my ($keep, $anchor) = TbdrTest::FakeRepo::expected_keep(\@b, $now, $days, \%rules);
my %kept_dry = map { $_->{id} => 1 } grep { $_->{action} eq 'keep' } @{ $dry->{backups} };
is_deeply([ sort keys %kept_dry ], [ sort keys %$keep ],
	'dry run keeps exactly the set of the rules (window, anchor, daily/weekly/monthly)');
note 'kept: ' . join(' ', sort keys %$keep) . "; anchor $anchor";
cmp_ok(scalar(keys %$keep), '>', $days + 2, 'the rules keep more than the window (GFS at work)');
my @monthly = grep { $_->{reason} =~ /monthly/ && $_->{reason} !~ /window/ } @{ $dry->{backups} };
ok(@monthly >= 1, 'a backup outside the window is kept by the monthly rule');
my %action = map { $_->{id} => $_->{action} } @{ $dry->{backups} };
my ($failed_old, $failed_new, $running) = @b[-3, -2, -1];
is($action{ $failed_old->{id} }, 'delete', 'old failed backup: deleted');
is($action{ $failed_new->{id} }, 'delete-data', 'failed backup inside the window: its data');
is($action{ $running->{id} }, 'skip', 'running backup: skipped');
is_deeply(listing($conf), $before, 'the dry run deleted nothing');

my ($rc2, $out2) = tbdr('expire', '--dry-run', '-c', $conf);
like($out2, qr/^would delete \d+ backups and \d+ WAL files/m, 'text output: would-delete summary');

# --- the real run -------------------------------------------------------------
($rc, $out, $err) = tbdr('expire', '--json', '-c', $conf);
is($rc, 0, 'expire succeeds') or diag $err;
my $run = $json->decode($out);
ok($run->{finished} && !$run->{dry_run}, 'expire finished');
my %kept_run = map { $_->{id} => 1 } grep { $_->{action} eq 'keep' } @{ $run->{backups} };
is_deeply(\%kept_run, \%kept_dry, 'the run keeps what the dry run said');
is($run->{backups_deleted}, $dry->{backups_deleted}, 'and deletes as many backups');
is($run->{wal_deleted}, $dry->{wal_deleted}, 'and as many WAL files');

my $after = listing($conf);
my @problems;
for my $bk (@b)
{
	my @now_keys = keys_under($after, "backups/$bk->{id}/");
	my @was_keys = keys_under($before, "backups/$bk->{id}/");
	if ($bk->{status} eq 'complete' && $keep->{ $bk->{id} })
	{
		push @problems, "kept $bk->{id} lost objects"
		  unless "@now_keys" eq "@was_keys";
	}
	elsif ($bk->{status} eq 'complete' || $bk eq $failed_old)
	{
		push @problems, "deleted $bk->{id} still has @now_keys" if @now_keys;
	}
	elsif ($bk eq $failed_new)
	{
		push @problems, "failed $bk->{id}: record should stay, parts go: @now_keys"
		  unless "@now_keys" eq "backups/$bk->{id}/failed.json backups/$bk->{id}/started.json";
	}
	elsif ($bk eq $running)
	{
		push @problems, "running $bk->{id} was touched" unless "@now_keys" eq "@was_keys";
	}
}
is("@problems", '', 'every kept backup whole, every expired one gone, failed and running as the rules say');

# WAL: the anchor's start on, every kept backup's range, history: kept; the rest: gone
my $anchor_start = $by_id{$anchor}{wal_start};
my %kept_range;
for my $bk (grep { $keep->{ $_->{id} } } @b)
{
	$kept_range{$_} = 1 for $bk->{wal_start} .. $bk->{wal_stop};
}
my ($wal_ok, $wal_gone, @wal_bad) = (0, 0);
for my $k (keys_under($before, 'wal/'))
{
	my ($name) = $k =~ m{([^/]+)$};
	my $expect_kept;
	if ($name =~ /\.history$/) { $expect_kept = 1 }
	else
	{
		my $n = hex(substr($name, 8, 8)) * 256 + hex(substr($name, 16, 8));
		$expect_kept = $n >= $anchor_start || $kept_range{$n};
	}
	if ($expect_kept xor exists $after->{$k}) { push @wal_bad, $k }
	elsif ($expect_kept) { $wal_ok++ }
	else { $wal_gone++ }
}
is("@wal_bad", '', "WAL: $wal_ok files kept (window, kept backups, history), $wal_gone deleted, none wrongly");
cmp_ok($wal_gone, '>', 0, 'some WAL was deleted');
ok(exists $after->{'wal/00000002.history'}, 'history file kept');
ok(!exists $after->{'locks/expire.json'}, 'the lock is released');

# a second run has nothing to do
($rc, $out, $err) = tbdr('expire', '--json', '-c', $conf);
my $again = $json->decode($out);
is($rc . ' ' . $again->{backups_deleted} . ' ' . $again->{wal_deleted}, '0 0 0',
	'a second run deletes nothing');

# --- tbdr lifecycle --print --------------------------------------------------------
($rc, $out, $err) = tbdr('lifecycle', '--print', '-c', $conf);
is($rc, 0, 'lifecycle --print succeeds') or diag $err;
my $lc = $json->decode($out);
my %rule = map { $_->{ID} => $_ } @{ $lc->{Rules} };
my $largest_status = 0;
for my $k (keys %$after)
{
	next unless $k =~ m{^backups/.*\.json$};
	my ($size) = split / /, $after->{$k};
	$largest_status = $size if $size > $largest_status;
}
my $glacier = $rule{'tbdr-backup-parts-glacier'};
is($glacier->{Filter}{And}{Prefix}, 'main/backups/', 'GLACIER rule for the parts under the repository prefix');
cmp_ok($glacier->{Filter}{And}{ObjectSizeGreaterThan}, '>', $largest_status,
	'its size limit is above every status object (they stay instantly readable)');
cmp_ok($glacier->{Transitions}[0]{Days}, '>', $days,
	'GLACIER only after the retention window (the anchor stays instantly readable)');
is($rule{'tbdr-backups-standard-ia'}{Transitions}[0]{StorageClass}, 'STANDARD_IA', 'IA rule for backups');
cmp_ok($rule{'tbdr-wal-glacier'}{Filter}{And}{ObjectSizeGreaterThan}, '>=', 1024,
	'WAL rule leaves history files (tiny) out');
ok(!grep({ ($_->{Filter}{And}{Prefix} // $_->{Filter}{Prefix} // '') !~ m{^main/} } @{ $lc->{Rules} }),
	'every rule is limited to the repository prefix');
($rc, $out, $err) = tbdr('lifecycle', '--print', '--ia-days', '7', '--glacier-days', '5', '-c', $conf);
is($rc, 1, 'GLACIER before IA is refused');
($rc, $out, $err) = tbdr('lifecycle', '--print', '--ia-days', '7', '--glacier-days', '30',
	'-c', $conf, '--set', 'retention_days=30');
like($err, qr/AWS S3 refuses STANDARD_IA transitions before 30 days/, 'the 7-day IA plan gets AWS\'s limit as a warning');
like($err, qr/inside the retention window of 30 days/, 'and GLACIER inside the window a warning');
($rc, $out, $err) = tbdr('lifecycle', '-c', $conf);
is($rc, 2, 'lifecycle without --print is a usage error');

# --- the repository lock --------------------------------------------------------
my $lockfile = "$tmp/lock.json";
sub put_lock
{
	my ($host, $pid, $lease) = @_;
	open(my $fh, '>', $lockfile) or die;
	print $fh qq({"token": "0123456789abcdef0123456789abcdef", "purpose": "tbdr expire", "host": "$host", "pid": $pid, "acquired_at": "2026-01-01T00:00:00Z", "lease": $lease}\n);
	close $fh;
	my ($rc, $o, $e) = tbdr('repo-put', '--no-progress', '-c', $conf, $lockfile, 'locks/expire.json');
	die "repo-put lock: $e" if $rc;
}

# make something to delete again: a backup older than any rule keeps
# (four months: beyond monthly=3)
my $extra = TbdrTest::FakeRepo->new("$tmp/extra");
$extra->backup(time => $now0 - 120 * 86400 - 99, wal_start => 3, wal_stop => 4);
$extra->upload($s3, $bucket, 'main');
my $extra_id = ($extra->backups)[0]{id};

put_lock('db-other-host', 4242, 600);
my $with_lock = listing($conf);
($rc, $out, $err) = tbdr('expire', '-c', $conf);
is($rc, 1, 'expire with a live lock of another host fails');
like($err, qr/locked by tbdr expire on host db-other-host \(pid 4242\) since 2026-01-01T00:00:00Z/,
	'the error names the holder');
like($err, qr/HINT:.*Wait for it to finish/, 'and says what to do');
is_deeply(listing($conf), $with_lock, 'nothing deleted while locked');

put_lock(hostname(), 2147483000, 600);    # this host, a pid that does not exist
($rc, $out, $err) = tbdr('expire', '-c', $conf);
is($rc, 0, 'a lock whose holder died on this host is taken over') or diag $err;
like($out, qr/deleted backup $extra_id/, 'and the expiry ran');

$extra->upload($s3, $bucket, 'main');
put_lock('db-other-host', 4242, 12);    # expires 12 s after it was written
($rc, $out, $err) = tbdr('expire', '--wait', '120', '-c', $conf);
is($rc, 0, '--wait takes the lock once its lease ran out') or diag $err;
like($out, qr/deleted backup $extra_id/, 'and the expiry ran');

# --- two concurrent runs ---------------------------------------------------------
my $proxy = TbdrTest::FaultProxy->start(target => $s3->endpoint);
$extra->upload($s3, $bucket, 'main');
my $extra2 = TbdrTest::FakeRepo->new("$tmp/extra2");
$extra2->backup(time => $now0 - 110 * 86400 - 99, wal_start => 5, wal_stop => 6);
$extra2->upload($s3, $bucket, 'main');
my $pconf = conf('proxied', repository => "s3://$bucket/main",
	s3_endpoint => $proxy->endpoint,
	retention_days => $days, retention_policy => $policy);
$proxy->inject(mode => 'delay', seconds => 1, duration => 120, method => 'DELETE');
$proxy->inject(mode => 'delay', seconds => 1, duration => 120, method => 'POST');
my ($o1, $e1, $o2, $e2) = ('', '', '', '');
my $h1 = start([ $tbdr, 'expire', '--json', '-c', $pconf ], '<', \undef, '>', \$o1, '2>', \$e1);
# the second starts once the first holds the lock
my $seen = 0;
for (1 .. 600)
{
	my $l = listing($conf);
	if (exists $l->{'locks/expire.json'}) { $seen = 1; last }
	select(undef, undef, undef, 0.2);
}
ok($seen, 'the first run holds the lock');
my $h2 = start([ $tbdr, 'expire', '--json', '-c', $pconf ], '<', \undef, '>', \$o2, '2>', \$e2);
finish($h2);
my $rc_second = $? >> 8;
finish($h1);
my $rc_first = $? >> 8;
$proxy->clear;
is($rc_first, 0, 'first concurrent run succeeds') or diag $e1;
is($rc_second, 1, 'second concurrent run fails');
like($e2, qr/could not lock the repository for tbdr expire: the repository is locked by tbdr expire on host/,
	'with the lock error');
is($o2, '', 'the second run printed no deletions (it read nothing under another lock)');
my $first = $json->decode($o1);
my @deleted_ids = map { $_->{name} } grep { $_->{kind} eq 'backup' } @{ $first->{deleted} };
is_deeply([ sort @deleted_ids ], [ sort($extra_id, ($extra2->backups)[0]{id}) ],
	'the first run deleted both extra backups, each once');

# --- killed half-way -------------------------------------------------------------
my $krepo = build_repo('killed', 30);
$krepo->upload($s3, $bucket, 'killed');
my $kconf = conf('killed', repository => "s3://$bucket/killed",
	retention_days => $days, retention_policy => $policy);
my $kpconf = conf('killed-proxied', repository => "s3://$bucket/killed",
	s3_endpoint => $proxy->endpoint,
	retention_days => $days, retention_policy => $policy);
my @kb = $krepo->backups;
my $kbefore = listing($kconf);
my ($kkeep) = TbdrTest::FakeRepo::expected_keep(\@kb, time, $days, \%rules);

$proxy->reset_stats;
$proxy->inject(mode => 'delay', seconds => 1, duration => 300, method => 'DELETE');
$proxy->inject(mode => 'delay', seconds => 1, duration => 300, method => 'POST');
my ($ko, $ke) = ('', '');
my $kh = start([ $tbdr, 'expire', '-c', $kpconf ], '<', \undef, '>', \$ko, '2>', \$ke);
my $deletes = 0;
for (1 .. 1200)
{
	my $st = $proxy->stats;
	$deletes = ($st->{by_method}{DELETE} // 0) + ($st->{by_method}{POST} // 0);
	last if $deletes >= 2;
	select(undef, undef, undef, 0.1);
}
cmp_ok($deletes, '>=', 2, "the expiry is deleting ($deletes delete requests)");
$kh->signal('KILL');
eval { finish($kh) };
$proxy->clear;
my $kmid = listing($kconf);
my (@missing, @not_whole, @half);
# what the catalog says of each backup now (a dry run takes no lock)
my ($drc, $dout, $derr) = tbdr('expire', '--dry-run', '--json', '-c', $kconf);
is($drc, 0, 'the repository reads fine after the kill') or diag $derr;
my %state = map { $_->{id} => $_->{status} } @{ $json->decode($dout)->{backups} };
for my $bk (@kb)
{
	next unless $bk->{status} eq 'complete';
	my @was = keys_under($kbefore, "backups/$bk->{id}/");
	my @now = keys_under($kmid, "backups/$bk->{id}/");
	if ($kkeep->{ $bk->{id} })
	{
		push @missing, $bk->{id} unless "@was" eq "@now";
		for my $n ($bk->{wal_start} .. $bk->{wal_stop})
		{
			my $name = TbdrTest::FakeRepo::seg_name($n);
			push @missing, $name unless exists $kmid->{ 'wal/' . substr($name, 0, 16) . "/$name" };
		}
		next;
	}
	next if "@was" eq "@now" || !@now;
	push @half, $bk->{id};
	# an expired backup caught half-way: complete only while whole
	if (($state{ $bk->{id} } // '') eq 'complete')
	{
		push @not_whole, $bk->{id}
		  if grep { !/started\.json$/ && !exists $kmid->{$_} } @was;
	}
}
is("@missing", '', 'after kill -9: every kept backup has all its objects and its WAL');
note 'half-deleted backups after the kill: ' . (@half ? scalar(@half) : 'none');
is("@not_whole", '', 'no half-deleted backup looks complete unless it is whole');

# the next run (the dead holder's lock is on this host) finishes the job
($rc, $out, $err) = tbdr('expire', '--json', '-c', $kconf);
is($rc, 0, 'the next expiry takes over the dead run\'s lock and finishes') or diag $err;
my $kafter = listing($kconf);
my @wrong;
for my $bk (@kb)
{
	next unless $bk->{status} eq 'complete';
	my @now = keys_under($kafter, "backups/$bk->{id}/");
	my @was = keys_under($kbefore, "backups/$bk->{id}/");
	if ($kkeep->{ $bk->{id} }) { push @wrong, "kept $bk->{id}" unless "@now" eq "@was" }
	else { push @wrong, "expired $bk->{id}" if @now }
}
is("@wrong", '', 'the final state is what an uninterrupted run leaves');

$proxy->stop;
done_testing();
