
# Copyright (c) tbdr authors

=pod

=head1 NAME

TbdrTest::Daemon - start, await and stop one helper process (by its PID)

=head1 DESCRIPTION

Shared by TbdrTest::S3Server and TbdrTest::FaultProxy.  A daemon is started
with fork+exec, its stdout and stderr appended to a log file in its
directory; start waits for DIR/ready.json.  stop sends TERM to exactly the
PID it started, then KILL if it has not exited after a grace period, and
reaps it.  Objects stop their process in DESTROY and, for any still alive,
in an END block; a forked child of the test never stops its parent's
daemons.

=cut

package TbdrTest::Daemon;

use strict;
use warnings;

use Carp;
use File::Spec;
use File::Temp ();
use JSON::PP ();
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Time::HiRes qw(usleep time);

our $PYTHON = $ENV{TBDR_PYTHON} || '/usr/bin/python3';

my @live;    # weak references to every started daemon

# A fresh directory for one daemon: PostgreSQL::Test::Utils::tempdir when
# that module is in use (under $TESTDIR/tmp_check), else a File::Temp
# directory under $TESTDIR or the system temp dir, removed at exit.
sub new_dir
{
	my ($prefix) = @_;
	if ($INC{'PostgreSQL/Test/Utils.pm'})
	{
		return PostgreSQL::Test::Utils::tempdir($prefix);
	}
	my $base =
	  ($ENV{TESTDIR} && -d $ENV{TESTDIR} && -w $ENV{TESTDIR})
	  ? $ENV{TESTDIR}
	  : File::Spec->tmpdir;
	return File::Temp::tempdir("${prefix}_XXXXXX", DIR => $base,
		CLEANUP => !$ENV{TBDR_KEEP_TMP});
}

# Environment for Debian's /usr/bin/python3: a pyenv or virtualenv
# PYTHONHOME/PYTHONPATH would hide Swift and botocore from it.
sub python_env
{
	my %env = %ENV;
	delete @env{qw(PYTHONHOME PYTHONPATH VIRTUAL_ENV PYTHONSTARTUP)};
	$env{PYTHONDONTWRITEBYTECODE} = 1;
	return \%env;
}

sub read_json
{
	my ($path) = @_;
	open(my $fh, '<', $path) or return undef;
	local $/;
	my $text = <$fh>;
	close $fh;
	my $data = eval { JSON::PP->new->decode($text) };
	return $data;
}

sub tail_file
{
	my ($path, $lines) = @_;
	open(my $fh, '<', $path) or return "(no $path)";
	my @all = <$fh>;
	close $fh;
	splice(@all, 0, @all - $lines) if @all > $lines;
	return join('', @all);
}

# TbdrTest::Daemon->spawn(name => ..., dir => ..., argv => [...],
#                         log => FILE, timeout => SECONDS)
sub spawn
{
	my ($class, %o) = @_;
	my $dir = $o{dir} or croak 'dir required';
	my $log = $o{log};
	my $ready_path = "$dir/ready.json";
	unlink $ready_path;

	my $env = python_env();
	my $pid = fork;
	croak "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		# Plain fd operations: the test's STDOUT/STDERR may be tied.
		my $null = POSIX::open('/dev/null', POSIX::O_RDONLY());
		POSIX::dup2($null, 0) if defined $null;
		my $fd = POSIX::open($log,
			POSIX::O_WRONLY() | POSIX::O_APPEND() | POSIX::O_CREAT(), 0644);
		if (defined $fd)
		{
			POSIX::dup2($fd, 1);
			POSIX::dup2($fd, 2);
		}
		%ENV = %$env;
		{
			no warnings 'exec';
			exec { $o{argv}[0] } @{ $o{argv} };
		}
		POSIX::_exit(127);
	}

	my $self = bless {
		name => $o{name},
		pid => $pid,
		owner => $$,
		dir => $dir,
		log => $log,
	}, $class;
	push @live, $self;
	weaken($live[-1]);

	my $deadline = time + ($o{timeout} || 60);
	while (1)
	{
		my $ready = -e $ready_path ? read_json($ready_path) : undef;
		if ($ready)
		{
			$self->{ready} = $ready;
			last;
		}
		my $w = waitpid($pid, WNOHANG);
		if ($w == $pid)
		{
			my $status = $?;
			delete $self->{pid};
			croak "$o{name} exited (status $status) before it was ready; "
			  . "last lines of $log:\n"
			  . tail_file($log, 30);
		}
		if (time > $deadline)
		{
			$self->stop;
			croak "$o{name} not ready after "
			  . ($o{timeout} || 60)
			  . " s; last lines of $log:\n"
			  . tail_file($log, 30);
		}
		usleep(20_000);
	}
	return $self;
}

sub pid { return $_[0]{pid} }
sub dir { return $_[0]{dir} }
sub ready { return $_[0]{ready} }
sub log_file { return $_[0]{log} }

# Stop exactly the process we started: TERM, up to $grace seconds, KILL.
sub stop
{
	my ($self, $grace) = @_;
	my $pid = $self->{pid};
	return unless $pid;
	return if $self->{owner} != $$;    # not ours: we are a forked child
	local $?;
	$grace //= 10;
	kill 'TERM', $pid;
	my $deadline = time + $grace;
	while (time < $deadline)
	{
		my $w = waitpid($pid, WNOHANG);
		last if $w == $pid || $w == -1;
		usleep(20_000);
	}
	if (waitpid($pid, WNOHANG) == 0)
	{
		kill 'KILL', $pid;
		waitpid($pid, 0);
	}
	delete $self->{pid};
	return;
}

sub DESTROY
{
	my ($self) = @_;
	$self->stop if $self->{pid};
}

END
{
	for my $d (@live)
	{
		$d->stop if $d && $d->{pid};
	}
}

1;
