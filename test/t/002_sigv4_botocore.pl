# Cross-check of the SigV4 signer against botocore: see
# test/unit/sigv4_botocore.py (it prints the TAP itself).  Needs Debian's
# /usr/bin/python3 (botocore) and build/test/sigv4_dump (built by make).
use strict;
use warnings;
use FindBin;

my $root = "$FindBin::RealBin/../..";
exec('/usr/bin/python3', "$root/test/unit/sigv4_botocore.py",
	'--dumper', "$root/build/test/sigv4_dump")
  or die "could not run /usr/bin/python3: $!";
