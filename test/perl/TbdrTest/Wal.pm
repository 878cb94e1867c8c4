
# Copyright (c) tbdr authors

=pod

=head1 NAME

TbdrTest::Wal - helpers of the WAL archiving TAP tests (test/t/03*.pl)

=head1 SYNOPSIS

  use TbdrTest::Wal;

  my $w = TbdrTest::Wal->new(tbdr => $tbdr, tmp => $tmp,
                             settings => { repository => 's3://b/p', ... });
  $node->append_conf('postgresql.conf', $w->conf_lines(archive_parallel => 3));
  my $conf = $w->write_conf('main', s3_endpoint => $url);   # a tbdr.conf
  my ($rc, $out, $err) = $w->run($dir, 'archive-push', '-c', $conf, $path);
  my $names = $w->wal_objects($conf);      # { name => repo-ls entry }
  my @segs = $w->segments($conf);          # stored segment names, sorted
  my @missing = TbdrTest::Wal::gaps(@segs);

=head1 DESCRIPTION

settings are tbdr.* values without the prefix; conf_lines and write_conf
take overrides.  run() runs the tbdr program in directory DIR (undef: the
root directory), as PostgreSQL runs archive_command and restore_command in
the data directory, and returns (exit code, stdout, stderr).  gaps() returns
the segments before which segments are missing (same timeline; 16 MB
segments, as the tests' clusters have).

=cut

package TbdrTest::Wal;

use strict;
use warnings;

use Carp;
use IPC::Run ();
use JSON::PP ();

sub new
{
	my ($class, %o) = @_;
	croak 'tbdr => PATH required' unless $o{tbdr};
	croak 'tmp => DIR required' unless $o{tmp};
	$o{settings} ||= {};
	return bless {%o}, $class;
}

sub conf_lines
{
	my ($self, %s) = @_;
	# No scheduled backups in test clusters unless a test asks: the default
	# '0 2 * * *' (and its catch-up) would start one if a run spans 02:00.
	my %c = (backup_schedule => '', %{ $self->{settings} }, %s);
	return join('', map { "tbdr.$_ = '$c{$_}'\n" } sort keys %c);
}

sub write_conf
{
	my ($self, $name, %s) = @_;
	my $path = "$self->{tmp}/$name.conf";
	open(my $fh, '>', $path) or croak "open $path: $!";
	print $fh $self->conf_lines(%s);
	close $fh or croak "close $path: $!";
	return $path;
}

sub run
{
	my ($self, $dir, @args) = @_;
	my ($out, $err) = ('', '');
	$dir //= '/';
	IPC::Run::run([ $self->{tbdr}, @args ], '<', \undef, '>', \$out,
		'2>', \$err, init => sub { chdir $dir or die "chdir $dir: $!" });
	return ($? >> 8, $out, $err);
}

# Switch $node to a new WAL segment and wait until the one it left is
# archived; returns that segment's name.  A function, not a method.
sub switch_and_wait
{
	my ($node) = @_;
	# The last segment with WAL: the one the switch closes (the one before,
	# if nothing was written since the last switch).  Not the segment of
	# pg_current_wal_lsn() before the switch: at a segment boundary (right
	# after a switch) pg_walfile_name() names the segment that starts there
	# on PostgreSQL 18 (15: the one that ends there), an empty one that the
	# switch does not close.
	my $seg = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal() - 1)');
	$node->poll_query_until('postgres', "SELECT last_archived_wal >= '$seg' FROM pg_stat_archiver")
	  or croak "timed out waiting for $seg to be archived";
	return $seg;
}

# { WAL file name => repo-ls entry } of everything under wal/.
sub wal_objects
{
	my ($self, $conf) = @_;
	my ($rc, $out, $err) = $self->run(undef, 'repo-ls', '--json', '-c', $conf, 'wal/');
	croak "repo-ls failed: $err" if $rc;
	my %names;
	for my $o (@{ JSON::PP->new->decode($out) })
	{
		$names{$1} = $o
		  if $o->{key} =~ m{^wal/(?:[0-9A-F]{16}/)?([0-9A-F]{8,24}(?:\..*)?)$};
	}
	return \%names;
}

# Stored segment names (24 hex digits), sorted.
sub segments
{
	my ($self, $conf) = @_;
	return sort grep { /^[0-9A-F]{24}$/ } keys %{ $self->wal_objects($conf) };
}

# Segment number of a name (16 MB segments: 256 per log file).
sub segno
{
	my ($name) = @_;
	return hex(substr($name, 8, 8)) * 256 + hex(substr($name, 16, 8));
}

sub gaps
{
	my (@segs) = @_;
	my @gaps;
	for my $i (1 .. $#segs)
	{
		next if substr($segs[$i], 0, 8) ne substr($segs[ $i - 1 ], 0, 8);
		push @gaps, $segs[$i] if segno($segs[$i]) != segno($segs[ $i - 1 ]) + 1;
	}
	return @gaps;
}

1;
