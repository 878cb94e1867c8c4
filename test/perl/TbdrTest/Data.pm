
# Copyright (c) tbdr authors

=pod

=head1 NAME

TbdrTest::Data - test data files for tbdr's TAP tests

=head1 SYNOPSIS

  use TbdrTest::Data;

  my $path = TbdrTest::Data::random_file("$dir/big", 100 * 1024 * 1024);
  my $hex = TbdrTest::Data::sha256_file($path);

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

sub sha256_file
{
	my ($path) = @_;
	return Digest::SHA->new(256)->addfile($path, 'b')->hexdigest;
}

1;
