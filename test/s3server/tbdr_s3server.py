#!/usr/bin/python3
"""A real S3 server for tbdr's tests: OpenStack Swift with s3api on loopback.

    /usr/bin/python3 test/s3server/tbdr_s3server.py --dir DIR \
        [--host 127.0.0.1] [--port 0] [--bucket NAME ...] \
        [--tls-cert CERT.pem --tls-key KEY.pem]

With --tls-cert/--tls-key the S3 endpoint speaks https (for clients such as
pgBackRest that speak only TLS to S3) and ready.json's endpoint says https.

Everything (swift.conf, rings, paste configs, device dirs, logs) goes under
DIR, laid anew on every run.  The proxy (with s3api and tempauth) and the
account, container and object servers all run in this one eventlet process;
the backends listen on extra free loopback ports.  When the server answers
signed S3 requests and the --bucket buckets exist, DIR/ready.json is written
atomically:

    {"endpoint": "http://127.0.0.1:PORT", "host": "127.0.0.1", "port": PORT,
     "access_key": "tbdrtest", "secret_key": "tbdr-secret-key",
     "region": "us-east-1", "pid": PID}

Runs in the foreground until SIGTERM or SIGINT, then exits with status 0,
removing only DIR/server.pid.  Logs go to DIR/server.log.

Must run under Debian's /usr/bin/python3 (Swift and eventlet live there).
"""

import sys

# Keep the repository free of __pycache__ from our own filter module.
sys.dont_write_bytecode = True

import argparse  # noqa: E402
import datetime  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

ACCESS_KEY = 'tbdrtest'
SECRET_KEY = 'tbdr-secret-key'
REGION = 'us-east-1'
SWIFT_ACCOUNT = 'test'
SWIFT_USER = 'tester'

# AWS allows 10000 parts of up to 5 GiB and objects of up to 5 TiB; Swift's
# default max_file_size (5 GiB + 2) bounds single PUTs and parts.
MAX_UPLOAD_PART_NUM = 10000
MAX_FILE_SIZE = 5 * 1024 * 1024 * 1024 + 2
CHUNK = 1024 * 1024

log = logging.getLogger('tbdr_s3server')


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--dir', required=True, help='state directory')
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=0, help='0: a free port')
    p.add_argument('--bucket', action='append', default=[],
                   help='create this bucket before ready.json (repeatable)')
    p.add_argument('--tls-cert', help='serve S3 over https with this '
                   'certificate (PEM); needs --tls-key')
    p.add_argument('--tls-key', help='private key (PEM) of --tls-cert')
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error('--tls-cert and --tls-key go together')
    return args


def write_file(path, text):
    with open(path, 'w') as f:
        f.write(text)


def write_configs(etc, srv, log_level, ports, host, proxy_port):
    write_file(os.path.join(etc, 'swift.conf'), f"""\
[swift-hash]
swift_hash_path_suffix = tbdr-test-suffix
swift_hash_path_prefix = tbdr-test-prefix

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
max_file_size = {MAX_FILE_SIZE}
""")

    common = f"""\
[DEFAULT]
swift_dir = {etc}
devices = {srv}
mount_check = false
disable_fallocate = true
fallocate_reserve = 0
log_level = {log_level}
client_timeout = 120
"""
    for kind in ('account', 'container', 'object'):
        extra = ''
        if kind == 'object':
            extra = f"""\
network_chunk_size = {CHUNK}
disk_chunk_size = {CHUNK}
keep_cache_size = 0
container_update_timeout = 5
"""
        write_file(os.path.join(etc, f'{kind}-server.conf'), f"""\
{common}bind_ip = 127.0.0.1
bind_port = {ports[kind]}

[pipeline:main]
pipeline = {kind}-server

[app:{kind}-server]
use = egg:swift#{kind}
log_name = {kind}-server
{extra}""")

    # s3api must come before the auth filter and slo (multipart) after it;
    # our cache must come before anything that looks up swift.cache, and the
    # key map before s3api parses the Authorization header.
    write_file(os.path.join(etc, 'proxy-server.conf'), f"""\
{common}bind_ip = {host}
bind_port = {proxy_port}

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging tbdrcache listing_formats tbdrkeymap s3api tempauth copy slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
log_name = proxy-server
account_autocreate = true
allow_account_management = true
node_timeout = 60
recoverable_node_timeout = 60
conn_timeout = 2
object_chunk_size = {CHUNK}
client_chunk_size = {CHUNK}

[filter:tbdrcache]
paste.filter_factory = tbdr_swift_filters:cache_filter_factory

[filter:tbdrkeymap]
paste.filter_factory = tbdr_swift_filters:keymap_filter_factory
access_key = {ACCESS_KEY}
swift_user = {SWIFT_ACCOUNT}:{SWIFT_USER}

[filter:s3api]
use = egg:swift#s3api
location = {REGION}
# virtual-hosted-style requests: Host BUCKET.localhost[:port]
storage_domain = localhost
s3_acl = false
dns_compliant_bucket_names = true
max_upload_part_num = {MAX_UPLOAD_PART_NUM}
min_segment_size = 5242880
max_bucket_listing = 1000
max_parts_listing = 1000
max_multi_delete_objects = 1000
# DeleteObjects sends nothing until all its keys are deleted (2 at a time by
# default): on a loaded test machine 1000 keys took longer than a client's
# no-progress timeout
multi_delete_concurrency = 16
allowable_clock_skew = 900
allow_multipart_uploads = true

[filter:tempauth]
use = egg:swift#tempauth
reseller_prefix = AUTH
user_{SWIFT_ACCOUNT}_{SWIFT_USER} = {SECRET_KEY} .admin

[filter:slo]
use = egg:swift#slo
max_manifest_segments = {MAX_UPLOAD_PART_NUM}
max_manifest_size = {16 * 1024 * 1024}
concurrency = 4

[filter:dlo]
use = egg:swift#dlo

[filter:copy]
use = egg:swift#copy

[filter:versioned_writes]
use = egg:swift#versioned_writes

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats
""")


def build_rings(etc, ports):
    from swift.common.ring import RingBuilder
    for kind in ('account', 'container', 'object'):
        builder = RingBuilder(6, 1, 1)
        builder.add_dev({'id': 0, 'region': 1, 'zone': 1,
                         'ip': '127.0.0.1', 'port': ports[kind],
                         'device': 'd0', 'weight': 100, 'meta': ''})
        builder.rebalance()
        builder.get_ring().save(os.path.join(etc, f'{kind}.ring.gz'))


def sigv4_request(host, port, method, path, body=b'', tls=False):
    """One path-style S3 request signed with SigV4, with stdlib only."""
    import http.client
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime('%Y%m%dT%H%M%SZ')
    day = amz_date[:8]
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {'host': f'{host}:{port}', 'x-amz-date': amz_date,
               'x-amz-content-sha256': payload_hash}
    names = sorted(headers)
    signed = ';'.join(names)
    canonical = '\n'.join([method, path, '',
                           ''.join(f'{k}:{headers[k]}\n' for k in names),
                           signed, payload_hash])
    scope = f'{day}/{REGION}/s3/aws4_request'
    to_sign = '\n'.join(['AWS4-HMAC-SHA256', amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])

    def h(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()
    key = h(h(h(h(('AWS4' + SECRET_KEY).encode(), day), REGION), 's3'),
            'aws4_request')
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers['authorization'] = (
        f'AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, '
        f'SignedHeaders={signed}, Signature={sig}')
    headers['content-length'] = str(len(body))
    if tls:
        # our own certificate, just created: no verification needed here
        import ssl
        conn = http.client.HTTPSConnection(
            host, port, timeout=30,
            context=ssl._create_unverified_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_ready(host, port, buckets, deadline, tls=False):
    """Prove signed S3 works end to end, then create the buckets."""
    last = None
    while True:
        try:
            status, body = sigv4_request(host, port, 'GET', '/', tls=tls)
            if status == 200:
                break
            last = f'ListBuckets: HTTP {status} {body[:300]!r}'
        except OSError as e:
            last = f'ListBuckets: {e}'
        if time.time() > deadline:
            raise RuntimeError(f'S3 API not ready: {last}')
        time.sleep(0.1)
    for bucket in buckets:
        status, body = sigv4_request(host, port, 'PUT', '/' + bucket,
                                     tls=tls)
        if status != 200:
            raise RuntimeError(
                f'creating bucket {bucket}: HTTP {status} {body[:500]!r}')
        log.info('created bucket %s', bucket)


class _LogHandlerFactory(object):
    """Replaces Swift's syslog handler: every Swift logger writes to our
    server.log instead of /dev/log or UDP port 514."""

    def __init__(self, stream):
        self.stream = stream

    def __call__(self, *args, **kwargs):
        return logging.StreamHandler(self.stream)


def main(argv):
    args = parse_args(argv)
    top = os.path.abspath(args.dir)
    os.makedirs(top, exist_ok=True)
    for name in ('ready.json', 'ready.json.tmp', 'server.pid'):
        try:
            os.unlink(os.path.join(top, name))
        except FileNotFoundError:
            pass
    etc = os.path.join(top, 'etc')
    srv = os.path.join(top, 'srv')
    for d in (etc, srv):
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(etc)
    os.makedirs(os.path.join(srv, 'd0'))

    logstream = open(os.path.join(top, 'server.log'), 'a', buffering=1)
    handler = logging.StreamHandler(logstream)
    handler.setFormatter(logging.Formatter(
        '%(asctime)s %(name)s %(levelname)s: %(message)s'))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    started = time.time()
    pid_path = os.path.join(top, 'server.pid')

    # Swift stamps times in UTC (as swift's run_server does).
    os.environ['TZ'] = 'UTC+0'
    time.tzset()

    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        import eventlet
        import eventlet.wsgi
        from swift.common import utils
        utils.eventlet_monkey_patch()
        utils.ThreadSafeSysLogHandler = _LogHandlerFactory(logstream)

        proxy_sock = eventlet.listen((args.host, args.port))
        proxy_port = proxy_sock.getsockname()[1]
        if args.tls_cert:
            # Only the S3 endpoint speaks TLS; the backends stay plain.
            proxy_sock = eventlet.wrap_ssl(
                proxy_sock, certfile=os.path.abspath(args.tls_cert),
                keyfile=os.path.abspath(args.tls_key), server_side=True)
        socks = {'proxy': proxy_sock}
        ports = {}
        for kind in ('account', 'container', 'object'):
            socks[kind] = eventlet.listen(('127.0.0.1', 0))
            ports[kind] = socks[kind].getsockname()[1]

        write_configs(etc, srv, 'INFO', ports, args.host, proxy_port)
        build_rings(etc, ports)

        utils.set_swift_dir(etc)
        from swift.common import constraints
        constraints.reload_constraints()
        from swift.common import storage_policy
        storage_policy.reload_storage_policies()
        from swift.common import wsgi as swift_wsgi

        apps = {}
        for kind in ('account', 'container', 'object', 'proxy'):
            conf = os.path.join(etc, f'{kind}-server.conf')
            apps[kind] = swift_wsgi.loadapp(
                conf, global_conf={'log_name': f'{kind}-server'})

        for kind, app in apps.items():
            eventlet.spawn_n(
                eventlet.wsgi.server, socks[kind], app,
                utils.NullLogger(),
                custom_pool=eventlet.GreenPool(1024),
                protocol=swift_wsgi.SwiftHttpProtocol,
                socket_timeout=120,
                # the AWS SDKs need "ETag", not "Etag"
                capitalize_response_headers=False)

        with open(pid_path, 'w') as f:
            f.write(f'{os.getpid()}\n')

        tls = bool(args.tls_cert)
        wait_ready(args.host, proxy_port, args.bucket, started + 60, tls=tls)

        endpoint_host = args.host if ':' not in args.host \
            else f'[{args.host}]'
        ready = {
            'endpoint': f'{"https" if tls else "http"}://{endpoint_host}:'
                        f'{proxy_port}',
            'host': args.host,
            'port': proxy_port,
            'access_key': ACCESS_KEY,
            'secret_key': SECRET_KEY,
            'region': REGION,
            'pid': os.getpid(),
        }
        tmp = os.path.join(top, 'ready.json.tmp')
        with open(tmp, 'w') as f:
            json.dump(ready, f)
            f.write('\n')
        os.rename(tmp, os.path.join(top, 'ready.json'))
        log.info('ready at %s after %.2f s (pid %d)', ready['endpoint'],
                 time.time() - started, os.getpid())

        while not stopping:
            eventlet.sleep(0.2)
        log.info('stopping on signal %d', stopping[0])
        status = 0
    except Exception:
        log.error('fatal error:\n%s', traceback.format_exc())
        sys.stderr.write(traceback.format_exc())
        status = 1

    try:
        os.unlink(pid_path)
    except FileNotFoundError:
        pass
    logging.shutdown()
    logstream.flush()
    # Skip interpreter teardown: eventlet's hub and tpool threads can make a
    # normal exit hang, and there is nothing left to flush.
    os._exit(status)


if __name__ == '__main__':
    main(sys.argv[1:])
