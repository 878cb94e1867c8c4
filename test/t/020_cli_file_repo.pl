# The tbdr program against a file:// repository: repo-put/ls/get/rm round
# trip, tbdr check (passing and failing), configuration file and --set
# precedence, configuration errors and usage errors, tbdr settings.
#
# Uses build/tbdr of this tree, or $TBDR_BIN (the installed tbdr) if set.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Temp qw(tempdir);
use File::Path qw(make_path);
use IPC::Run qw(run);
use Test::More;
use TbdrTest::Setup;

my $tbdr = TbdrTest::Setup::tbdr_program();

TbdrTest::Setup::isolate_aws_env();

my $tmp = tempdir('tbdr-020-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $repo = "$tmp/repo";
mkdir $repo or die "mkdir $repo: $!";

# Run tbdr; returns (exit code, stdout, stderr).
sub tbdr
{
	my ($args, %opt) = @_;
	my ($out, $err) = ('', '');
	my $in = defined $opt{stdin} ? $opt{stdin} : '';
	run([ $tbdr, @$args ], '<', \$in, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

sub slurp
{
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "open $path: $!";
	local $/;
	my $data = <$fh>;
	close $fh;
	return $data;
}

sub spew
{
	my ($path, $data) = @_;
	open(my $fh, '>:raw', $path) or die "open $path: $!";
	print $fh $data;
	close $fh or die "close $path: $!";
}

my @repo_opt = ('--set', "repository=file://$repo");

# --- round trip --------------------------------------------------------------
my $big = join('', map { chr(int(rand(256))) } 1 .. 65536) x 40;    # 2.5 MiB
spew("$tmp/big.bin", $big);
spew("$tmp/empty.bin", '');

my ($rc, $out, $err) = tbdr([ 'repo-put', @repo_opt, "$tmp/big.bin", 'dir/sub/big.bin' ]);
is($rc, 0, 'repo-put of a 2.5 MiB file') or diag($err);
is($err, '', 'repo-put prints nothing when stderr is not a terminal');
($rc, $out, $err) = tbdr([ 'repo-put', @repo_opt, "$tmp/empty.bin", 'dir/empty' ]);
is($rc, 0, 'repo-put of an empty file') or diag($err);
($rc, $out, $err) = tbdr([ 'repo-put', @repo_opt, '-', 'stdin.txt' ], stdin => "from stdin\n");
is($rc, 0, 'repo-put from stdin') or diag($err);

($rc, $out, $err) = tbdr([ 'repo-ls', @repo_opt ]);
is($rc, 0, 'repo-ls') or diag($err);
my @lines = split /\n/, $out;
is(scalar(@lines), 3, 'repo-ls lists three objects');
like($lines[0], qr{^dir/empty\t0\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$}, 'repo-ls line: key, size, mtime');
like($lines[1], qr{^dir/sub/big\.bin\t2621440\t}, 'repo-ls gives the size');
like($lines[2], qr{^stdin\.txt\t11\t}, 'repo-ls in key order');

($rc, $out, $err) = tbdr([ 'repo-ls', @repo_opt, 'dir/s' ]);
is($out =~ tr/\n//, 1, 'repo-ls with a prefix');
like($out, qr{^dir/sub/big\.bin\t}, 'repo-ls with a prefix: the right object');

($rc, $out, $err) = tbdr([ 'repo-ls', @repo_opt, '--json', 'dir/' ]);
is($rc, 0, 'repo-ls --json');
like($out, qr/^\[\n  \{"key": "dir\/empty", "size": 0, "mtime": "[^"]+", "etag": null\},\n/,
	'repo-ls --json output');

($rc, $out, $err) = tbdr([ 'repo-get', @repo_opt, 'dir/sub/big.bin', "$tmp/big.back" ]);
is($rc, 0, 'repo-get to a file') or diag($err);
ok(slurp("$tmp/big.back") eq $big, 'repo-get: byte-identical');
opendir(my $dh, $tmp) or die;
is(scalar(grep { /\.tmp\./ } readdir($dh)), 0, 'repo-get leaves no temporary file');
closedir $dh;

($rc, $out, $err) = tbdr([ 'repo-get', @repo_opt, 'dir/sub/big.bin', '-' ]);
is($rc, 0, 'repo-get to stdout');
ok($out eq $big, 'repo-get to stdout: byte-identical');
($rc, $out, $err) = tbdr([ 'repo-get', @repo_opt, 'dir/empty', "$tmp/empty.back" ]);
ok($rc == 0 && -z "$tmp/empty.back", 'repo-get of an empty object');

($rc, $out, $err) = tbdr([ 'repo-get', @repo_opt, 'no/such', "$tmp/x" ]);
is($rc, 1, 'repo-get of a missing key: exit 1');
like($err, qr/^tbdr: error: object "no\/such" not found/m, 'repo-get of a missing key: message');
ok(!-e "$tmp/x", 'repo-get of a missing key creates no file');

($rc, $out, $err) = tbdr([ 'repo-put', @repo_opt, "$tmp/big.bin", '../outside' ]);
is($rc, 1, 'repo-put with a ".." key fails');
like($err, qr/invalid object key/, 'repo-put with a ".." key: message');

($rc, $out, $err) = tbdr([ 'repo-rm', @repo_opt, 'dir/sub/big.bin', 'stdin.txt', 'never/existed' ]);
is($rc, 0, 'repo-rm (one key missing)') or diag($err);
($rc, $out, $err) = tbdr([ 'repo-ls', @repo_opt ]);
like($out, qr{\Adir/empty\t0\t[^\n]+\n\z}, 'repo-rm removed the objects') or diag($out);
($rc, $out, $err) = tbdr([ 'repo-rm', @repo_opt, 'dir/empty' ]);
($rc, $out, $err) = tbdr([ 'repo-ls', @repo_opt ]);
is($out, '', 'repository empty');

# --- check ---------------------------------------------------------------------
($rc, $out, $err) = tbdr([ 'check', @repo_opt ]);
is($rc, 0, 'check passes on a writable directory') or diag($out . $err);
for my $step (qw(configuration credentials list clock write read delete))
{
	like($out, qr/^ok: $step: /m, "check: step $step ok");
}
like($out, qr/^all checks passed$/m, 'check: summary');
($rc, $out, $err) = tbdr([ 'repo-ls', @repo_opt ]);
is($out, '', 'check leaves no probe object');
ok(!-e "$repo/.tbdr-check", 'check leaves no directory behind');

($rc, $out, $err) = tbdr([ 'check', '--set', "repository=file://$tmp/missing" ]);
is($rc, 1, 'check with a missing repository directory: exit 1');
like($out, qr{^FAILED: list: .*"$tmp/missing".*No such file or directory.*HINT: Create the directory}m,
	'check with a missing directory: clear message and hint');
unlike($out, qr/^ok: write/m, 'check stops at the first failure');

SKIP:
{
	skip 'root ignores directory permissions', 3 if $> == 0;
	my $ro = "$tmp/readonly";
	mkdir $ro or die;
	chmod 0555, $ro or die;
	($rc, $out, $err) = tbdr([ 'check', '--set', "repository=file://$ro" ]);
	is($rc, 1, 'check with an unwritable repository directory: exit 1');
	like($out, qr/^ok: list: /m, 'unwritable directory: listing works');
	like($out, qr/^FAILED: write: .*Permission denied.*HINT: /m,
		'unwritable directory: the write step fails with a hint');
	chmod 0755, $ro;
}

($rc, $out, $err) = tbdr(['check']);
is($rc, 1, 'check without a repository: exit 1');
like($out, qr/^FAILED: configuration: tbdr.repository is not set.*HINT: /m,
	'check without a repository: says so');

# --- configuration file and --set ---------------------------------------------
my $repo_a = "$tmp/repo_a";
my $repo_b = "$tmp/repo_b";
make_path($repo_a, $repo_b);
spew("$repo_a/in_a", 'a');
spew("$repo_b/in_b", 'b');
spew("$tmp/a.conf", "# tbdr settings\ntbdr.repository = 'file://$repo_a'\nshared_buffers = 128MB\n");

($rc, $out, $err) = tbdr([ 'repo-ls', '-c', "$tmp/a.conf" ]);
is($out, "in_a\t1\t" . (split /\t/, $out)[2], 'repository from the configuration file')
  or diag($err);
($rc, $out, $err) = tbdr([ 'repo-ls', '-c', "$tmp/a.conf", '--set', "tbdr.repository=file://$repo_b" ]);
like($out, qr/^in_b\t/, '--set overrides the file');
($rc, $out, $err) = tbdr([ '--set', "tbdr.repository=file://$repo_b", 'repo-ls', "--config=$tmp/a.conf" ]);
like($out, qr/^in_b\t/, '--set overrides the file whatever the order on the command line');

{
	local $ENV{PGDATA} = $tmp;
	spew("$tmp/tbdr.conf", "tbdr.repository = 'file://$repo_b'\n");
	($rc, $out, $err) = tbdr(['repo-ls']);
	like($out, qr/^in_b\t/, 'default configuration file $PGDATA/tbdr.conf');
	($rc, $out, $err) = tbdr([ 'repo-ls', '-c', "$tmp/a.conf" ]);
	like($out, qr/^in_a\t/, '-c replaces $PGDATA/tbdr.conf');
	unlink "$tmp/tbdr.conf";
}

spew("$tmp/bad.conf", "tbdr.repository = 'file://$repo_a'\ntbdr.s3_timeout = 'soon'\n");
($rc, $out, $err) = tbdr([ 'repo-ls', '-c', "$tmp/bad.conf" ]);
is($rc, 1, 'bad value in the configuration file: exit 1');
like($err, qr/^tbdr: error: .*tbdr\.s3_timeout.*line 2/m,
	'bad value: the error names the setting and the line');
($rc, $out, $err) = tbdr([ 'check', '-c', "$tmp/bad.conf" ]);
like($out, qr/^FAILED: configuration: .*tbdr\.s3_timeout.*line 2/m, 'check reports the bad setting');

($rc, $out, $err) = tbdr([ 'repo-ls', '--set', 's3_timeout=soon', @repo_opt ]);
is($rc, 1, 'bad --set value: exit 1');
like($err, qr/tbdr\.s3_timeout/, 'bad --set value: names the setting');

($rc, $out, $err) = tbdr([ 'repo-ls', '-c', "$tmp/no-such.conf" ]);
is($rc, 1, 'missing configuration file: exit 1');
like($err, qr/no-such\.conf/, 'missing configuration file: named');

($rc, $out, $err) = tbdr(['repo-ls']);
is($rc, 1, 'no repository configured: exit 1');
like($err, qr/tbdr\.repository is not set.*\nHINT: /, 'no repository: error with a hint');

# --- usage errors ----------------------------------------------------------------
for my $case (
	[ [], 'no command' ],
	[ ['frobnicate'], 'unknown command' ],
	[ [ 'repo-ls', '--frob' ], 'unknown option' ],
	[ [ 'repo-get', 'only-key' ], 'missing argument' ],
	[ [ 'repo-put', 'a', 'b', 'c' ], 'too many arguments' ],
	[ ['repo-rm'], 'repo-rm without keys' ],
	[ [ 'check', 'extra' ], 'check with an argument' ],
	[ [ 'repo-ls', '--set', 'novalue' ], '--set without =' ],
	[ [ 'repo-ls', '--json', '-c' ], '-c without a file' ])
{
	my ($args, $name) = @$case;
	($rc, $out, $err) = tbdr($args);
	is($rc, 2, "usage error ($name): exit 2");
	like($err, qr/Usage: tbdr/, "usage error ($name): usage message");
}

($rc, $out, $err) = tbdr(['--help']);
ok($rc == 0 && $out =~ /Exit status:/ && $out =~ /repo-put/, '--help lists commands and exit codes');
($rc, $out, $err) = tbdr([ 'repo-get', '--help' ]);
ok($rc == 0 && $out =~ /tbdr repo-get \[OPTION\]\.\.\. KEY FILE/, 'command --help');
($rc, $out, $err) = tbdr(['--version']);
like($out, qr/^tbdr \d/, '--version');

# --- tbdr settings: the effective values, secrets masked ---------------------
{
	my $secret = 'wJalrXUtnFEMI-not-shown-42';
	spew("$tmp/settings.conf", "tbdr.s3_timeout = '2min'\ntbdr.s3_secret_access_key = '$secret'\n");
	($rc, $out, $err) = tbdr([ 'settings', '-c', "$tmp/settings.conf", '--set', 's3_parallel=7',
		@repo_opt ]);
	is($rc, 0, 'tbdr settings') or diag($err);
	like($out, qr/^# effective tbdr\.\* settings: defaults, configuration file "\Q$tmp\E\/settings\.conf"/m,
		'settings: says where they come from');
	like($out, qr/^tbdr\.repository = 'file:\/\/\Q$repo\E'$/m, 'settings: --set value');
	like($out, qr/^tbdr\.s3_timeout = '120s'$/m, 'settings: file value, normalized');
	like($out, qr/^tbdr\.s3_parallel = '7'$/m, 'settings: --set beats the default');
	like($out, qr/^tbdr\.s3_secret_access_key = '\*\*\*\*\*\*\*\*'$/m, 'settings: secret masked');
	unlike($out . $err, qr/\Q$secret\E/, 'settings: the secret is never printed');
	like($out, qr/^tbdr\.s3_session_token = ''$/m, 'settings: an unset secret shows empty');
	($rc, $out, $err) = tbdr([ 'settings', '--markdown' ]);
	ok($rc == 0 && $out =~ /^### tbdr\.repository$/m, 'settings --markdown: the reference');
	($rc, $out, $err) = tbdr([ 'settings', '--set', 's3_timeout=forever' ]);
	is($rc, 1, 'settings with a bad value: exit 1');
	like($err, qr/tbdr\.s3_timeout/, 'settings with a bad value: names the setting');
}

done_testing();
