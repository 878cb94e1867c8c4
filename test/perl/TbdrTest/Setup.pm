
# Copyright (c) tbdr authors

=pod

=head1 NAME

TbdrTest::Setup - the start every tbdr TAP test shares

=head1 SYNOPSIS

  use TbdrTest::Setup;

  my $tbdr = TbdrTest::Setup::tbdr_program();	# or skip_all
  TbdrTest::Setup::isolate_aws_env();

=head1 DESCRIPTION

tbdr_program returns the tbdr program under test ($TBDR_BIN, else
build/tbdr of this tree) and skips the whole test file when it is not
built.  isolate_aws_env removes every AWS_* variable and PGDATA from the
environment and points the shared credentials file at /dev/null, so that
nothing from the machine running the tests reaches tbdr: each test passes
its credentials itself.  root is the top of the tree.

=cut

package TbdrTest::Setup;

use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;
use Test::More;

sub root
{
	return File::Spec->rel2abs(dirname(__FILE__) . '/../../..');
}

sub tbdr_program
{
	my $tbdr = $ENV{TBDR_BIN} || root() . '/build/tbdr';
	plan skip_all => "no tbdr program at $tbdr (run make)" unless -x $tbdr;
	return $tbdr;
}

sub isolate_aws_env
{
	delete $ENV{$_} for grep { /^AWS_/ || $_ eq 'PGDATA' } keys %ENV;
	$ENV{AWS_SHARED_CREDENTIALS_FILE} = '/dev/null';
	return;
}

1;
