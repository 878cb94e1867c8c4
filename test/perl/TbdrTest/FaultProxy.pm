
# Copyright (c) tbdr authors

=pod

=head1 NAME

TbdrTest::FaultProxy - fault-injecting HTTP proxy for tbdr's TAP tests

=head1 SYNOPSIS

  use TbdrTest::FaultProxy;

  my $proxy = TbdrTest::FaultProxy->start(target => $s3->endpoint);
  $proxy->endpoint;     # http://127.0.0.1:PORT: point the client here
  $proxy->inject(mode => 'status', status => 503, s3_code => 'SlowDown',
                 count => 2);
  $proxy->inject(mode => 'reset', after_bytes => 0, method => 'PUT');
  $proxy->inject(mode => 'truncate', path_regex => '^/bucket/key');
  $proxy->inject(mode => 'delay', seconds => 3, duration => 10);
  my $s = $proxy->stats;  # { requests =>, faulted =>, by_method => {...} }
  $proxy->clear;          # drop all pending rules
  $proxy->reset_stats;
  $proxy->stop;           # also done by DESTROY and at END

=head1 DESCRIPTION

Runs test/faultproxy/tbdr_faultproxy.py (see its header for every rule
field) in a fresh directory; its log is DIR/proxy.log.  Options of start:
target => URL (required), port => N (default 0), dir => DIR, timeout => S.

=cut

package TbdrTest::FaultProxy;

use strict;
use warnings;

use Carp;
use Cwd ();
use File::Basename ();
use HTTP::Tiny;
use JSON::PP ();
use TbdrTest::Daemon;

my $HERE = File::Basename::dirname(Cwd::abs_path(__FILE__));
our $SCRIPT = $ENV{TBDR_FAULTPROXY}
  || Cwd::abs_path("$HERE/../../faultproxy/tbdr_faultproxy.py");

sub start
{
	my ($class, %o) = @_;
	my $target = $o{target} or croak 'target => URL required';
	my $dir = $o{dir} || TbdrTest::Daemon::new_dir('faultproxy');
	mkdir $dir unless -d $dir;
	my $daemon = TbdrTest::Daemon->spawn(
		name => 'tbdr_faultproxy.py',
		dir => $dir,
		log => "$dir/proxy.log",
		argv => [
			$TbdrTest::Daemon::PYTHON, $SCRIPT,
			'--target', $target,
			'--dir', $dir,
			'--port', $o{port} || 0
		],
		timeout => $o{timeout} || 30);
	my $r = $daemon->ready;
	return bless {
		daemon => $daemon,
		target => $target,
		port => $r->{port},
		control_port => $r->{control_port},
		endpoint => "http://127.0.0.1:$r->{port}",
		control => "http://127.0.0.1:$r->{control_port}",
		http => HTTP::Tiny->new(timeout => 30),
		json => JSON::PP->new->canonical,
	}, $class;
}

sub endpoint { return $_[0]{endpoint} }
sub port { return $_[0]{port} }
sub control_port { return $_[0]{control_port} }
sub target { return $_[0]{target} }
sub pid { return $_[0]{daemon}->pid }
sub dir { return $_[0]{daemon}->dir }
sub log_file { return $_[0]{daemon}->log_file }

sub _call
{
	my ($self, $method, $path, $body) = @_;
	my %req;
	if (defined $body)
	{
		$req{content} = $self->{json}->encode($body);
		$req{headers} = { 'Content-Type' => 'application/json' };
	}
	my $res =
	  $self->{http}->request($method, $self->{control} . $path, \%req);
	croak "fault proxy $method $path: $res->{status} $res->{content}"
	  unless $res->{success};
	return JSON::PP->new->decode($res->{content});
}

# Send numeric fields as JSON numbers.
sub _rule
{
	my (%rule) = @_;
	for my $k (qw(status seconds after_bytes count duration))
	{
		$rule{$k} += 0 if defined $rule{$k};
	}
	return \%rule;
}

# inject(%rule) queues one rule; inject(\%rule, \%rule...) several.
sub inject
{
	my ($self, @args) = @_;
	my $body =
	  ref $args[0] eq 'HASH'
	  ? [ map { _rule(%$_) } @args ]
	  : _rule(@args);
	return $self->_call('POST', '/fault', $body);
}

sub clear { return $_[0]->_call('POST', '/clear', {}) }
sub stats { return $_[0]->_call('GET', '/stats') }
sub rules { return $_[0]->_call('GET', '/rules') }
sub reset_stats { return $_[0]->_call('POST', '/stats/reset', {}) }

sub stop
{
	my ($self) = @_;
	$self->{daemon}->stop if $self->{daemon};
	return;
}

1;
