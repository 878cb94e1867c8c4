
# Copyright (c) tbdr authors

=pod

=head1 NAME

TbdrTest::FakeRepo - synthetic repositories (backups at past dates, WAL
objects) for the retention tests, written test-side

=head1 SYNOPSIS

  my $r = TbdrTest::FakeRepo->new("$tmp/repo1");
  $r->backup(time => $t, status => 'complete', wal_start => 10, wal_stop => 11,
             stored_bytes => 1000, parts => 2);
  $r->wal(10);                  # segment number 10 on timeline 1
  $r->file('wal/00000002.history', "...");
  $r->upload($s3, $bucket, $prefix);   # aws s3 cp --recursive
  my $keep = TbdrTest::FakeRepo::expected_keep(\@backups, $now, 7,
               { daily => 3, weekly => 3, monthly => 3 });

=head1 DESCRIPTION

Builds the objects of a repository in a local directory, laid out as
docs/LAYOUT.md says (status objects in the manifest format of
src/core/manifest.h, parts with random bytes, WAL objects with random bytes:
expiry reads neither), then uploads the whole tree with one
C</usr/bin/aws s3 cp --recursive>.  Production code is not involved in
making the past dates.

expected_keep is an independent statement of the retention rules of
docs/RETENTION.md (window, anchor, newest complete backup, daily/weekly/
monthly in UTC), used as the oracle of the tests.

=cut

package TbdrTest::FakeRepo;

use strict;
use warnings;

use File::Path qw(make_path);
use File::Basename qw(dirname);
use IPC::Run ();
use POSIX qw(floor strftime);
use TbdrTest::Daemon;

our $AWS = $ENV{TBDR_AWS} || '/usr/bin/aws';

sub new
{
	my ($class, $dir) = @_;
	make_path($dir);
	return bless { dir => $dir, backups => [] }, $class;
}

sub dir { return $_[0]{dir} }

sub backups { return @{ $_[0]{backups} } }

# Segment number -> 24-hex name on timeline tli.
sub seg_name
{
	my ($n, $tli) = @_;
	return sprintf('%08X%08X%08X', $tli // 1, $n >> 8, $n & 0xFF);
}

sub backup_id
{
	my ($t) = @_;
	return strftime('%Y%m%dT%H%M%SZ', gmtime($t));
}

sub iso
{
	my ($t) = @_;
	return strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($t));
}

sub file
{
	my ($self, $key, $content) = @_;
	my $path = "$self->{dir}/$key";
	make_path(dirname($path));
	open(my $fh, '>:raw', $path) or die "$path: $!";
	print $fh $content;
	close $fh or die;
	return $path;
}

sub random_bytes
{
	my ($n) = @_;
	return join('', map { chr(int(rand(256))) } 1 .. $n);
}

# A status object in the manifest format (src/core/manifest.h).
sub status_json
{
	my ($b, $status) = @_;
	my $q = sub { defined $_[0] ? "\"$_[0]\"" : 'null' };
	my $parts = join(', ',
		map {
			sprintf('{"part": %d, "key": "backups/%s/part-%06d", '
				  . '"plain_bytes": 100, "stored_bytes": 50, "sha256": "%s"}',
				$_, $b->{id}, $_, '0' x 64)
		} 1 .. $b->{parts});
	return sprintf(
		'{"format": 1, "id": "%s", "status": "%s", "label": "fake", "error": %s, '
		  . '"start_time": "%s", "stop_time": %s, "start_lsn": "0/2000028", '
		  . '"stop_lsn": %s, "timeline": 1, "wal_start": %s, "wal_stop": %s, '
		  . '"pg_version": 150000, "system_identifier": "7000000000000000001", '
		  . '"compression": "zstd", "compression_level": 3, "encryption": "none", '
		  . '"key_fingerprint": null, "database_bytes": %d, "stored_bytes": %d, '
		  . '"tablespaces": [], "parts": [%s], "directories": [], "files": [], '
		  . '"checksum_failures": []}' . "\n",
		$b->{id}, $status,
		$status eq 'failed' ? '"fake failure"' : 'null',
		iso($b->{start}),
		$status eq 'running' ? 'null' : $q->(iso($b->{stop})),
		$status eq 'running' ? 'null' : '"0/3000100"',
		$q->(defined $b->{wal_start} ? seg_name($b->{wal_start}) : undef),
		$status eq 'running' ? 'null'
		: $q->(defined $b->{wal_stop} ? seg_name($b->{wal_stop}) : undef),
		$b->{stored_bytes} * 3, $b->{stored_bytes},
		$status eq 'complete' ? $parts : '');
}

# backup(time => start, status => complete|failed|running, wal_start => N,
# wal_stop => N, stored_bytes => N, parts => N, duration => seconds)
sub backup
{
	my ($self, %o) = @_;
	my $b = {
		start => $o{time},
		stop => $o{time} + ($o{duration} // 600),
		status => $o{status} // 'complete',
		wal_start => $o{wal_start},
		wal_stop => $o{wal_stop},
		stored_bytes => $o{stored_bytes} // 1000,
		parts => $o{parts} // 2,
	};
	$b->{id} = backup_id($b->{start});
	my $pre = "backups/$b->{id}";
	$self->file("$pre/started.json", status_json($b, 'running'));
	$self->file("$pre/manifest.json", status_json($b, 'complete'))
	  if $b->{status} eq 'complete';
	$self->file("$pre/failed.json", status_json($b, 'failed'))
	  if $b->{status} eq 'failed';
	if ($b->{status} ne 'running' || $o{parts_when_running})
	{
		$self->file(sprintf('%s/part-%06d', $pre, $_), random_bytes(32 + int(rand(64))))
		  for 1 .. $b->{parts};
	}
	push @{ $self->{backups} }, $b;
	return $b;
}

# A WAL segment object (number n, timeline tli), or with a suffix
# (".partial", ".00000028.backup").
sub wal
{
	my ($self, $n, $tli, $suffix) = @_;
	my $name = seg_name($n, $tli) . ($suffix // '');
	$self->file('wal/' . substr($name, 0, 16) . "/$name", random_bytes(40));
	return $name;
}

sub history
{
	my ($self, $tli) = @_;
	my $name = sprintf('%08X.history', $tli);
	$self->file("wal/$name", "1\t0/3000000\tno recovery target specified\n");
	return $name;
}

# Upload the tree to s3://bucket/prefix/ with the aws CLI.
sub upload
{
	my ($self, $s3, $bucket, $prefix) = @_;
	my ($out, $err) = ('', '');
	my $ok;
	{
		local %ENV = (%{ TbdrTest::Daemon::python_env() }, $s3->aws_env);
		$ok = IPC::Run::run(
			[ $AWS, '--endpoint-url', $s3->endpoint, 's3', 'cp', '--recursive',
			  '--only-show-errors', $self->{dir}, "s3://$bucket/$prefix/" ],
			'<', \undef, '>', \$out, '2>', \$err);
	}
	die "aws s3 cp failed: $err$out" unless $ok;
	return;
}

# ---- the oracle ------------------------------------------------------------

# The "now" of an expiry from its JSON window_start and retention days.
sub _parse_now
{
	my ($window_start, $days) = @_;
	my ($y, $mo, $d, $h, $mi, $s) =
	  $window_start =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/
	  or die "bad window_start $window_start";
	require Time::Local;
	return Time::Local::timegm($s, $mi, $h, $d, $mo - 1, $y) + $days * 86400;
}

sub _day { return floor($_[0] / 86400) }
sub _week { return floor((_day($_[0]) + 3) / 7) }

sub _month
{
	my @t = gmtime($_[0]);
	return ($t[5] + 1900) * 12 + $t[4];
}

# The ids of the complete backups the rules keep (a hash id => 1), and the
# anchor's id.
sub expected_keep
{
	my ($backups, $now, $days, $policy) = @_;
	my @c = sort { $b->{stop} <=> $a->{stop} || $b->{start} <=> $a->{start} }
	  grep { $_->{status} eq 'complete' } @$backups;
	my %keep;
	my $anchor;
	my $window = $now - $days * 86400;
	for my $i (0 .. $#c)
	{
		$keep{ $c[$i]{id} } = 1;
		$anchor = $c[$i]{id};
		last if $c[$i]{stop} <= $window;
	}
	my %fn = (daily => \&_day, weekly => \&_week, monthly => \&_month);
	for my $rule (keys %{ $policy || {} })
	{
		my $n = $policy->{$rule} or next;
		my $f = $fn{$rule};
		my $cur = $f->($now);
		my %newest;
		for my $b (@c)
		{
			my $p = $f->($b->{start});
			next if $p > $cur || $p <= $cur - $n;
			$newest{$p} = $b if !$newest{$p} || $b->{start} > $newest{$p}{start};
		}
		$keep{ $_->{id} } = 1 for values %newest;
	}
	return (\%keep, $anchor);
}

1;
