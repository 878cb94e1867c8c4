#!/usr/bin/python3
"""Cross-check tbdr's SigV4 signer (src/core/sigv4.c) against botocore.

Generates a few hundred random S3 requests from a fixed seed (odd keys, '//',
dot segments, unicode, query strings with valueless and repeated parameters,
headers with extra white space and repeated names), signs each with
build/test/sigv4_dump and with botocore's S3SigV4Auth, and compares the
canonical request, the canonical query string, the signature and the
Authorization header.  Prints TAP, one test per request.

Both sides are given exactly the same inputs:
- the path is percent-encoded for botocore the way botocore's own S3
  serializer encodes a key (botocore.utils.percent_encode, safe='/~'), and
  S3SigV4Auth signs that path as is (no normalization, no second encoding);
  tbdr gets the raw path and encodes it itself;
- the query goes to botocore as a list of (name, value) pairs (request.params),
  which it encodes and sorts itself;
- x-amz-content-sha256 is passed explicitly (botocore then signs that value
  instead of hashing the body or choosing UNSIGNED-PAYLOAD), and x-amz-date
  and the timestamp in request.context are fixed, so nothing depends on the
  clock.  The pieces of SigV4Auth.add_auth are called directly because
  add_auth itself would rewrite x-amz-date (and Date) from the clock.

Known, deliberate differences, kept out of the generated requests:
- botocore never signs User-Agent, Expect and X-Amzn-Trace-Id; tbdr signs
  every header it is given (the S3 driver simply does not pass those);
- botocore's header trimming is Python's str.split(), which also splits on
  \\x1c-\\x1f and Unicode spaces; tbdr trims ASCII white space only (header
  values with control or non-ASCII bytes are not valid HTTP anyway).

Run with Debian's /usr/bin/python3 (botocore); usage:
  sigv4_botocore.py [--dumper build/test/sigv4_dump] [--count N] [--seed S]
"""

import argparse
import os
import random
import subprocess
import sys

try:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.compat import HTTPHeaders
    from botocore.credentials import Credentials
    from botocore.utils import percent_encode
except ImportError as e:  # pragma: no cover
    print(f"1..0 # SKIP botocore not importable ({e}); use /usr/bin/python3")
    sys.exit(0)

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# Pieces of keys: every character class S3 keys meet in practice.
KEY_PIECES = [
    "a", "Z", "0", "9", "-", "_", ".", "~", " ", "  ", "+", "=", "%", "%20", "%2F",
    "!", "*", "'", "(", ")", "$", "&", ",", ":", ";", "@", "[", "]", "#", "?",
    "^", "`", "{", "}", "|", "\\", "\"", "<", ">",
    "\u00e9", "\u65e5\u672c", "\u00fc", "\u00df", "\U0001f600", "\u200b",
    "wal", "0000000100000000000000A1", "base", "pg_wal", "backup.tar.zst",
]
QUERY_NAMES = [
    "delete", "uploads", "uploadId", "partNumber", "list-type", "prefix",
    "delimiter", "continuation-token", "start-after", "max-keys", "versionId",
    "versioning", "tagging", "lifecycle", "acl", "x-id", "encoding-type",
]
VALUE_PIECES = [
    "a", "b", "Z", "1", "2", "/", " ", "+", "=", "&", "~", "%", "-", "_", ".",
    "\u00e9", "\u65e5\u672c", "*", "'", "!", ":", "?", "#", "@",
]
METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD"]
HOSTS = [
    "s3.amazonaws.com", "examplebucket.s3.amazonaws.com",
    "bucket.s3.eu-central-1.amazonaws.com", "127.0.0.1:9000", "localhost:8080",
    "[::1]:8080",
]
REGIONS = ["us-east-1", "eu-central-1", "ap-northeast-1", "auto", "garage"]
ASCII = [chr(c) for c in range(0x21, 0x7F)]


def rand_key(rng):
    if rng.random() < 0.05:
        return "/"
    segments = []
    for _ in range(rng.randint(1, 5)):
        r = rng.random()
        if r < 0.08:
            segments.append("")           # '//' in the path
        elif r < 0.13:
            segments.append(rng.choice([".", ".."]))
        else:
            segments.append("".join(rng.choice(KEY_PIECES) for _ in range(rng.randint(1, 6))))
    path = "/" + "/".join(segments)
    if rng.random() < 0.1:
        path += "/"
    return path


def rand_value(rng, maxlen=8):
    return "".join(rng.choice(VALUE_PIECES) for _ in range(rng.randint(0, maxlen)))


def rand_query(rng):
    params = []
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 5])):
        r = rng.random()
        if r < 0.7:
            name = rng.choice(QUERY_NAMES)
        else:
            name = rand_value(rng, 5) or "n"
        value = "" if rng.random() < 0.3 else rand_value(rng)
        params.append((name, value))
    if params and rng.random() < 0.15:
        params.append((params[0][0], rand_value(rng)))    # repeated name
    return params


def spaced(rng, value):
    """Wrap and pad a header value with runs of spaces and tabs."""
    ws = [" ", "  ", "\t", " \t ", "   "]
    if rng.random() < 0.5:
        value = rng.choice(ws) + value
    if rng.random() < 0.5:
        value = value + rng.choice(ws)
    if rng.random() < 0.4 and " " in value:
        value = value.replace(" ", rng.choice(ws), 1)
    return value


def rand_case(rng, name):
    r = rng.random()
    if r < 0.4:
        return name
    if r < 0.7:
        return "-".join(p.capitalize() for p in name.split("-"))
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


def rand_ascii(rng, n):
    return "".join(rng.choice(ASCII) for _ in range(n))


def rand_request(rng, i):
    method = rng.choice(METHODS)
    host = rng.choice(HOSTS)
    path = rand_key(rng)
    query = rand_query(rng)
    payload = rng.choice([
        EMPTY_SHA256, "UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "%064x" % rng.getrandbits(256),
    ])
    amz_date = "%04d%02d%02dT%02d%02d%02dZ" % (
        rng.randint(2013, 2039), rng.randint(1, 12), rng.randint(1, 28),
        rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))
    headers = [
        (rand_case(rng, "host"), host),
        (rand_case(rng, "x-amz-date"), amz_date),
        (rand_case(rng, "x-amz-content-sha256"), payload),
    ]
    optional = [
        ("content-md5", lambda: rand_ascii(rng, 22) + "=="),
        ("content-type", lambda: spaced(rng, rng.choice(["application/octet-stream", "text/plain; charset=utf-8", "application/xml"]))),
        ("content-length", lambda: str(rng.randint(0, 1 << 34))),
        ("range", lambda: "bytes=%d-%d" % (rng.randint(0, 99), rng.randint(100, 999))),
        ("x-amz-security-token", lambda: rand_ascii(rng, rng.randint(20, 80)) + "+/=="),
        ("x-amz-server-side-encryption", lambda: spaced(rng, rng.choice(["AES256", "aws:kms"]))),
        ("x-amz-server-side-encryption-aws-kms-key-id", lambda: "arn:aws:kms:eu-central-1:111122223333:key/" + rand_ascii(rng, 8)),
        ("x-amz-server-side-encryption-customer-algorithm", lambda: "AES256"),
        ("x-amz-storage-class", lambda: rng.choice(["STANDARD", "STANDARD_IA", "GLACIER_IR"])),
        ("if-none-match", lambda: spaced(rng, "*")),
        ("if-match", lambda: '"%032x"' % rng.getrandbits(128)),
        ("date", lambda: "Fri, 24 May 2013 00:00:00 GMT"),
        ("x-amz-meta-note", lambda: spaced(rng, "a  b \t c   " + rand_ascii(rng, 5))),
        ("x-amz-meta-empty", lambda: rng.choice(["", " ", "\t", "   "])),
        ("x-amz-meta-tbdr-sha256", lambda: "%064x" % rng.getrandbits(256)),
        ("x-amz-checksum-crc32c", lambda: rand_ascii(rng, 6) + "=="),
    ]
    for name, make in rng.sample(optional, rng.randint(0, 6)):
        headers.append((rand_case(rng, name), make()))
        if name.startswith("x-amz-meta-") and rng.random() < 0.3:
            headers.append((rand_case(rng, name), make()))    # repeated name
    rng.shuffle(headers)
    return {
        "method": method,
        "host": host,
        "path": path,
        "query": query,
        "headers": headers,
        "payload": payload,
        "region": rng.choice(REGIONS),
        "access_key": "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
        "secret_key": "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/") for _ in range(40)),
        "amz_date": amz_date,
        "name": f"#{i} {method} {path!r}",
    }


def field(s):
    return "x" + s.encode("utf-8").hex()


def unfield(s):
    assert s.startswith("x"), s
    return bytes.fromhex(s[1:]).decode("utf-8")


def dump_line(req):
    parts = [req["method"], req["path"], req["payload"], req["region"], "s3",
             req["access_key"], req["secret_key"], req["amz_date"]]
    parts.append(str(len(req["query"])))
    for n, v in req["query"]:
        parts += [n, v]
    parts.append(str(len(req["headers"])))
    for n, v in req["headers"]:
        parts += [n, v]
    return " ".join(field(p) for p in parts)


def botocore_sign(req):
    url = "https://" + req["host"] + percent_encode(req["path"], safe="/~")
    request = AWSRequest(method=req["method"], url=url, params=list(req["query"]))
    request.headers = HTTPHeaders()
    for n, v in req["headers"]:
        request.headers[n] = v
    request.context["timestamp"] = req["amz_date"]
    auth = S3SigV4Auth(Credentials(req["access_key"], req["secret_key"]), "s3", req["region"])
    cr = auth.canonical_request(request)
    sts = auth.string_to_sign(request, cr)
    sig = auth.signature(sts, request)
    auth._inject_signature_to_request(request, sig)
    return {
        "canonical_request": cr,
        "signature": sig,
        "authorization": request.headers["Authorization"],
        "canonical_query": auth.canonical_query_string(request),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dumper", default=os.path.join(ROOT, "build", "test", "sigv4_dump"))
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--seed", type=int, default=20130524)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    reqs = [rand_request(rng, i + 1) for i in range(args.count)]
    print(f"1..{len(reqs) + 1}")

    if not os.access(args.dumper, os.X_OK):
        print(f"not ok 1 - {args.dumper} is built (run make)")
        for i, _ in enumerate(reqs):
            print(f"not ok {i + 2} - skipped: no dumper")
        return 1
    proc = subprocess.run([args.dumper, "-"], input="".join(dump_line(r) + "\n" for r in reqs),
                          capture_output=True, text=True)
    lines = proc.stdout.splitlines()
    ran = proc.returncode == 0 and len(lines) == len(reqs)
    print(f"{'' if ran else 'not '}ok 1 - sigv4_dump signed {len(lines)} of {len(reqs)} requests")
    if not ran:
        print(f"# exit code {proc.returncode}; stderr: {proc.stderr.strip()}")

    failed = 0 if ran else 1
    for i, req in enumerate(reqs):
        num = i + 2
        if i >= len(lines):
            print(f"not ok {num} - {req['name']}: no output")
            failed += 1
            continue
        cr, sig, authz, cq = lines[i].split(" ")
        ours = {"canonical_request": unfield(cr), "signature": sig,
                "authorization": unfield(authz), "canonical_query": unfield(cq)}
        theirs = botocore_sign(req)
        diffs = [k for k in ("canonical_request", "canonical_query", "signature", "authorization")
                 if ours[k] != theirs[k]]
        if diffs:
            failed += 1
            print(f"not ok {num} - {req['name']}")
            for k in diffs:
                print(f"# {k} differs")
                print("#   tbdr:     " + repr(ours[k]))
                print("#   botocore: " + repr(theirs[k]))
        else:
            print(f"ok {num} - {req['name']}")
    if failed:
        print(f"# {failed} of {len(reqs) + 1} failed")
    else:
        print(f"# all {len(reqs)} requests: canonical request, query, signature and Authorization equal to botocore {__import__('botocore').__version__}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
