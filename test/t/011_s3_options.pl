# Copyright (c) tbdr authors

# The S3 driver's connection and object options, against the real S3 server
# (Swift with s3api) and, where only the request itself can show what was
# sent, against a small recording HTTP server in this test:
#
# - https: certificate verification is on by default (a self-signed server
#   fails clearly), tbdr.s3_ca_file makes it work, tbdr.s3_verify_tls = off
#   too; a missing CA file is a clear error
# - virtual-hosted-style addressing (tbdr.s3_uri_style = host): the bucket
#   goes in the Host header, and every operation works against Swift
# - server-side encryption and storage class headers are sent (and signed)
#   on object creation (single PUT, CreateMultipartUpload), not on parts;
#   a store that refuses them gives a clear error, not retried
# - S3's traps: an ETag that is not the MD5 of a plain upload,
#   CompleteMultipartUpload answering 200 with an <Error>, DeleteObjects
#   answering 200 with per-key errors: each is a failure, never a success
#
#   prove -I test/perl -I /usr/lib/postgresql/15/lib/pgxs/src/test/perl \
#       test/t/011_s3_options.pl

use strict;
use warnings;

use Cwd ();
use Digest::MD5 ();
use File::Basename ();
use File::Spec ();
use File::Temp ();
use IO::Socket::INET;
use IPC::Run ();
use JSON::PP ();
use POSIX ();
use Test::More;

use TbdrTest::Data;
use TbdrTest::S3Server;

my $ROOT = Cwd::abs_path(File::Basename::dirname(__FILE__) . '/../..');
my $TOOL = $ENV{TBDR_S3_TOOL} || "$ROOT/build/test/s3_tool";
my $TBDR = $ENV{TBDR_BIN} || "$ROOT/build/tbdr";
plan skip_all => "$TOOL or $TBDR not built (make)" unless -x $TOOL && -x $TBDR;

delete $ENV{$_} for grep { /^AWS_/ || /^SSL_CERT_/ || $_ eq 'CURL_CA_BUNDLE' } keys %ENV;
$ENV{AWS_SHARED_CREDENTIALS_FILE} = '/dev/null';

my $MB = 1024 * 1024;
my $PART = 5 * $MB;
my $bucket = 'tbdr-opts';

my $base = ($ENV{TESTDIR} && -d $ENV{TESTDIR} && -w $ENV{TESTDIR})
  ? $ENV{TESTDIR} : File::Spec->tmpdir;
my $work = File::Temp::tempdir('s3options_XXXXXX', DIR => $base,
	CLEANUP => !$ENV{TBDR_KEEP_TMP});

sub make_file
{
	my ($name, $size) = @_;
	return TbdrTest::Data::random_file("$work/$name", $size);
}

sub sha { return TbdrTest::Data::sha256_file($_[0]) }

my $small = make_file('small', 1000);
my $multi = make_file('multi', $PART + 1);

# A config file with the given settings (values override the defaults).
my $nconf = 0;
sub conf
{
	my (%set) = @_;
	my %all = (
		repository => "s3://$bucket/repo",
		s3_region => 'us-east-1',
		s3_part_size => 5,
		s3_parallel => 2,
		s3_max_retries => 2,
		s3_timeout => 20,
		%set);
	my $path = "$work/c" . ++$nconf . '.conf';
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh "tbdr.$_ = '$all{$_}'\n" for sort keys %all;
	close $fh;
	return $path;
}

# Run a program; returns (exit status, stdout, stderr).
sub run_prog
{
	my (@cmd) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

sub tool { my ($conf, @a) = @_; return run_prog($TOOL, '-c', $conf, @a) }
sub check { my ($conf) = @_; return run_prog($TBDR, 'check', '-c', $conf) }

sub tool_ok
{
	my ($conf, $name, @args) = @_;
	my ($rc, $out, $err) = tool($conf, @args);
	is($rc, 0, $name) or diag("s3_tool @args: $err");
	return $out;
}

# Put, get back byte-identical, and delete, through one configuration.
sub round_trip
{
	my ($conf, $label, $key, $src) = @_;
	tool_ok($conf, "$label: put $key", 'put', $key, $src);
	tool_ok($conf, "$label: get $key", 'get', $key, "$src.out");
	is(-e "$src.out" && sha("$src.out"), sha($src), "$label: $key same SHA-256");
	unlink "$src.out";
}

# ---------------------------------------------------------------------------
# https and certificate verification
# ---------------------------------------------------------------------------
{
	my ($cert, $key) = ("$work/server.crt", "$work/server.key");
	my ($rc, $out, $err) = run_prog('openssl', 'req', '-x509', '-newkey', 'rsa:2048',
		'-nodes', '-days', '2', '-subj', '/CN=localhost',
		'-addext', 'subjectAltName=DNS:localhost',
		'-keyout', $key, '-out', $cert);
	is($rc, 0, 'self-signed certificate made') or diag($err);

	my $s3 = TbdrTest::S3Server->start(buckets => [$bucket],
		tls_cert => $cert, tls_key => $key);
	like($s3->endpoint, qr{^https://127\.0\.0\.1:\d+$}, 'S3 server speaks https');
	(my $https = $s3->endpoint) =~ s/127\.0\.0\.1/localhost/;
	my %cred = (
		s3_endpoint => $https,
		s3_access_key_id => $s3->access_key,
		s3_secret_access_key => $s3->secret_key);

	($rc, $out, $err) = check(conf(%cred));
	is($rc, 1, 'https, default settings: check fails (certificate not trusted)');
	note $out;
	like($out, qr/^FAILED: list: .*certificate.*HINT: .*tbdr\.s3_ca_file/m,
		'https, default settings: names the certificate and tbdr.s3_ca_file')
	  or diag($out . $err);
	unlike($out, qr/Gave up after/, 'an untrusted certificate is not retried');

	($rc, $out, $err) = check(conf(%cred, s3_ca_file => $cert));
	is($rc, 0, 'https with tbdr.s3_ca_file: check passes') or diag($out . $err);
	round_trip(conf(%cred, s3_ca_file => $cert), 'https with CA file', 'tls/small', $small);
	round_trip(conf(%cred, s3_ca_file => $cert), 'https with CA file', 'tls/multi', $multi);

	($rc, $out, $err) = check(conf(%cred, s3_verify_tls => 'off'));
	is($rc, 0, 'https with tbdr.s3_verify_tls = off: check passes') or diag($out . $err);

	($rc, $out, $err) = check(conf(%cred, s3_ca_file => "$work/no-such-ca.pem"));
	is($rc, 1, 'a missing CA file: check fails');
	like($out, qr/^FAILED: .*HINT: .*tbdr\.s3_ca_file/m, 'a missing CA file: clear error')
	  or diag($out . $err);

	# The name in the certificate is checked too (localhost is in it,
	# 127.0.0.1 is not).
	($rc, $out, $err) = check(conf(%cred, s3_endpoint => $s3->endpoint, s3_ca_file => $cert));
	is($rc, 1, 'certificate for another name: check fails');
	like($out, qr/^FAILED: list: .*(certificate|SSL|subject)/im,
		'certificate for another name: says so') or diag($out . $err);
	$s3->stop;
}

# ---------------------------------------------------------------------------
# What the driver sends: a recording server
# ---------------------------------------------------------------------------

my $recorder_pid;
my $parent_pid = $$;

# Answers like S3 just enough for uploads (PUT, CreateMultipartUpload,
# UploadPart, then 403 to the completion, which makes the driver abort with
# a DELETE), and writes one JSON line per request to $log.  The file
# $log.mode, read at every request, asks for one of S3's traps instead:
# bad_etag (a PUT answered with another ETag than the data's MD5),
# complete_error (CompleteMultipartUpload answered 200 with an <Error>
# body), delete_errors (DeleteObjects answered 200 with per-key <Error>s).
sub start_recorder
{
	my ($log) = @_;
	my $sock = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
		LocalPort => 0, ReuseAddr => 1) or die "listen: $!";
	my $port = $sock->sockport;
	my $pid = fork;
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		# never hold prove's pipe open, never outlive a test that died
		open(STDOUT, '>', '/dev/null');
		open(STDERR, '>', '/dev/null');
		alarm(900);
		while (my $c = $sock->accept)
		{
			binmode $c;
			record_one($c, $log);
			close $c;
		}
		POSIX::_exit(0);
	}
	close $sock;
	$recorder_pid = $pid;
	return ($pid, $port);
}

END
{
	kill 'TERM', $recorder_pid if $recorder_pid && $$ == $parent_pid;
}

sub record_one
{
	my ($c, $log) = @_;
	local $/ = "\r\n";
	my $line = <$c>;
	return unless defined $line;
	my ($method, $target) = $line =~ /^(\S+) (\S+)/ or return;
	my %h;
	while (defined(my $l = <$c>))
	{
		$l =~ s/\r\n$//;
		last if $l eq '';
		my ($n, $v) = $l =~ /^([^:]+):\s*(.*)$/ or next;
		push @{ $h{ lc $n } }, $v;
	}
	my $len = $h{'content-length'} ? $h{'content-length'}[0] : 0;
	my $body = '';
	while (length($body) < $len)
	{
		my $n = read($c, my $buf, $len - length($body));
		last unless $n;
		$body .= $buf;
	}
	open(my $fh, '>>', $log) or die "$log: $!";
	print $fh JSON::PP->new->canonical->encode(
		{ method => $method, target => $target, headers => \%h }), "\n";
	close $fh;

	my $mode = '';
	if (open(my $mf, '<', "$log.mode"))
	{
		$mode = <$mf> // '';
		$mode =~ s/\s+$//;
		close $mf;
	}
	my ($status, @hdr) = ('200 OK');
	my $resp = '';
	if ($mode eq 'bad_etag' && $method eq 'PUT')
	{
		push @hdr, 'ETag: "' . Digest::MD5::md5_hex("not $body") . '"';
	}
	elsif ($mode eq 'complete_error' && $method eq 'POST' && $target =~ /uploadId=/)
	{
		$resp = '<?xml version="1.0" encoding="UTF-8"?>' . "\n\n"
		  . '<Error><Code>InternalError</Code><Message>We encountered an internal error. '
		  . 'Please try again.</Message><RequestId>rec2</RequestId></Error>';
	}
	elsif ($mode eq 'delete_errors' && $method eq 'POST' && $target =~ /[?&]delete(=|&|$)/)
	{
		my @keys = $body =~ m{<Key>([^<]*)</Key>}g;
		$resp = '<?xml version="1.0" encoding="UTF-8"?><DeleteResult>'
		  . "<Deleted><Key>$keys[0]</Key></Deleted>"
		  . join('', map { "<Error><Key>$_</Key><Code>AccessDenied</Code>"
				  . '<Message>Access Denied</Message></Error>' } @keys[ 1 .. $#keys ])
		  . '</DeleteResult>';
	}
	elsif ($method eq 'POST' && $target =~ /[?&]uploads(=|&|$)/)
	{
		$resp = '<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult>'
		  . '<Bucket>b</Bucket><Key>k</Key><UploadId>rec-upload-1</UploadId>'
		  . '</InitiateMultipartUploadResult>';
	}
	elsif ($method eq 'PUT')
	{
		push @hdr, 'ETag: "' . Digest::MD5::md5_hex($body) . '"';
	}
	elsif ($method eq 'DELETE')
	{
		$status = '204 No Content';
	}
	else
	{
		$status = '403 Forbidden';
		$resp = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
		  . '<Message>recorder refuses this</Message><RequestId>rec1</RequestId></Error>';
	}
	print $c "HTTP/1.1 $status\r\n", map({ "$_\r\n" } @hdr),
	  'Content-Length: ' . length($resp) . "\r\n",
	  "Connection: close\r\n\r\n", $resp;
	return;
}

sub read_log
{
	my ($log) = @_;
	open(my $fh, '<', $log) or return ();
	my @r = map { JSON::PP->new->decode($_) } <$fh>;
	close $fh;
	unlink $log;
	return @r;
}

sub hdr
{
	my ($req, $name) = @_;
	my $v = $req->{headers}{$name};
	return $v ? join(',', @$v) : undef;
}

sub signed
{
	my ($req) = @_;
	my ($sh) = (hdr($req, 'authorization') // '') =~ /SignedHeaders=([^,]+)/;
	return { map { $_ => 1 } split /;/, $sh // '' };
}

{
	my $log = "$work/recorder.log";
	my ($pid, $port) = start_recorder($log);
	my %rec = (
		repository => 's3://tbdr-rec/pfx',
		s3_endpoint => "http://localhost:$port",
		s3_uri_style => 'host',
		s3_access_key_id => 'AKIDREC',
		s3_secret_access_key => 'rec-secret',
		s3_max_retries => 0);

	# SSE-KMS with a key id, a storage class, a single PUT
	my $kms = conf(%rec, s3_sse => 'aws:kms', s3_sse_kms_key_id => 'arn:aws:kms:us-east-1:1:key/abc',
		s3_storage_class => 'STANDARD_IA');
	tool_ok($kms, 'recorder: single PUT', 'put', 'obj', $small);
	my @r = read_log($log);
	is(scalar @r, 1, 'single PUT: one request');
	my $put = $r[0];
	is($put->{method} . ' ' . $put->{target}, 'PUT /pfx/obj',
		'virtual-hosted style: the path has no bucket');
	is(hdr($put, 'host'), "tbdr-rec.localhost:$port", 'virtual-hosted style: bucket in Host');
	is(hdr($put, 'x-amz-server-side-encryption'), 'aws:kms', 'SSE-KMS header sent');
	is(hdr($put, 'x-amz-server-side-encryption-aws-kms-key-id'),
		'arn:aws:kms:us-east-1:1:key/abc', 'KMS key id sent');
	is(hdr($put, 'x-amz-storage-class'), 'STANDARD_IA', 'storage class sent');
	my $s = signed($put);
	ok($s->{'x-amz-server-side-encryption'} && $s->{'x-amz-server-side-encryption-aws-kms-key-id'}
		  && $s->{'x-amz-storage-class'} && $s->{host},
		'SSE, KMS key id, storage class and Host are signed');
	ok(defined hdr($put, 'content-md5'), 'single PUT carries Content-MD5');
	like(hdr($put, 'x-amz-content-sha256') // '', qr/^[0-9a-f]{64}$/,
		'single PUT signs the real payload hash');
	ok(!grep({ /^x-amz-checksum-|^x-amz-sdk-checksum/ } keys %{ $put->{headers} }),
		'no newer checksum headers that some stores reject');

	# multipart: headers on CreateMultipartUpload only
	my ($rc, $out, $err) = tool($kms, 'put', 'big', $multi);
	is($rc, 1, 'recorder: multipart upload fails at the refused completion');
	like($err, qr/AccessDenied|recorder refuses/, 'the refusal is reported') or diag($err);
	@r = read_log($log);
	my ($create) = grep { $_->{method} eq 'POST' && $_->{target} =~ /uploads/ } @r;
	my @parts = grep { $_->{method} eq 'PUT' && $_->{target} =~ /partNumber=/ } @r;
	my ($abort) = grep { $_->{method} eq 'DELETE' } @r;
	ok($create, 'CreateMultipartUpload sent');
	is($create && hdr($create, 'x-amz-server-side-encryption'), 'aws:kms',
		'CreateMultipartUpload: SSE header');
	is($create && hdr($create, 'x-amz-storage-class'), 'STANDARD_IA',
		'CreateMultipartUpload: storage class');
	is(scalar @parts, 2, 'two parts uploaded');
	ok(!grep({ defined hdr($_, 'x-amz-server-side-encryption')
				|| defined hdr($_, 'x-amz-storage-class') } @parts),
		'UploadPart carries neither SSE nor storage class (S3 rejects them there)');
	ok($abort && $abort->{target} =~ /uploadId=rec-upload-1/, 'the failed upload is aborted');

	# SSE-S3
	my $aes = conf(%rec, s3_sse => 'AES256');
	tool_ok($aes, 'recorder: PUT with SSE-S3', 'put', 'obj2', $small);
	($put) = read_log($log);
	is(hdr($put, 'x-amz-server-side-encryption'), 'AES256', 'SSE-S3 header sent');
	ok(!defined hdr($put, 'x-amz-server-side-encryption-aws-kms-key-id'),
		'SSE-S3: no KMS key id');
	ok(!defined hdr($put, 'x-amz-storage-class'), 'no storage class unless set');

	# path style (the default) for comparison
	tool_ok(conf(%rec, s3_uri_style => 'path'), 'recorder: path-style PUT', 'put', 'obj3', $small);
	($put) = read_log($log);
	is($put->{target}, '/tbdr-rec/pfx/obj3', 'path style: bucket in the path');
	is(hdr($put, 'host'), "localhost:$port", 'path style: plain Host');
	ok(!defined hdr($put, 'x-amz-server-side-encryption'), 'no SSE header unless set');

	# S3's traps, which a well-behaved server never shows
	my $set_mode = sub {
		open(my $mf, '>', "$log.mode") or die "$log.mode: $!";
		print $mf "$_[0]\n";
		close $mf;
	};
	my $plain = conf(%rec);

	$set_mode->('bad_etag');
	($rc, $out, $err) = tool($plain, 'put', 'etag', $small);
	is($rc, 1, 'a PUT answered with another ETag than the MD5 fails');
	like($err, qr/ETag does not match the data sent/, 'the ETag mismatch is reported') or diag($err);
	like($err, qr/^code: corrupt/m, 'as corruption');
	# with SSE-KMS, S3's ETag is not the MD5: not compared (Content-MD5 and
	# the signed SHA-256 still are checked by S3)
	tool_ok(conf(%rec, s3_sse => 'aws:kms'), 'SSE-KMS: an ETag that is not the MD5 is fine',
		'put', 'etag-kms', $small);
	read_log($log);

	$set_mode->('complete_error');
	($rc, $out, $err) = tool($plain, 'put', 'big2', $multi);
	is($rc, 1, 'CompleteMultipartUpload answered 200 with <Error>: the upload fails');
	like($err, qr/complete the multipart upload.*internal error/is,
		'200 with <Error>: S3\'s error is reported') or diag($err);
	@r = read_log($log);
	ok((grep { $_->{method} eq 'DELETE' && $_->{target} =~ /uploadId=rec-upload-1/ } @r),
		'200 with <Error>: the upload is aborted');

	$set_mode->('delete_errors');
	($rc, $out, $err) = tool($plain, 'rm-keys', 'k1', 'k2', 'k3');
	is($rc, 1, 'DeleteObjects answered 200 with per-key errors fails');
	like($err, qr/could not delete 2 of 3 objects.*AccessDenied/s,
		'per-key errors: how many, and the code') or diag($err);
	@r = read_log($log);
	my ($del) = grep { $_->{method} eq 'POST' } @r;
	ok($del && defined hdr($del, 'content-md5'), 'DeleteObjects carries Content-MD5');
	unlink "$log.mode";

	kill 'TERM', $pid;
	waitpid($pid, 0);
}

# ---------------------------------------------------------------------------
# Virtual-hosted style and object options against Swift
# ---------------------------------------------------------------------------
{
	my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);
	(my $local = $s3->endpoint) =~ s/127\.0\.0\.1/localhost/;
	my %cred = (
		s3_endpoint => $local,
		s3_access_key_id => $s3->access_key,
		s3_secret_access_key => $s3->secret_key);
	my $vh = conf(%cred, s3_uri_style => 'host');

	my ($rc, $out, $err) = check($vh);
	is($rc, 0, 'virtual-hosted style: tbdr check passes') or diag($out . $err);
	($rc, $out, $err) = check(conf(%cred, s3_uri_style => 'host', s3_endpoint => $s3->endpoint));
	is($rc, 1, 'virtual-hosted style with an IP address endpoint: check fails');
	like($out, qr/^FAILED: configuration: .*host name.*HINT: .*tbdr\.s3_uri_style = path/m,
		'virtual-hosted style with an IP address: says why and what to set') or diag($out . $err);
	round_trip($vh, 'virtual-hosted', 'vh/small', $small);
	round_trip($vh, 'virtual-hosted', 'vh/multi', $multi);
	my $ls = tool_ok($vh, 'virtual-hosted: list', 'ls', 'vh/');
	is(join(',', map { (split ' ')[0] } split /\n/, $ls), 'vh/multi,vh/small',
		'virtual-hosted: listed');
	like($s3->s3admin('ls', $bucket, 'repo/vh/'), qr{^repo/vh/small 1000 }m,
		'virtual-hosted: stored in the bucket under the prefix');
	tool_ok($vh, 'virtual-hosted: DeleteObjects', 'rm-many', 'vh/');
	is(tool_ok($vh, 'virtual-hosted: list after delete', 'ls', 'vh/'), '', 'nothing left');

	# storage class and SSE that this store does not support: clear, at once
	my %plain = (%cred, s3_uri_style => 'path');
	round_trip(conf(%plain, s3_storage_class => 'STANDARD'), 'storage class STANDARD',
		'sc/std', $small);
	($rc, $out, $err) = tool(conf(%plain, s3_storage_class => 'GLACIER_IR'),
		'put', 'sc/glacier', $small);
	is($rc, 1, 'unsupported storage class: put fails');
	note $err;
	like($err, qr/InvalidStorageClass|storage class/i, 'unsupported storage class: says so')
	  or diag($err);
	like($err, qr/tbdr\.s3_storage_class/, 'unsupported storage class: hint names the setting');
	unlike($err, qr/Gave up after/, 'unsupported storage class: not retried');

	($rc, $out, $err) = tool(conf(%plain, s3_sse => 'aws:kms'), 'put', 'sse/kms', $small);
	is($rc, 1, 'SSE the store does not implement: put fails');
	note $err;
	like($err, qr/HTTP 501|not (implemented|supported)/i, 'unsupported SSE: says so') or diag($err);
	like($err, qr/tbdr\.s3_sse/, 'unsupported SSE: hint names tbdr.s3_sse');
	unlike($err, qr/Gave up after/, 'a 501 is not retried');
	$s3->stop;
}

done_testing();
