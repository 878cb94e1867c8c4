
# Copyright (c) tbdr authors

=pod

=head1 NAME

TbdrTest::Backup - helpers of the base backup TAP tests (test/t/04*.pl)

=head1 SYNOPSIS

  use TbdrTest::Backup;

  my $b = TbdrTest::Backup->new(tbdr => $tbdr, tmp => $tmp, s3 => $s3,
      bucket => 'b', settings => { compression => 'none' });
  $node->append_conf('postgresql.conf', $b->conf_lines);
  my ($rc, $out, $err) = $b->tbdr('repo-ls', '--json', 'backups/');
  my $keys = $b->list_keys('backups/');            # { key => size }
  my $m = $b->manifest($id);                   # parsed manifest.json
  my $res = $b->download($id, $dir);           # parts decoded, tar extracted
  my $node = $b->restore_node($primary, $id, 'name', target => 'immediate');

=head1 DESCRIPTION

download() does what a restore does, independently of tbdr restore: it
fetches every part (tbdr repo-get, raw object), checks the codec framing of
an unencrypted object (48-byte header "TBDR", zstd frame, 44-byte trailer
"TEND" + length + SHA-256), decompresses it with the zstd program, checks
the part's SHA-256 and length against the trailer and the manifest, and
extracts it with tar.  It returns { parts => N, files => N, bad => [paths
whose SHA-256 or size differ from the manifest], plain => bytes, stored =>
bytes }.

restore_node() makes a new cluster from a download: recovery.signal,
restore_command = 'tbdr archive-get', the given recovery target, archiving
and scheduled backups off.

=cut

package TbdrTest::Backup;

use strict;
use warnings;

use Carp;
use Digest::SHA ();
use File::Path qw(make_path);
use IPC::Run ();
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

# new(tbdr => PROGRAM, tmp => DIR, s3 => TbdrTest::S3Server, bucket => NAME,
#     endpoint => URL (default the server's; e.g. a fault proxy),
#     settings => { more tbdr.* settings }): writes DIR/tbdr.conf for the
# CLI; conf_lines() gives the same settings for postgresql.conf.
sub new
{
	my ($class, %o) = @_;
	my $s3 = $o{s3};
	my %settings = (
		repository => "s3://$o{bucket}/main",
		s3_endpoint => $o{endpoint} // $s3->endpoint,
		s3_access_key_id => $s3->access_key,
		s3_secret_access_key => $s3->secret_key,
		s3_region => 'us-east-1',
		s3_uri_style => 'path',
		s3_max_retries => 2,
		s3_timeout => 30,
		%{ $o{settings} // {} });
	$o{conf_lines} = join('', map { "tbdr.$_ = '$settings{$_}'\n" } sort keys %settings);
	$o{conf} = "$o{tmp}/tbdr.conf";
	open(my $fh, '>', $o{conf}) or croak "$o{conf}: $!";
	print $fh $o{conf_lines};
	close $fh or croak "$o{conf}: $!";
	return bless {%o}, $class;
}

sub conf_lines { return $_[0]{conf_lines} }
sub conf { return $_[0]{conf} }

sub tbdr
{
	my ($self, @args) = @_;
	my ($out, $err) = ('', '');
	my $cmd = shift @args;
	IPC::Run::run([ $self->{tbdr}, $cmd, '-c', $self->{conf}, @args ],
		'<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# { key => size } of every object under prefix.
sub list_keys
{
	my ($self, $prefix) = @_;
	my ($rc, $out, $err) = $self->tbdr('repo-ls', '--json', $prefix);
	croak "repo-ls $prefix failed: $err" if $rc;
	my %k = map { $_->{key} => $_->{size} } @{ JSON::PP->new->decode($out) };
	return \%k;
}

sub get
{
	my ($self, $key, $path) = @_;
	my ($rc, $out, $err) = $self->tbdr('repo-get', $key, $path);
	croak "repo-get $key failed: $err" if $rc;
	return $path;
}

sub put
{
	my ($self, $path, $key) = @_;
	my ($rc, $out, $err) = $self->tbdr('repo-put', $path, $key);
	croak "repo-put $key failed: $err" if $rc;
	return;
}

sub manifest
{
	my ($self, $id, $name) = @_;
	my $path = "$self->{tmp}/$id-" . ($name // 'manifest.json');
	$self->get("backups/$id/" . ($name // 'manifest.json'), $path);
	return JSON::PP->new->decode(slurp_file($path));
}

sub download
{
	my ($self, $id, $dir) = @_;
	my $m = $self->manifest($id);
	my %res = (parts => 0, files => 0, bad => [], plain => 0, stored => 0,
		manifest => $m);
	make_path($dir);
	for my $p (@{ $m->{parts} })
	{
		my $raw = "$self->{tmp}/part.raw";
		$self->get($p->{key}, $raw);
		my $obj = slurp_file($raw);
		$res{stored} += length($obj);
		croak "$p->{key}: stored size " . length($obj) . " != manifest $p->{stored_bytes}"
		  unless length($obj) == $p->{stored_bytes};
		croak "$p->{key}: not a plain zstd tbdr object"
		  unless substr($obj, 0, 4) eq 'TBDR' && ord(substr($obj, 5, 1)) == 1
		  && ord(substr($obj, 6, 1)) == 0;
		my $trailer = substr($obj, -44);
		croak "$p->{key}: no trailer" unless substr($trailer, 0, 4) eq 'TEND';
		my ($hi, $lo) = unpack('NN', substr($trailer, 4, 8));
		my $len = $hi * 4294967296 + $lo;
		my $sha = unpack('H*', substr($trailer, 12, 32));
		my $tar = "$self->{tmp}/part.tar";
		_unzstd(substr($obj, 48, length($obj) - 48 - 44), "$self->{tmp}/part", $tar)
		  or croak "zstd -d $p->{key} failed";
		my $tsha = Digest::SHA->new(256)->addfile($tar, 'b')->hexdigest;
		croak "$p->{key}: tar stream SHA-256 $tsha != trailer $sha" unless $tsha eq $sha;
		croak "$p->{key}: tar stream SHA-256 != manifest" unless $tsha eq $p->{sha256};
		croak "$p->{key}: tar length != trailer" unless -s $tar == $len;
		croak "$p->{key}: tar length != manifest" unless -s $tar == $p->{plain_bytes};
		$res{plain} += -s $tar;
		my $terr = '';
		IPC::Run::run([ 'tar', '-x', '-f', $tar, '-C', $dir ], '2>', \$terr)
		  or croak "tar -x $p->{key} failed: $terr";
		# offset in the manifest: where the file's data starts in the stream
		open(my $th, '<:raw', $tar) or die;
		for my $f (grep { $_->{part} == $p->{part} } @{ $m->{files} })
		{
			seek($th, $f->{offset}, 0);
			my $n = read($th, my $data, $f->{size});
			my $d = Digest::SHA->new(256)->add($data // '')->hexdigest;
			push @{ $res{bad} }, "$f->{path} (at offset)"
			  unless ($n // 0) == $f->{size} && $d eq $f->{sha256};
		}
		close $th;
		unlink $raw, $tar;
		$res{parts}++;
	}
	for my $f (@{ $m->{files} })
	{
		my $path = "$dir/$f->{path}";
		$res{files}++;
		if (!-f $path || -s $path != $f->{size}
			|| Digest::SHA->new(256)->addfile($path, 'b')->hexdigest ne $f->{sha256})
		{
			push @{ $res{bad} }, $f->{path};
		}
	}
	return \%res;
}

# Decompress zstd data with the zstd program (through $tmp.zst) into $out.
sub _unzstd
{
	my ($data, $tmp, $out) = @_;
	open(my $fh, '>:raw', "$tmp.zst") or croak "$tmp.zst: $!";
	print $fh $data;
	close $fh or croak "$tmp.zst: $!";
	my $ok = IPC::Run::run([ 'zstd', '-q', '-d', '-f', "$tmp.zst", '-o', $out ]);
	unlink "$tmp.zst";
	return $ok;
}

# The plaintext of an unencrypted tbdr object (codec header "TBDR", zstd or
# no compression, trailer), decoded independently of tbdr; undef for an
# object in another format or encrypted.  $tmp: a path prefix for scratch
# files.
sub plain_object
{
	my ($obj, $tmp) = @_;
	return undef
	  unless length($obj) >= 92 && substr($obj, 0, 4) eq 'TBDR'
	  && ord(substr($obj, 6, 1)) == 0 && substr($obj, -44, 4) eq 'TEND';
	my $content = substr($obj, 48, length($obj) - 48 - 44);
	return $content if ord(substr($obj, 5, 1)) == 0;
	_unzstd($content, $tmp, "$tmp.plain") or croak 'zstd -d failed';
	my $plain = slurp_file("$tmp.plain");
	unlink "$tmp.plain";
	return $plain;
}

# A new cluster from backup $id, recovering with %o (target => 'immediate'
# or undef for the end of the archive, action => promote by default).
sub restore_node
{
	my ($self, $primary, $id, $name, %o) = @_;
	my $dir = $primary->backup_dir . "/$name";
	my $res = $self->download($id, $dir);
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init_from_backup($primary, $name);
	my $conf = qq{
archive_mode = off
tbdr.backup_schedule = ''
restore_command = '$self->{tbdr} archive-get -c $self->{conf} %f %p'
recovery_target_action = 'promote'
};
	$conf .= "recovery_target = '$o{target}'\n" if $o{target};
	$node->append_conf('postgresql.conf', $conf);
	open(my $fh, '>', $node->data_dir . '/recovery.signal') or die;
	close $fh;
	return ($node, $res);
}

1;
