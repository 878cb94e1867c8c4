# docs/CLI.md documents every command of the tbdr program and every option
# of each command, as the program itself lists them (tbdr --help and
# tbdr COMMAND --help), so that the reference cannot fall behind the code.
#
# Uses build/tbdr of this tree, or $TBDR_BIN (the installed tbdr) if set.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run qw(run);
use Test::More;
use TbdrTest::Setup;

my $root = TbdrTest::Setup::root();
my $tbdr = TbdrTest::Setup::tbdr_program();

sub help
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	run([ $tbdr, @args, '--help' ], '<', \undef, '>', \$out, '2>', \$err);
	is($? >> 8, 0, "tbdr @args --help exits 0") or diag($err);
	return $out;
}

open(my $fh, '<', "$root/docs/CLI.md") or die "docs/CLI.md: $!";
my $doc = do { local $/; <$fh> };
close $fh;

# sections "## tbdr COMMAND" up to the next "## "
my %section;
while ($doc =~ /^## tbdr (\S+)\n(.*?)(?=^## |\z)/msg)
{
	$section{$1} = $2;
}

my $top = help();
my ($list) = $top =~ /^Commands:\n(.*?)\n\n/ms;
my @commands = map { /^  (\S+)/ ? $1 : () } split /\n/, $list // '';
cmp_ok(scalar @commands, '>=', 8, 'tbdr --help lists the commands');

for my $cmd (@commands)
{
	ok(exists $section{$cmd}, "docs/CLI.md has a section for tbdr $cmd")
	  or next;
	like($doc, qr/\[`\Q$cmd\E`\]\(#tbdr-\Q$cmd\E\)/, "tbdr $cmd is in the table of commands");
	my $help = help($cmd);
	my ($own) = $help =~ /^Options:\n(.*?)(?:\n\n|\z)/ms;
	for my $opt (($own // '') =~ /(--[a-z][a-z-]*)/g)
	{
		like($section{$cmd}, qr/`\Q$opt\E[`=\s]/,
			"docs/CLI.md documents tbdr $cmd $opt");
	}
}

# and documents no command the program does not have
for my $cmd (sort keys %section)
{
	ok((grep { $_ eq $cmd } @commands), "tbdr $cmd (documented) exists");
}

done_testing();
