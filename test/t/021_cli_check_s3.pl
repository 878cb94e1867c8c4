# tbdr check against a real S3 server (Swift + s3api on loopback): passes
# when everything is right, and fails clearly, at the right step and with a
# non-zero exit, for a wrong endpoint, a missing bucket and a wrong secret.
#
# Uses build/tbdr of this tree, or $TBDR_BIN (the installed tbdr) if set.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IPC::Run qw(run);
use Test::More;
use TbdrTest::S3Server;
use TbdrTest::Setup;

my $tbdr = TbdrTest::Setup::tbdr_program();

TbdrTest::Setup::isolate_aws_env();

my $tmp = tempdir('tbdr-021-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $s3 = TbdrTest::S3Server->start(buckets => ['tbdr-check']);

sub write_conf
{
	my ($name, %s) = @_;
	my %conf = (
		repository => 's3://tbdr-check/some/prefix',
		s3_endpoint => $s3->endpoint,
		s3_access_key_id => $s3->access_key,
		s3_secret_access_key => $s3->secret_key,
		s3_region => 'us-east-1',
		s3_uri_style => 'path',
		s3_max_retries => 1,
		s3_timeout => 10,
		%s);
	my $path = "$tmp/$name.conf";
	open(my $fh, '>', $path) or die "open $path: $!";
	print $fh "tbdr.$_ = '$conf{$_}'\n" for sort keys %conf;
	close $fh or die;
	return $path;
}

sub check
{
	my ($conf) = @_;
	my ($out, $err) = ('', '');
	run([ $tbdr, 'check', '-c', $conf ], '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# --- all good ------------------------------------------------------------------
my ($rc, $out, $err) = check(write_conf('good'));
is($rc, 0, 'check passes against the S3 server') or diag($out . $err);
for my $step (qw(configuration credentials list clock write read delete))
{
	like($out, qr/^ok: $step: /m, "check: step $step ok");
}
like($out, qr/^ok: credentials: access key id \S+ from settings/m,
	'check says where the credentials come from');
unlike($out . $err, qr/\Q${\ $s3->secret_key }\E/, 'the secret is never printed');
like($out, qr{^ok: list: s3://tbdr-check/some/prefix.* reachable, credentials accepted}m,
	'check lists the repository');
like($out, qr/^ok: clock: local clock within \d+ s of the server's/m, 'clock skew checked');
like($out, qr/^all checks passed$/m, 'summary');
my $left = $s3->s3admin('ls', 'tbdr-check');
unlike($left, qr/tbdr-check\//, 'no probe object left in the bucket');

# --- credentials from the environment ------------------------------------------
{
	my $conf = write_conf('envcred', s3_access_key_id => '', s3_secret_access_key => '');
	local $ENV{AWS_ACCESS_KEY_ID} = $s3->access_key;
	local $ENV{AWS_SECRET_ACCESS_KEY} = $s3->secret_key;
	($rc, $out, $err) = check($conf);
	is($rc, 0, 'check passes with credentials from the environment') or diag($out . $err);
	like($out, qr/^ok: credentials: .* from environment/m, 'credentials: from the environment');
}

# --- credentials from a shared credentials file and profile ---------------------
{
	my $creds = "$tmp/credentials";
	open(my $fh, '>', $creds) or die "$creds: $!";
	print $fh "[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = wrong-secret\n\n";
	printf $fh "[profile tbdr]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
	  $s3->access_key, $s3->secret_key;
	close $fh;
	my $conf = write_conf('filecred', s3_access_key_id => '', s3_secret_access_key => '',
		s3_credentials_file => $creds, s3_profile => 'tbdr');
	($rc, $out, $err) = check($conf);
	is($rc, 0, 'check passes with credentials from tbdr.s3_credentials_file, profile tbdr')
	  or diag($out . $err);
	like($out, qr/^ok: credentials: .* from credentials file/m,
		'credentials: from the credentials file');

	# AWS_SHARED_CREDENTIALS_FILE and AWS_PROFILE name them the same way
	local $ENV{AWS_SHARED_CREDENTIALS_FILE} = $creds;
	local $ENV{AWS_PROFILE} = 'tbdr';
	($rc, $out, $err) = check(write_conf('envfile', s3_access_key_id => '',
			s3_secret_access_key => ''));
	is($rc, 0, 'check passes with AWS_SHARED_CREDENTIALS_FILE and AWS_PROFILE')
	  or diag($out . $err);

	# the default profile of that file holds a wrong secret: a clear 403
	delete $ENV{AWS_PROFILE};
	($rc, $out, $err) = check(write_conf('envdefault', s3_access_key_id => '',
			s3_secret_access_key => ''));
	is($rc, 1, 'wrong secret in the default profile: exit 1');
	like($out, qr/^FAILED: list: .*403.*HINT: .*credentials file/m,
		'wrong secret from the file: 403 with a hint naming the credentials file')
	  or diag($out);

	# settings come first: they beat the file's profile
	($rc, $out, $err) = check(write_conf('setbeatsfile'));
	is($rc, 0, 'explicit settings beat the credentials file') or diag($out . $err);
	like($out, qr/^ok: credentials: .* from settings/m, 'credentials: from settings');
}

# --- no credentials at all -------------------------------------------------------
($rc, $out, $err) = check(write_conf('nocred', s3_access_key_id => '', s3_secret_access_key => ''));
is($rc, 1, 'no credentials: exit 1');
like($out, qr/^FAILED: credentials: .*HINT: /m, 'no credentials: fails at the credentials step');

# --- wrong endpoint (connection refused) -----------------------------------------
my $sock = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0)
  or die "socket: $!";
my $dead_port = $sock->sockport;
close $sock;    # nothing listens there now
($rc, $out, $err) = check(write_conf('refused', s3_endpoint => "http://127.0.0.1:$dead_port"));
is($rc, 1, 'wrong endpoint: exit 1');
like($out, qr/^FAILED: list: .*127\.0\.0\.1\D+$dead_port\b.*HINT: .*tbdr\.s3_endpoint/m,
	'wrong endpoint: fails at the list step, names the endpoint, hints at tbdr.s3_endpoint')
  or diag($out);
unlike($out, qr/^ok: write/m, 'wrong endpoint: stops at the first failure');

# --- wrong bucket ---------------------------------------------------------------------
($rc, $out, $err) = check(write_conf('nobucket', repository => 's3://no-such-bucket-here/p'));
is($rc, 1, 'missing bucket: exit 1');
like($out, qr/^FAILED: list: .*NoSuchBucket.*HINT: /m, 'missing bucket: NoSuchBucket with a hint')
  or diag($out);

# --- wrong secret -----------------------------------------------------------------------
($rc, $out, $err) = check(write_conf('badsecret', s3_secret_access_key => 'not-the-secret'));
is($rc, 1, 'wrong secret: exit 1');
like($out, qr/^FAILED: list: .*403.*HINT: /m, 'wrong secret: 403 at the list step with a hint')
  or diag($out);
unlike($out . $err, qr/not-the-secret/, 'the wrong secret is not printed either');

$s3->stop;
done_testing();
