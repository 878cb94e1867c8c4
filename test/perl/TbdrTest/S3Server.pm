
# Copyright (c) tbdr authors

=pod

=head1 NAME

TbdrTest::S3Server - a real S3 server (Swift + s3api) for tbdr's TAP tests

=head1 SYNOPSIS

  use TbdrTest::S3Server;

  my $s3 = TbdrTest::S3Server->start(buckets => ['tbdr-test']);
  $s3->endpoint;      # http://127.0.0.1:PORT (path-style addressing)
  $s3->access_key;    # tbdrtest
  $s3->secret_key;    # tbdr-secret-key
  $s3->region;        # us-east-1
  $s3->create_bucket('another');
  my @uploads = $s3->list_uploads('tbdr-test');   # ({key=>, upload_id=>})
  my $out = $s3->s3admin('ls', 'tbdr-test');      # any s3admin.py command
  $s3->stop;          # also done by DESTROY and at END

=head1 DESCRIPTION

start runs test/s3server/tbdr_s3server.py with Debian's /usr/bin/python3 in
a fresh directory (PostgreSQL::Test::Utils::tempdir when that module is
loaded, else a temporary directory under $TESTDIR or /tmp, removed at exit;
or the given dir) and waits up to timeout seconds (default 60) for its
ready.json.  Options: buckets => [names], port => N (default 0: free
port), host => '127.0.0.1', dir => DIR, timeout => S, tls_cert => PEM and
tls_key => PEM (serve https; the endpoint then starts with https://).  The server's log is
DIR/server.log.

stop kills exactly the PID it started (TERM, then KILL after 10 s).

=cut

package TbdrTest::S3Server;

use strict;
use warnings;

use Carp;
use Cwd ();
use File::Basename ();
use IPC::Run ();
use TbdrTest::Daemon;

my $HERE = File::Basename::dirname(Cwd::abs_path(__FILE__));
our $SCRIPT_DIR = $ENV{TBDR_S3SERVER_DIR}
  || Cwd::abs_path("$HERE/../../s3server");

sub start
{
	my ($class, %o) = @_;
	my $dir = $o{dir} || TbdrTest::Daemon::new_dir('s3server');
	mkdir $dir unless -d $dir;
	my @argv = (
		$TbdrTest::Daemon::PYTHON, "$SCRIPT_DIR/tbdr_s3server.py",
		'--dir', $dir,
		'--host', $o{host} || '127.0.0.1',
		'--port', $o{port} || 0);
	push @argv, '--bucket', $_ for @{ $o{buckets} || [] };
	push @argv, '--tls-cert', $o{tls_cert}, '--tls-key', $o{tls_key}
	  if $o{tls_cert};
	my $daemon = TbdrTest::Daemon->spawn(
		name => 'tbdr_s3server.py',
		dir => $dir,
		log => "$dir/server.log",
		argv => \@argv,
		timeout => $o{timeout} || 60);
	return bless { daemon => $daemon, %{ $daemon->ready } }, $class;
}

sub endpoint { return $_[0]{endpoint} }
sub host { return $_[0]{host} }
sub port { return $_[0]{port} }
sub access_key { return $_[0]{access_key} }
sub secret_key { return $_[0]{secret_key} }
sub region { return $_[0]{region} }
sub pid { return $_[0]{daemon}->pid }
sub dir { return $_[0]{daemon}->dir }
sub log_file { return $_[0]{daemon}->log_file }
sub ready_file { return $_[0]{daemon}->dir . '/ready.json' }

# The tbdr.* settings (without "tbdr.") of a repository on this server:
# s3://BUCKET/PREFIX (prefix "main" by default), path-style, few retries.
sub tbdr_settings
{
	my ($self, $bucket, $prefix) = @_;
	return (
		repository => "s3://$bucket/" . ($prefix // 'main'),
		s3_endpoint => $self->endpoint,
		s3_access_key_id => $self->access_key,
		s3_secret_access_key => $self->secret_key,
		s3_region => 'us-east-1',
		s3_uri_style => 'path',
		s3_max_retries => 2,
		s3_timeout => 20);
}

# Environment (AWS_* variables) for /usr/bin/aws or an SDK talking to this
# server; pass endpoint => URL to go through a proxy.
sub aws_env
{
	my ($self) = @_;
	return (
		AWS_ACCESS_KEY_ID => $self->access_key,
		AWS_SECRET_ACCESS_KEY => $self->secret_key,
		AWS_DEFAULT_REGION => $self->region,
		AWS_REGION => $self->region,
		AWS_CONFIG_FILE => '/dev/null',
		AWS_SHARED_CREDENTIALS_FILE => '/dev/null',
		AWS_EC2_METADATA_DISABLED => 'true',
		AWS_PAGER => '');
}

# Run s3admin.py COMMAND ARGS against this server.  In list context returns
# (ok, stdout, stderr); in scalar context returns stdout and dies on failure.
# A leading hashref may give { endpoint => URL } (e.g. the fault proxy).
sub s3admin
{
	my ($self, @args) = @_;
	my $opt = ref $args[0] eq 'HASH' ? shift @args : {};
	my @cmd = ($TbdrTest::Daemon::PYTHON, "$SCRIPT_DIR/s3admin.py",
		'--ready', $self->ready_file);
	push @cmd, '--endpoint', $opt->{endpoint} if $opt->{endpoint};
	push @cmd, @args;
	my ($out, $err) = ('', '');
	my $ok;
	{
		local %ENV = %{ TbdrTest::Daemon::python_env() };
		$ok = IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
	}
	return ($ok, $out, $err) if wantarray;
	croak "s3admin.py @args failed: $err" unless $ok;
	return $out;
}

sub create_bucket
{
	my ($self, $bucket) = @_;
	scalar $self->s3admin('mb', $bucket);
	return;
}

# In-progress multipart uploads: list of { key => ..., upload_id => ... }
# (in scalar context, their number).
sub list_uploads
{
	my ($self, $bucket) = @_;
	my $out = $self->s3admin('uploads', $bucket);
	my @uploads;
	for my $line (split /\n/, $out)
	{
		my ($key, $id) = $line =~ /^(.*) (\S+)$/ or next;
		push @uploads, { key => $key, upload_id => $id };
	}
	return @uploads;
}

sub stop
{
	my ($self) = @_;
	$self->{daemon}->stop if $self->{daemon};
	return;
}

1;
