# A repository forged by someone with write access to the bucket but without
# the encryption key (issue 12; docs/FORMAT.md, threat model):
#  - an unencrypted backup (taken by the attacker's own cluster with tbdr,
#    its postgresql.auto.conf carrying an archive_command) copied into an
#    encrypted repository is refused by restore, verify and list, naming the
#    object, and nothing is written; with the migration opt-in
#    tbdr.allow_unauthenticated_reads it restores (with a warning), which
#    shows that the forgery is a real backup;
#  - an unencrypted WAL segment in place of a genuine one is refused by
#    verify and archive-get, and pg_wal gets nothing;
#  - an unencrypted timeline history file (built here from the public
#    format) is refused by list and restore;
#  - an encrypted segment copied under another segment's name is refused by
#    verify and archive-get, and recovery of a restored backup stops at it
#    instead of ending there and promoting;
#  - a backup part copied under another part's name is refused by verify
#    and restore;
#  - with every forgery removed, verify and restore succeed again.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use Digest::SHA qw(sha256);
use File::Temp qw(tempdir);
use IPC::Run qw(run);
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TbdrTest::Data;
use TbdrTest::S3Server;
use TbdrTest::Wal;
use TbdrTest::Setup;

my $tbdr = TbdrTest::Setup::tbdr_program();

TbdrTest::Setup::isolate_aws_env();

my $tmp = tempdir('tbdr-052-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bucket = 'tbdr-forged';
my $s3 = TbdrTest::S3Server->start(buckets => [$bucket]);
my $json = JSON::PP->new;

my $key = TbdrTest::Data::key_file("$tmp/key", 'a5' x 32);
my $w = TbdrTest::Wal->new(tbdr => $tbdr, tmp => $tmp, settings => {
	repository => "s3://$bucket/victim",
	s3_endpoint => $s3->endpoint,
	s3_access_key_id => $s3->access_key,
	s3_secret_access_key => $s3->secret_key,
	s3_region => 'us-east-1',
	s3_uri_style => 'path',
	s3_max_retries => 2,
	s3_timeout => 20,
	backup_part_size => 1 });
my $conf = $w->write_conf('victim', encryption_key_file => $key);
my $conf_optin = $w->write_conf('optin', encryption_key_file => $key,
	allow_unauthenticated_reads => 'on');
# The attacker's credentials can write the bucket; the attacker has no key.
my $conf_evil = $w->write_conf('attacker', repository => "s3://$bucket/attacker");

# Run tbdr in directory $dir (undef: /); returns (exit code, stdout, stderr).
sub tbdr_in { my ($dir, @args) = @_; return $w->run($dir, @args) }
sub tbdr { return $w->run(undef, @_) }

sub switch_and_wait { return TbdrTest::Wal::switch_and_wait(@_) }

# A cluster that archives with tbdr, with these tbdr settings.
sub archiving_node
{
	my ($name, %settings) = @_;
	my $n = PostgreSQL::Test::Cluster->new($name);
	$n->init(allows_streaming => 1);
	$n->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tbdr'
archive_mode = on
archive_library = 'tbdr'
} . $w->conf_lines(%settings));
	$n->start;
	$n->safe_psql('postgres', 'CREATE EXTENSION tbdr');
	return $n;
}

sub wal_key { my ($seg) = @_; return 'wal/' . substr($seg, 0, 16) . "/$seg" }

# The segment after $seg (16 MB segments: 256 per log file).
sub next_seg
{
	my ($seg) = @_;
	my ($tli, $log, $n) = map { hex } unpack('A8 A8 A8', $seg);
	($log, $n) = $n == 255 ? ($log + 1, 0) : ($log, $n + 1);
	return sprintf('%08X%08X%08X', $tli, $log, $n);
}

# Download object $k to a file of its own (every call a new file).
my $nget = 0;
sub get_obj
{
	my ($cf, $k) = @_;
	my $f = "$tmp/obj" . ++$nget . '.' . ($k =~ tr{/}{_}r);
	my ($rc, $out, $err) = tbdr('repo-get', '-c', $cf, $k, $f);
	die "repo-get $k: $err" if $rc != 0;
	return $f;
}

sub put_obj
{
	my ($cf, $file, $k) = @_;
	my ($rc, $out, $err) = tbdr('repo-put', '-c', $cf, $file, $k);
	die "repo-put $k: $err" if $rc != 0;
	return;
}

sub rm_obj
{
	my ($cf, $k) = @_;
	my ($rc, $out, $err) = tbdr('repo-rm', '-c', $cf, $k);
	die "repo-rm $k: $err" if $rc != 0;
	return;
}

sub ls_keys
{
	my ($cf, $prefix) = @_;
	my ($rc, $out, $err) = tbdr('repo-ls', '-c', $cf, $prefix);
	die "repo-ls $prefix: $err" if $rc != 0;
	return map { (split /\t/)[0] } split /\n/, $out;
}

sub dir_entries
{
	my ($dir) = @_;
	opendir(my $dh, $dir) or return ();
	my @e = sort grep { $_ ne '.' && $_ ne '..' } readdir $dh;
	closedir $dh;
	return @e;
}

# An unencrypted object in tbdr's public format (docs/FORMAT.md): what
# anyone can write without the key.
sub plain_object
{
	my ($content) = @_;
	my $header = 'TBDR' . pack('C4', 2, 0, 0, 0) . ("\0" x 40);
	return $header . $content . 'TEND' . pack('Q>', length $content) . sha256($content);
}

# --- the victim: an encrypted repository ---------------------------------------
my $node = archiving_node('victim', encryption_key_file => $key);
$node->safe_psql('postgres',
	"CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 100000) g");
my $b1 = $node->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
like($b1, qr/^\d{8}T\d{6}Z$/, "encrypted backup $b1");
my $last = switch_and_wait($node);
$node->safe_psql('postgres', "INSERT INTO t VALUES (0, 'after the backup')");
$last = switch_and_wait($node);
$node->stop;

my ($rc, $out, $err) = tbdr('verify', '-c', $conf, $b1);
is($rc, 0, "the genuine repository verifies") or diag "$out$err";
($rc, $out, $err) = tbdr('list', '-c', $conf, '--json');
my ($lb1) = grep { $_->{id} eq $b1 } @{ ($rc == 0 && $json->decode($out))->{backups} || [] };
ok($lb1 && $lb1->{wal_stop} && $lb1->{wal_stop} lt $last, "$b1 ends at $lb1->{wal_stop}, before the last segment $last")
  or diag "$out$err";
my $ws = $lb1->{wal_stop};
# the manifest is encrypted: its part list comes from the repository listing
my @parts = sort grep { m{/part-\d+$} } ls_keys($conf, "backups/$b1/");
cmp_ok(scalar @parts, '>', 1, "$b1 has several parts (" . scalar(@parts) . ')');

# --- the attacker: an unencrypted backup of a cluster of their own -------------
my $evil = archiving_node('attacker', repository => "s3://$bucket/attacker");
# only written to postgresql.auto.conf (no reload): what a restore would run
$evil->safe_psql('postgres', "ALTER SYSTEM SET archive_library = ''");
$evil->safe_psql('postgres', "ALTER SYSTEM SET archive_command = 'touch $tmp/pwned'");
my $be = $evil->safe_psql('postgres', 'SELECT tbdr_backup_now(wait => true)');
like($be, qr/^\d{8}T\d{6}Z$/, "the attacker's unencrypted backup $be");
my $evil_seg = switch_and_wait($evil);
$evil->stop;

# Copied into the victim's repository, as the attacker would.
my @forged = ls_keys($conf_evil, "backups/$be/");
ok((grep { m{/manifest\.json$} } @forged) && (grep { m{/part-} } @forged),
	'the forged backup has a manifest and parts');
put_obj($conf, get_obj($conf_evil, $_), $_) for @forged;

my $target = "$tmp/r_forged";
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--as', 'copy', '--pgdata', $target, '--backup', $be);
isnt($rc, 0, 'restore of the forged unencrypted backup: refused');
like($err, qr{"backups/$be/\w+\.json" is not encrypted, but tbdr\.encryption_key_file is set},
	'naming the unencrypted object') or diag $err;
like($err, qr/HINT: .*tbdr\.allow_unauthenticated_reads/, 'with a hint') or diag $err;
ok(!-e $target, 'nothing written: the target directory does not exist');
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--as', 'copy', '--pgdata', $target, '--backup', $b1);
isnt($rc, 0, 'restore of the genuine backup beside a forged one: refused too (the repository was tampered with)');
ok(!-e $target, '  ... nothing written');
($rc, $out, $err) = tbdr('verify', '-c', $conf, $be);
ok($rc != 0 && $err =~ m{"backups/$be/\w+\.json" is not encrypted}, 'verify: refused, naming the object')
  or diag "$out$err";
($rc, $out, $err) = tbdr('list', '-c', $conf);
ok($rc != 0 && $err =~ m{"backups/$be/\w+\.json" is not encrypted}, 'list: refused, naming the object')
  or diag "$out$err";

# The opt-in reads it, loudly: the forgery is a real backup, and this is
# what the refusal prevents.  (Read where the attacker made it, whose WAL
# is there: copying that too would overwrite the victim's segments.)
my $conf_optin_evil = $w->write_conf('optin_evil', repository => "s3://$bucket/attacker",
	encryption_key_file => $key, allow_unauthenticated_reads => 'on');
my $optin_target = "$tmp/r_optin";
($rc, $out, $err) = tbdr('restore', '-c', $conf_optin_evil, '--as', 'copy', '--pgdata', $optin_target, '--backup', $be,
	'--target', 'immediate');
is($rc, 0, 'with tbdr.allow_unauthenticated_reads the forged backup restores') or diag $err;
like($err, qr/warning: tbdr\.allow_unauthenticated_reads is on/, '  ... with a warning') or diag $err;
like(slurp_file("$optin_target/postgresql.auto.conf"), qr/archive_command = 'touch \Q$tmp\E\/pwned'/,
	"  ... carrying the attacker's archive_command");
ok(!-e "$tmp/pwned", 'nothing of the forgery ran');

rm_obj($conf, $_) for @forged;

# --- an unencrypted WAL segment in place of a genuine one ----------------------
my $evil_obj = get_obj($conf_evil, wal_key($evil_seg));
my $seg1 = $ws;    # a segment verify and recovery of $b1 need
my $orig1 = get_obj($conf, wal_key($seg1));
rm_obj($conf, wal_key($seg1));
put_obj($conf, $evil_obj, wal_key($seg1));

my $getdir = "$tmp/get";
mkdir $getdir or die;
mkdir "$getdir/pg_wal" or die;
($rc, $out, $err) = tbdr_in($getdir, 'archive-get', '-c', $conf, $seg1, 'pg_wal/RECOVERYXLOG');
isnt($rc, 0, 'archive-get of an unencrypted segment: refused');
like($err, qr{"\Q@{[wal_key($seg1)]}\E" is not encrypted, but tbdr\.encryption_key_file is set},
	'naming the object') or diag $err;
is_deeply([ dir_entries("$getdir/pg_wal") ], [], 'nothing written to pg_wal');
($rc, $out, $err) = tbdr('verify', '-c', $conf, $b1);
ok($rc != 0 && "$out$err" =~ m{\Q@{[wal_key($seg1)]}\E" is not encrypted}, 'verify: refused, naming the segment')
  or diag "$out$err";
($rc, $out, $err) = tbdr_in($getdir, 'archive-get', '-c', $conf_optin, $seg1, 'pg_wal/RECOVERYXLOG');
ok($rc == 0 && -s "$getdir/pg_wal/RECOVERYXLOG" == 16 * 1024 * 1024 && $err =~ /warning: tbdr\.allow_unauthenticated_reads/,
	'the opt-in fetches it, with a warning') or diag $err;
unlink "$getdir/pg_wal/RECOVERYXLOG";
rm_obj($conf, wal_key($seg1));
put_obj($conf, $orig1, wal_key($seg1));

# --- an unencrypted timeline history file --------------------------------------
my $hist = "$tmp/forged.history";
open(my $hf, '>:raw', $hist) or die;
print $hf plain_object("1\t0/3000000\tno recovery target specified\n");
close $hf or die;
put_obj($conf, $hist, 'wal/00000002.history');
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--as', 'copy', '--pgdata', $target, '--backup', $b1);
ok($rc != 0 && $err =~ m{"wal/00000002\.history" is not encrypted}, 'restore: an unencrypted history file is refused')
  or diag $err;
ok(!-e $target, '  ... nothing written');
($rc, $out, $err) = tbdr('list', '-c', $conf);
ok($rc != 0 && $err =~ m{"wal/00000002\.history" is not encrypted}, 'list: refused too') or diag $err;
rm_obj($conf, 'wal/00000002.history');

# --- a genuine encrypted segment under another name ----------------------------
rm_obj($conf, wal_key($seg1));
put_obj($conf, get_obj($conf, wal_key($last)), wal_key($seg1));
($rc, $out, $err) = tbdr_in($getdir, 'archive-get', '-c', $conf, $seg1, 'pg_wal/RECOVERYXLOG');
isnt($rc, 0, 'archive-get of a segment copied under another name: refused');
like($err, qr{authentication failed for "\Q@{[wal_key($seg1)]}\E": the object was modified, is corrupt, or was stored under another name},
	'saying that authentication failed for the object') or diag $err;
is_deeply([ dir_entries("$getdir/pg_wal") ], [], 'nothing written to pg_wal');
($rc, $out, $err) = tbdr('verify', '-c', $conf, $b1);
ok($rc != 0 && "$out$err" =~ m{authentication failed for "\Q@{[wal_key($seg1)]}\E"}, 'verify: refused')
  or diag "$out$err";
rm_obj($conf, wal_key($seg1));
put_obj($conf, $orig1, wal_key($seg1));

# Recovery past the end: the next segment is a copy of an earlier one.  It
# must not be replayed, nor taken as the end of the archive (which, without
# a target, ends recovery there and promotes).
my $next = next_seg($last);
put_obj($conf, get_obj($conf, wal_key($seg1)), wal_key($next));
my $r = PostgreSQL::Test::Cluster->new('r_swapped');
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--as', 'copy', '--pgdata', $r->data_dir, '--backup', $b1);
is($rc, 0, 'restore of the genuine backup (the swapped segment is beyond it)') or diag $err;
$r->append_conf('postgresql.conf', "port = " . $r->port . "\narchive_mode = off\n");
my $started = $r->start(fail_ok => 1);
my $log = slurp_file($r->logfile);
ok(!$started || !$r->safe_psql('postgres', 'SELECT NOT pg_is_in_recovery()', on_error_die => 0),
	'recovery does not end and promote at the swapped segment');
like($log, qr{authentication failed for "\Q@{[wal_key($next)]}\E"}, 'the server log says why') or diag $log;
unlike($log, qr/selected new timeline ID/, 'no new timeline');
$r->stop('immediate') if $started;
rm_obj($conf, wal_key($next));

# --- a backup part under another part's name -----------------------------------
my ($p1, $p2) = @parts[ 0, 1 ];
my $orig_p1 = get_obj($conf, $p1);
rm_obj($conf, $p1);
put_obj($conf, get_obj($conf, $p2), $p1);
($rc, $out, $err) = tbdr('verify', '-c', $conf, $b1);
ok($rc != 0 && "$out$err" =~ m{authentication failed for "\Q$p1\E"}, "verify: $p2 stored as $p1 is refused")
  or diag "$out$err";
my $target2 = "$tmp/r_part";
($rc, $out, $err) = tbdr('restore', '-c', $conf, '--as', 'copy', '--pgdata', $target2, '--backup', $b1);
ok($rc != 0 && $err =~ m{authentication failed for "\Q$p1\E"}, 'restore: refused, naming the part') or diag $err;
ok(!-e "$target2/global/pg_control", '  ... and leaves nothing startable');
rm_obj($conf, $p1);
put_obj($conf, $orig_p1, $p1);

# --- every forgery removed ------------------------------------------------------
($rc, $out, $err) = tbdr('verify', '-c', $conf, $b1);
is($rc, 0, 'with the forgeries removed, the repository verifies again') or diag "$out$err";
unlike($err, qr/warning/, '  ... without the opt-in warning');

$s3->stop;
done_testing();
