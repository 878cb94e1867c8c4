
# Copyright (c) tbdr authors

# The test S3 server is strict like AWS S3, and the fault proxy injects what
# it is told to.  Other tests rely on both.
#
#   prove -I test/perl -I /usr/lib/postgresql/15/lib/pgxs/src/test/perl \
#       test/t/001_s3server.pl

use strict;
use warnings;

use File::Compare ();
use File::Temp ();
use IPC::Run ();
use JSON::PP ();
use Test::More;
use Time::HiRes ();

use TbdrTest::S3Server;
use TbdrTest::FaultProxy;

my $AWS = $ENV{TBDR_AWS} || '/usr/bin/aws';
my $bucket = 'tbdr-test';

my $t0 = Time::HiRes::time;
my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);
my $start_s = Time::HiRes::time - $t0;
note sprintf('S3 server ready at %s in %.1f s (pid %d, log %s)',
	$s3->endpoint, $start_s, $s3->pid, $s3->log_file);
like($s3->endpoint, qr{^http://127\.0\.0\.1:\d+$}, 'endpoint is on loopback');
is($s3->access_key, 'tbdrtest', 'access key has no colon');

my $work = File::Temp::tempdir('s3test_XXXXXX', TMPDIR => 1, CLEANUP => 1);

# Run /usr/bin/aws against the server (or $opt{endpoint}); returns
# (ok, stdout, stderr).
sub aws
{
	my ($opt, @args) = @_;
	my %env = (%{ TbdrTest::Daemon::python_env() }, $s3->aws_env,
		%{ $opt->{env} || {} });
	my @cmd = ($AWS, '--endpoint-url', $opt->{endpoint} || $s3->endpoint,
		'--output', 'json', @args);
	my ($out, $err) = ('', '');
	my $ok;
	{
		local %ENV = %env;
		$ok = IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
	}
	return ($ok, $out, $err);
}

sub write_file
{
	my ($path, $bytes) = @_;
	open(my $fh, '>:raw', $path) or die "$path: $!";
	print $fh $bytes;
	close $fh;
	return $path;
}

# --- put/get round trip ---------------------------------------------------
my $data = join('', map { chr(($_ * 7) % 256) } 0 .. 300_000);
my $src = write_file("$work/src.bin", $data);
$s3->s3admin('put', $bucket, 'dir/obj.bin', $src);
$s3->s3admin('get', $bucket, 'dir/obj.bin', "$work/back.bin");
ok(File::Compare::compare($src, "$work/back.bin") == 0,
	'put/get round trip returns the same bytes');
like($s3->s3admin('ls', $bucket, 'dir/'), qr{^dir/obj\.bin 300001 }m,
	'listing shows the object and its size');

# --- signatures are checked -----------------------------------------------
my ($ok, $out, $err) = aws({ env => { AWS_SECRET_ACCESS_KEY => 'wrong' } },
	's3api', 'get-object', '--bucket', $bucket, '--key', 'dir/obj.bin',
	"$work/never.bin");
ok(!$ok && $err =~ /SignatureDoesNotMatch/,
	'a wrong secret key gets SignatureDoesNotMatch')
  or diag $err;

# --- multipart: a non-last part under 5 MiB is rejected --------------------
($ok, $out, $err) = aws({}, 's3api', 'create-multipart-upload',
	'--bucket', $bucket, '--key', 'mp/small');
ok($ok, 'create multipart upload') or diag $err;
my $upload_id = $ok ? JSON::PP->new->decode($out)->{UploadId} : '';
my @parts;
for my $n (1, 2)
{
	my $f = write_file("$work/part$n", "part $n " x 1000);
	($ok, $out, $err) = aws({}, 's3api', 'upload-part', '--bucket', $bucket,
		'--key', 'mp/small', '--upload-id', $upload_id,
		'--part-number', $n, '--body', $f);
	ok($ok, "upload small part $n") or diag $err;
	push @parts,
	  { PartNumber => $n, ETag => JSON::PP->new->decode($out)->{ETag} }
	  if $ok;
}
($ok, $out, $err) = aws({}, 's3api', 'complete-multipart-upload',
	'--bucket', $bucket, '--key', 'mp/small', '--upload-id', $upload_id,
	'--multipart-upload', JSON::PP->new->encode({ Parts => \@parts }));
ok(!$ok && $err =~ /EntityTooSmall/,
	'completing with a small non-last part gets EntityTooSmall')
  or diag "ok=$ok out=$out err=$err";

# --- abort leaves no upload listed -----------------------------------------
my @uploads = $s3->list_uploads($bucket);
ok((grep { $_->{upload_id} eq $upload_id } @uploads),
	'the unfinished upload is listed');
($ok, $out, $err) = aws({}, 's3api', 'abort-multipart-upload',
	'--bucket', $bucket, '--key', 'mp/small', '--upload-id', $upload_id);
ok($ok, 'abort multipart upload') or diag $err;
@uploads = $s3->list_uploads($bucket);
is(scalar(@uploads), 0, 'no multipart upload is listed after the abort')
  or diag explain \@uploads;

# --- fault proxy -------------------------------------------------------------
my $proxy = TbdrTest::FaultProxy->start(target => $s3->endpoint);
my $via = { endpoint => $proxy->endpoint };
like($proxy->endpoint, qr{^http://127\.0\.0\.1:\d+$}, 'proxy endpoint');

($ok, $out, $err) =
  $s3->s3admin($via, 'get', $bucket, 'dir/obj.bin', "$work/p0.bin");
ok($ok && File::Compare::compare($src, "$work/p0.bin") == 0,
	'a GET through the proxy returns the same bytes (signature still valid)')
  or diag $err;

$proxy->inject(mode => 'status', status => 503, s3_code => 'SlowDown',
	count => 2);
for my $i (1, 2)
{
	($ok, $out, $err) =
	  $s3->s3admin($via, 'get', $bucket, 'dir/obj.bin', "$work/p.bin");
	ok(!$ok && $err =~ /SlowDown/, "request $i through the proxy gets 503 SlowDown")
	  or diag $err;
}
($ok, $out, $err) =
  $s3->s3admin($via, 'get', $bucket, 'dir/obj.bin', "$work/p3.bin");
ok($ok && File::Compare::compare($src, "$work/p3.bin") == 0,
	'the third request passes')
  or diag $err;
my $stats = $proxy->stats;
is($stats->{faulted}, 2, 'the proxy counts 2 faulted requests');
is($stats->{requests}, 4, 'the proxy counts 4 requests');

$proxy->inject(mode => 'reset', after_bytes => 0);
($ok, $out, $err) =
  $s3->s3admin($via, 'get', $bucket, 'dir/obj.bin', "$work/p4.bin");
ok(!$ok, 'a connection reset is an error for the client') or diag $out;
note "client saw: $err";

$proxy->inject(mode => 'truncate', method => 'GET');
($ok, $out, $err) =
  $s3->s3admin($via, 'get', $bucket, 'dir/obj.bin', "$work/p5.bin");
ok(!$ok, 'a truncated body is an error for the client');

$proxy->inject(mode => 'status', status => 500, count => 5);
$proxy->clear;
($ok, $out, $err) =
  $s3->s3admin($via, 'put', $bucket, 'after-clear', $src);
ok($ok, 'no fault after clear') or diag $err;
is($proxy->stats->{faulted}, 4, 'faulted counts every injected fault');

my ($server_pid, $proxy_pid) = ($s3->pid, $proxy->pid);
$proxy->stop;
$s3->stop;
ok(!kill(0, $server_pid), 'server stopped');
ok(!kill(0, $proxy_pid), 'proxy stopped');
ok(!-e $s3->dir . '/server.pid', 'server removed its pid file');
note(sprintf('the whole test took %.1f s', Time::HiRes::time - $t0));   # a measurement, never an assertion: the machine is shared

done_testing();
