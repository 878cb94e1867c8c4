# Copyright (c) tbdr authors

# The S3 storage driver and its HTTP layer against a real S3 server (Swift
# with s3api), directly and through the fault proxy, driven by
# build/test/s3_tool:
#
# - round trips of 0 B, 1 B, part - 1, a part, part + 1 and 100 MiB
#   (multipart, parts in parallel), byte-identical, streamed (peak memory
#   well under the object's size); ranged reads
# - ListObjectsV2 over more than 1000 keys, DeleteObjects in batches
# - a wrong secret fails with a clear 403 SignatureDoesNotMatch error
# - 503 SlowDown, connection resets (also mid-body on a large GET, which must
#   resume), truncated answers and stalls are retried within
#   tbdr.s3_max_retries, and fail clearly past it
# - a multipart upload that fails is aborted; cleanup_uploads aborts leftovers
#
#   prove -I test/perl -I /usr/lib/postgresql/15/lib/pgxs/src/test/perl \
#       test/t/010_s3_storage.pl

use strict;
use warnings;

use Cwd ();
use File::Basename ();
use File::Spec ();
use File::Temp ();
use IPC::Run ();
use Test::More;
use Time::HiRes ();

use TbdrTest::Data;
use TbdrTest::S3Server;
use TbdrTest::FaultProxy;

my $ROOT = Cwd::abs_path(File::Basename::dirname(__FILE__) . '/../..');
my $TOOL = $ENV{TBDR_S3_TOOL} || "$ROOT/build/test/s3_tool";
plan skip_all => "$TOOL not built (make)" unless -x $TOOL;

my $bucket = 'tbdr-s3';
my $MB = 1024 * 1024;
my $PART = 5 * $MB;

my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);
my $proxy = TbdrTest::FaultProxy->start(target => $s3->endpoint);
note 'S3 server ' . $s3->endpoint . ', fault proxy ' . $proxy->endpoint;

my $base = ($ENV{TESTDIR} && -d $ENV{TESTDIR} && -w $ENV{TESTDIR})
  ? $ENV{TESTDIR} : File::Spec->tmpdir;
my $work = File::Temp::tempdir('s3storage_XXXXXX', DIR => $base,
	CLEANUP => !$ENV{TBDR_KEEP_TMP});

sub write_conf
{
	my ($name, %set) = @_;
	my %all = (
		repository => "s3://$bucket/repo/sub",
		s3_endpoint => $s3->endpoint,
		s3_region => $s3->region,
		s3_access_key_id => $s3->access_key,
		s3_secret_access_key => $s3->secret_key,
		s3_part_size => 5,
		s3_parallel => 4,
		%set);
	my $path = "$work/$name.conf";
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh "tbdr.$_ = '$all{$_}'\n" for sort keys %all;
	close $fh;
	return $path;
}

my $direct = write_conf('direct');
my $faulty = write_conf('proxy',
	s3_endpoint => $proxy->endpoint,
	s3_max_retries => 3,
	s3_timeout => 2);

# Run s3_tool; returns (exit status, stdout, stderr).  The AWS_* variables
# are cleared so that only the config file counts.
sub tool
{
	my ($conf, @args) = @_;
	my ($out, $err) = ('', '');
	my %env = %ENV;
	delete @env{ grep { /^AWS_/ } keys %env };
	local %ENV = %env;
	IPC::Run::run([ $TOOL, '-c', $conf, @args ], '<', \undef, '>', \$out,
		'2>', \$err);
	return ($? >> 8, $out, $err);
}

sub tool_ok
{
	my ($conf, $name, @args) = @_;
	my ($rc, $out, $err) = tool($conf, @args);
	is($rc, 0, $name) or diag("s3_tool @args: $err");
	return $out;
}

sub make_file
{
	my ($name, $size) = @_;
	return TbdrTest::Data::random_file("$work/$name", $size);
}

sub sha { return TbdrTest::Data::sha256_file($_[0]) }

# Peak memory in kB from s3_tool's stderr (S3TOOL_MAXRSS), or 1e12.
sub maxrss
{
	my ($err) = @_;
	return $err =~ /^maxrss: (\d+) kB$/m ? $1 : 1e12;
}

sub head_info
{
	my ($conf, $key) = @_;
	my ($rc, $out) = tool($conf, 'head', $key);
	return undef unless $rc == 0;
	my ($size, $etag) = split ' ', $out;
	return { size => $size, etag => $etag };
}

# ---------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------

my %files;
for my $case ([ 'empty', 0 ], [ 'one', 1 ], [ 'part_minus_1', $PART - 1 ],
	[ 'part', $PART ], [ 'part_plus_1', $PART + 1 ], [ 'big', 100 * $MB ])
{
	my ($name, $size) = @$case;
	my $src = make_file($name, $size);
	$files{$name} = $src;
	# large transfers must stream: s3_tool reports its peak memory
	local $ENV{S3TOOL_MAXRSS} = 1;
	my $t0 = Time::HiRes::time;
	my ($rc, $out, $err) = tool($direct, 'put', "rt/$name", $src);
	is($rc, 0, "put $name ($size bytes)") or diag($err);
	my $put_rss = maxrss($err);
	my $t1 = Time::HiRes::time;
	my $info = head_info($direct, "rt/$name");
	is($info && $info->{size}, $size, "head $name: size");
	($rc, $out, $err) = tool($direct, 'get', "rt/$name", "$src.out");
	is($rc, 0, "get $name") or diag($err);
	my $get_rss = maxrss($err);
	my $t2 = Time::HiRes::time;
	is(-s "$src.out", $size, "get $name: size");
	is(sha("$src.out"), sha($src), "get $name: same SHA-256");

	# multipart exactly when the data does not fit in one part
	my $parts = $size > $PART ? int(($size + $PART - 1) / $PART) : 0;
	if ($parts)
	{
		like($info->{etag}, qr/-$parts$/, "$name: multipart upload of $parts parts");
	}
	else
	{
		unlike($info->{etag}, qr/-/, "$name: single PUT");
	}
	if ($size >= 10 * $MB)
	{
		# parts of 5 MB, 4 in flight: about 25 MB for the upload's buffers
		cmp_ok($put_rss, '<', $size / 2 / 1024,
			"put $name streams: peak memory ${put_rss} kB, under half the object");
		cmp_ok($get_rss, '<', $size / 2 / 1024,
			"get $name streams: peak memory ${get_rss} kB, under half the object");
		note sprintf('%d MiB: put %.2f s (%.1f MB/s), get %.2f s (%.1f MB/s)',
			$size / $MB, $t1 - $t0, $size / $MB / ($t1 - $t0),
			$t2 - $t1, $size / $MB / ($t2 - $t1));
	}
	unlink "$src.out";
}

# The key is stored under the repository prefix.
{
	my $ls = $s3->s3admin('ls', $bucket, 'repo/sub/rt/');
	like($ls, qr{^repo/sub/rt/one 1 }m, 'keys live under the repository prefix');
}

# Without a size hint (stdin): the driver finds the end by itself.
for my $name ('part', 'part_plus_1', 'one')
{
	my $src = $files{$name};
	my ($out, $err) = ('', '');
	IPC::Run::run([ $TOOL, '-c', $direct, 'put', "stdin/$name", '-' ],
		'<', $src, '>', \$out, '2>', \$err);
	is($? >> 8, 0, "put $name from a pipe") or diag($err);
	tool_ok($direct, "get $name (piped upload)", 'get', "stdin/$name", "$src.out");
	is(sha("$src.out"), sha($src), "piped upload of $name: same SHA-256");
	unlink "$src.out";
}

# Ranged reads, across a part boundary of the multipart object.
{
	my $src = $files{big};
	open(my $fh, '<:raw', $src) or die;
	for my $r ([ 1000, 5_000_000 ], [ $PART - 10, 20 ], [ 100 * $MB - 7, 7 ])
	{
		my ($off, $len) = @$r;
		seek($fh, $off, 0);
		read($fh, my $want, $len);
		tool_ok($direct, "ranged get $off+$len", 'get', 'rt/big', "$work/range",
			$off, $len);
		open(my $g, '<:raw', "$work/range") or die;
		local $/;
		my $got = <$g>;
		close $g;
		ok($got eq $want, "ranged get $off+$len: right bytes");
	}
	close $fh;
	# tail from an offset
	tool_ok($direct, 'get from offset to the end', 'get', 'rt/part_plus_1',
		"$work/range", $PART, -1);
	is(-s "$work/range", 1, 'get from offset: the last byte');
}

# Missing objects, deletes.
{
	my ($rc, $out) = tool($direct, 'head', 'rt/nope');
	is($rc, 2, 'head of a missing object: not found');
	like($out, qr/missing/, 'head says missing');
	my $err;
	($rc, $out, $err) = tool($direct, 'get', 'rt/nope', "$work/nope");
	is($rc, 1, 'get of a missing object fails');
	like($err, qr/NoSuchKey/, 'get of a missing object: NoSuchKey');
	like($err, qr/^code: not_found/m, 'get of a missing object: not_found');
	like($err, qr{s3://$bucket/repo/sub/rt/nope}, 'error names the key');

	tool_ok($direct, 'delete', 'rm', 'rt/one');
	($rc) = tool($direct, 'head', 'rt/one');
	is($rc, 2, 'deleted object is gone');
	tool_ok($direct, 'delete of a missing object succeeds', 'rm', 'rt/one');
}

# ---------------------------------------------------------------------------
# Listing and batch deletes over more than 1000 keys
# ---------------------------------------------------------------------------
{
	my $nproc = 4;
	my $per = 253;    # 1012 keys: two pages of ListObjectsV2, two batches
	my $t0 = Time::HiRes::time;
	my @h;
	for my $p (0 .. $nproc - 1)
	{
		push @h,
		  IPC::Run::start([ $TOOL, '-c', $direct, 'put-many', "list/p${p}_", $per, 10 ],
			'<', \undef, '>', \my $o, '2>', \my $e);
	}
	my $all_ok = 1;
	for my $h (@h)
	{
		$h->finish;
		$all_ok = 0 if $h->result;
	}
	ok($all_ok, sprintf('created %d objects (%.1f s)', $nproc * $per,
		Time::HiRes::time - $t0));

	my $ls = tool_ok($direct, 'list', 'ls', 'list/');
	my @keys = map { (split ' ')[0] } split /\n/, $ls;
	is(scalar @keys, $nproc * $per, 'list returns every key (continuation)');
	is_deeply(\@keys, [ sort @keys ], 'list is in key order');
	is(scalar(grep { m{^list/p\d_\d{6}$} } @keys), scalar @keys,
		'listed keys are relative to the repository root');

	$ls = tool_ok($direct, 'list with a narrower prefix', 'ls', 'list/p1_');
	is(scalar(split /\n/, $ls), $per, 'prefix filters');

	$t0 = Time::HiRes::time;
	# Swift answers a DeleteObjects of 1000 keys only when all are deleted,
	# which can take longer than the default no-progress timeout on a busy
	# machine (AWS S3 sends whitespace meanwhile).
	my $out = tool_ok($direct, 'delete them all with DeleteObjects',
		'-s', 's3_timeout=600', 'rm-many', 'list/');
	like($out, qr/deleted @{[ $nproc * $per ]}/, 'deleted count');
	note sprintf('DeleteObjects of %d keys: %.1f s', $nproc * $per,
		Time::HiRes::time - $t0);
	$ls = tool_ok($direct, 'list after delete', 'ls', 'list/');
	is($ls, '', 'nothing left');

	# keys that need XML escaping
	my $odd = "odd/a&b<c>'\"d";
	tool_ok($direct, 'put a key with XML specials', 'put', $odd, $files{part_minus_1});
	tool_ok($direct, 'batch-delete it', 'rm-keys', $odd, 'odd/never-existed');
	my ($rc) = tool($direct, 'head', $odd);
	is($rc, 2, 'key with XML specials deleted');
}

# ---------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------
{
	my $secret = 'NotTheSecret-4242';
	my ($rc, $out, $err) = tool($direct, '-s', "s3_secret_access_key=$secret",
		'put', 'auth/x', $files{one});
	is($rc, 1, 'wrong secret: put fails');
	like($err, qr/SignatureDoesNotMatch/, 'wrong secret: SignatureDoesNotMatch');
	like($err, qr/HTTP 403/, 'wrong secret: HTTP 403');
	like($err, qr/^code: auth/m, 'wrong secret: auth error');
	like($err, qr/tbdr\.s3_secret_access_key/, 'wrong secret: hint names the setting');
	unlike($err, qr/\Q$secret\E/, 'the secret is not in the message');
	unlike($err, qr/Gave up after/, 'a 403 is not retried');
}

# ---------------------------------------------------------------------------
# Faults (through the proxy; tbdr.s3_max_retries = 3, s3_timeout = 2)
# ---------------------------------------------------------------------------

sub faulted
{
	my $s = $proxy->stats;
	return $s->{faulted};
}

sub fault_case
{
	my ($name, $rules, @args) = @_;
	$proxy->clear;
	$proxy->reset_stats;
	$proxy->inject(%$_) for @$rules;
	my $t0 = Time::HiRes::time;
	my ($rc, $out, $err) = tool($faulty, @args);
	my $f = faulted();
	is($rc, 0, sprintf('%s: succeeds (%d faults, %.1f s)', $name, $f,
		Time::HiRes::time - $t0)) or diag($err);
	my $want = 0;
	$want += $_->{count} || 1 for @$rules;
	is($f, $want, "$name: every fault was hit");
	return ($rc, $out, $err);
}

fault_case('single PUT through 503 SlowDown x2',
	[ { mode => 'status', status => 503, s3_code => 'SlowDown', count => 2, method => 'PUT' } ],
	'put', 'f/slow', $files{part_minus_1});
fault_case('single PUT through 500 InternalError',
	[ { mode => 'status', status => 500, count => 1, method => 'PUT' } ],
	'put', 'f/internal', $files{one});
fault_case('PUT through connection resets x2',
	[ { mode => 'reset', count => 2, method => 'PUT', phase => 'request' } ],
	'put', 'f/reset', $files{part_minus_1});
fault_case('multipart PUT through a 503 and a reset of parts',
	[
		{ mode => 'status', status => 503, count => 1, method => 'PUT' },
		{ mode => 'reset', count => 1, method => 'PUT', after_bytes => 0 }
	],
	'put', 'f/multi', $files{big});
fault_case('CompleteMultipartUpload through a 503',
	[ { mode => 'status', status => 503, count => 1, method => 'POST', path_regex => 'uploadId=' } ],
	'put', 'f/complete', $files{part_plus_1});
fault_case('RequestTimeout (400) is retried',
	[ { mode => 'status', status => 400, s3_code => 'RequestTimeout', count => 1, method => 'PUT' } ],
	'put', 'f/rt400', $files{one});
for my $k ('f/slow', 'f/multi', 'f/complete')
{
	my $src = $k eq 'f/slow' ? $files{part_minus_1}
	  : $k eq 'f/multi' ? $files{big} : $files{part_plus_1};
	tool_ok($direct, "$k stored", 'get', $k, "$work/check");
	is(sha("$work/check"), sha($src), "$k: same SHA-256");
}

fault_case('GET through 503 SlowDown x2',
	[ { mode => 'status', status => 503, count => 2, method => 'GET' } ],
	'get', 'rt/part', "$work/g1");
is(sha("$work/g1"), sha($files{part}), 'GET after 503s: same SHA-256');

fault_case('HEAD through 503 x2',
	[ { mode => 'status', status => 503, count => 2, method => 'HEAD' } ],
	'head', 'rt/part');

fault_case('GET through a reset before the answer',
	[ { mode => 'reset', count => 1, method => 'GET', phase => 'request' } ],
	'get', 'rt/part', "$work/g2");
is(sha("$work/g2"), sha($files{part}), 'GET after a reset: same SHA-256');

# Resets in the middle of the body: the sink already has the first bytes,
# so the read must resume at that offset (a restart from 0 would duplicate
# bytes in the output file).
fault_case('large GET through resets mid-body',
	[
		{ mode => 'reset', count => 1, method => 'GET', after_bytes => 3_000_000 },
		{ mode => 'reset', count => 1, method => 'GET', after_bytes => 20_000_000 }
	],
	'get', 'rt/big', "$work/g3");
is(-s "$work/g3", 100 * $MB, 'resumed GET: right size');
is(sha("$work/g3"), sha($files{big}), 'resumed GET: same SHA-256');

fault_case('ranged GET through a reset mid-body',
	[ { mode => 'reset', count => 1, method => 'GET', after_bytes => 1_000_000 } ],
	'get', 'rt/big', "$work/g4", 7 * $MB, 10 * $MB);
{
	open(my $fh, '<:raw', $files{big}) or die;
	seek($fh, 7 * $MB, 0);
	read($fh, my $want, 10 * $MB);
	close $fh;
	open(my $g, '<:raw', "$work/g4") or die;
	local $/;
	my $got = <$g>;
	close $g;
	ok($got eq $want, 'resumed ranged GET: right bytes');
}

fault_case('GET through a truncated answer',
	[ { mode => 'truncate', count => 1, method => 'GET' } ],
	'get', 'rt/part_plus_1', "$work/g5");
is(sha("$work/g5"), sha($files{part_plus_1}), 'GET after truncation: same SHA-256');

fault_case('GET through a stall longer than s3_timeout',
	[ { mode => 'delay', seconds => 5, count => 1, method => 'GET' } ],
	'get', 'rt/part', "$work/g6");
is(sha("$work/g6"), sha($files{part}), 'GET after a stall: same SHA-256');

# Past the retry limit.
sub fault_fail
{
	my ($name, $rules, $expect, @args) = @_;
	$proxy->clear;
	$proxy->reset_stats;
	$proxy->inject(%$_) for @$rules;
	my $t0 = Time::HiRes::time;
	my ($rc, $out, $err) = tool($faulty, @args);
	my $dt = Time::HiRes::time - $t0;
	is($rc, 1, sprintf('%s: fails (%.1f s)', $name, $dt));
	like($err, $expect, "$name: clear error") or diag($err);
	$proxy->clear;
	return $err;
}

my $err = fault_fail('PUT past the retry limit',
	[ { mode => 'status', status => 503, count => 20, method => 'PUT' } ],
	qr/SlowDown.*Gave up after 4 attempts/s,
	'put', 'f/never', $files{one});
like($err, qr/tbdr\.s3_max_retries/, 'hint names tbdr.s3_max_retries');
is(faulted(), 4, '1 attempt + 3 retries');

fault_fail('GET past the retry limit (resets)',
	[ { mode => 'reset', count => 20, method => 'GET', phase => 'request' } ],
	qr/could not read .*rt\/part.*\n^code: network/ms,
	'get', 'rt/part', "$work/g7");

fault_fail('GET with every answer truncated',
	[ { mode => 'truncate', count => 20, method => 'GET' } ],
	qr/cut short/,
	'get', 'rt/part_plus_1', "$work/g8");

# A multipart upload that fails is aborted: no upload is left behind.
{
	my @before = grep { $_->{key} =~ m{f/abort} } $s3->list_uploads($bucket);
	is(scalar @before, 0, 'no upload before');
	fault_fail('multipart upload past the retry limit',
		[ { mode => 'status', status => 503, count => 20, method => 'PUT', path_regex => 'partNumber=3' } ],
		qr/could not upload part 3 of .*f\/abort.*SlowDown/s,
		'put', 'f/abort', $files{big});
	my @after = grep { $_->{key} =~ m{f/abort} } $s3->list_uploads($bucket);
	is(scalar @after, 0, 'the failed multipart upload was aborted');
	my ($rc) = tool($direct, 'head', 'f/abort');
	is($rc, 2, 'no object from the failed upload');
}

# An upload whose completion and abort both fail stays behind;
# cleanup_uploads aborts it.
{
	fault_fail('multipart upload whose completion and abort fail',
		[
			{ mode => 'status', status => 503, count => 4, method => 'POST', path_regex => 'uploadId=' },
			{ mode => 'status', status => 503, count => 4, method => 'DELETE' }
		],
		qr/could not complete the multipart upload.*cleanup/s,
		'put', 'f/left', $files{part_plus_1});
	my @left = grep { $_->{key} =~ m{f/left} } $s3->list_uploads($bucket);
	is(scalar @left, 1, 'the upload is left behind');
	my $out = tool_ok($direct, 'cleanup', 'cleanup', 'f/');
	like($out, qr/aborted 1/, 'cleanup aborted it');
	@left = grep { $_->{key} =~ m{f/left} } $s3->list_uploads($bucket);
	is(scalar @left, 0, 'no upload left after cleanup');
}

# Write-once stores (tbdr_storage_put_new).  Swift's s3api answers
# If-None-Match with 501 NotImplemented: tbdr falls back to a HEAD.
for my $case ([ 'small', $files{one}, $files{part_minus_1} ],
	[ 'multipart', $files{part_plus_1}, make_file('once_second', $PART + 100) ])
{
	my ($name, $first, $second) = @$case;
	my $out = tool_ok($direct, "put-new $name: a free key", 'put-new', "once/$name", $first);
	is($out, "stored\n", "put-new $name: stored");
	$out = tool_ok($direct, "put-new $name again", 'put-new', "once/$name", $second);
	is($out, "existed\n", "put-new $name again, other content: the key was taken (server without conditional writes)");
	tool_ok($direct, "get once/$name", 'get', "once/$name", "$work/once.out");
	is(sha("$work/once.out"), sha($first), "put-new $name: the first object is unchanged");
}
# A server with conditional writes answers 412 when the key is taken: the
# proxy plays it for the PUT and for the completion of a multipart upload.
for my $case ([ 'small', $files{one}, 'PUT', 'once/c412_small$' ],
	[ 'multipart', $files{part_plus_1}, 'POST', 'uploadId=' ])
{
	my ($name, $file, $method, $re) = @$case;
	$proxy->clear;
	$proxy->reset_stats;
	$proxy->inject(mode => 'status', status => 412, s3_code => 'PreconditionFailed',
		count => 1, method => $method, path_regex => $re);
	my $out = tool_ok($faulty, "put-new $name answered 412", 'put-new', "once/c412_$name", $file);
	is($out, "existed\n", "put-new $name: 412 PreconditionFailed means the key was taken");
	is($proxy->stats->{by_method}{HEAD} // 0, 0, "put-new $name: decided by the conditional request, no HEAD");
	my @left = grep { $_->{key} =~ m{once/c412} } $s3->list_uploads($bucket);
	is(scalar @left, 0, "put-new $name: no upload left behind");
}
$proxy->clear;

# The server's clock is seen.
{
	my $out = tool_ok($direct, 'server date', 'date');
	my ($server, $local) = split ' ', $out;
	ok(abs($server - $local) < 60, 'server Date header parsed');
}

$proxy->stop;
$s3->stop;
done_testing();
