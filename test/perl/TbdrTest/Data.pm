
# Copyright (c) tbdr authors

=pod

=head1 NAME

TbdrTest::Data - test data files for tbdr's TAP tests

=head1 SYNOPSIS

  use TbdrTest::Data;

  my $path = TbdrTest::Data::random_file("$dir/big", 100 * 1024 * 1024);
  my $hex = TbdrTest::Data::sha256_file($path);
  my $key = TbdrTest::Data::key_file("$dir/key", 'a1' x 32);

=head1 DESCRIPTION

random_file writes SIZE bytes from /dev/urandom to PATH (incompressible, so
that every byte goes over the wire) and returns PATH.  sha256_file returns
the hex SHA-256 of a file, read in binary.

=cut

package TbdrTest::Data;

use strict;
use warnings;

use Digest::SHA ();

my $MB = 1024 * 1024;

sub random_file
{
	my ($path, $size) = @_;
	open(my $in, '<:raw', '/dev/urandom') or die "/dev/urandom: $!";
	open(my $fh, '>:raw', $path) or die "$path: $!";
	my $left = $size;
	while ($left > 0)
	{
		my $n = read($in, my $buf, $left > $MB ? $MB : $left);
		die 'short read from /dev/urandom' unless $n;
		print $fh $buf;
		$left -= $n;
	}
	close $fh or die "$path: $!";
	close $in;
	return $path;
}

# An encryption key file (64 hex digits, mode 0600) at path; returns path.
sub key_file
{
	my ($path, $hex) = @_;
	open(my $kf, '>', $path) or die "$path: $!";
	print $kf "$hex\n";
	close $kf or die "$path: $!";
	chmod 0600, $path or die "$path: $!";
	return $path;
}

sub sha256_file
{
	my ($path) = @_;
	return Digest::SHA->new(256)->addfile($path, 'b')->hexdigest;
}

1;
