"""Machinery of the tbdr benchmark (bench/bench.py): the scratch directory,
the S3 server, the PostgreSQL cluster, pgBackRest and tbdr configuration,
timing and CPU accounting.  Nothing here measures a scenario."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

MiB = 1024 * 1024
BUCKET = 'bench'
STANZA = 'bench'
CLK_TCK = os.sysconf('SC_CLK_TCK')

_logf = None


class BenchError(Exception):
    pass


def log(msg):
    line = time.strftime('%H:%M:%S ') + msg
    print(line, flush=True)
    if _logf:
        _logf.write(line + '\n')
        _logf.flush()


def section(title):
    log('')
    log(f'== {title}')


def rnd(x):
    if x is None:
        return None
    if isinstance(x, int):
        return x
    return round(x, 3) if abs(x) < 1000 else round(x, 1)


def fmt(v):
    if v is None:
        return 'n/a'
    if isinstance(v, int) or (isinstance(v, float) and abs(v) >= 1e6):
        v = float(v)
        for unit, div in (('G', 1e9), ('M', 1e6)):
            if abs(v) >= div:
                return f'{v / div:.1f}{unit}'
        return f'{v:.0f}'
    if abs(v) >= 100:
        return f'{v:.0f}'
    if abs(v) >= 10:
        return f'{v:.1f}'
    return f'{v:.2f}'


class Timed:
    def __init__(self, wall, cpu, rc):
        self.wall = wall
        self.cpu = cpu
        self.rc = rc


def timed(cmd, cwd=None, check=True, env=None):
    """Run cmd; wall seconds and CPU seconds (user+sys of it and of every
    descendant it waited for, from wait4)."""
    log('  $ ' + ' '.join(cmd))
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=_logf or subprocess.DEVNULL,
                         stderr=subprocess.STDOUT if _logf else None)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if check and p.returncode != 0:
        raise BenchError(f'{cmd[0]} {" ".join(cmd[1:3])}... exited with '
                         f'{p.returncode} (see the log)')
    return Timed(wall, ru.ru_utime + ru.ru_stime, p.returncode)


def run(cmd, check=True, capture=False, cwd=None, env=None, timeout=None):
    r = subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout, text=True,
                       stdout=subprocess.PIPE if capture else (_logf or subprocess.DEVNULL),
                       stderr=subprocess.PIPE if capture else subprocess.STDOUT)
    if check and r.returncode != 0:
        detail = (r.stderr or '').strip()[-2000:] if capture else '(see the log)'
        raise BenchError(f'{" ".join(cmd[:4])}... exited with {r.returncode}: {detail}')
    return r


def random_file(path, size):
    """size bytes that do not compress (cheaper than /dev/urandom: a hash
    chain expanded by repetition-free blocks)."""
    block = 4 * MiB
    with open('/dev/urandom', 'rb') as rnd_src, open(path, 'wb') as f:
        left = size
        while left > 0:
            n = min(block, left)
            f.write(rnd_src.read(n))
            left -= n


def same_file(a, b):
    def digest(p):
        h = hashlib.sha256()
        with open(p, 'rb') as f:
            for chunk in iter(lambda: f.read(4 * MiB), b''):
                h.update(chunk)
        return h.digest()
    return digest(a) == digest(b)


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def window_tps(samples, t0, t1):
    """Mean TPS of pgbench progress samples [(end_time, tps)] that fall in
    [t0, t1] (each sample covers the second before its time)."""
    xs = [tps for ts, tps in samples if t0 <= ts - 0.5 <= t1]
    if not xs:
        near = sorted(samples, key=lambda s: abs(s[0] - (t0 + t1) / 2))
        xs = [near[0][1]] if near else []
    return sum(xs) / len(xs) if xs else 0.0


def free_port():
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_table():
    """{pid: (ppid, ticks)} of every process, ticks = utime+stime+cutime+
    cstime (a process's own CPU plus that of the children it reaped)."""
    out = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open(f'/proc/{d}/stat') as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(')') + 2:].split()
        # rest[0] is field 3 (state): ppid is field 4, utime..cstime 14..17
        out[int(d)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
    return out


def our_pids(marker):
    """PIDs of our processes whose command line contains marker (the scratch
    directory: only processes started by this benchmark name it)."""
    pids = []
    me = os.getuid()
    for d in os.listdir('/proc'):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            if os.stat(f'/proc/{d}').st_uid != me:
                continue
            with open(f'/proc/{d}/cmdline', 'rb') as f:
                cmd = f.read().decode(errors='replace')
        except OSError:
            continue
        if marker in cmd:
            pids.append(int(d))
    return pids


def kill_wait(pids, timeout=10):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                pass
            time.sleep(0.1)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class S3:
    """botocore client of the test S3 server, for sizes and clean-up."""

    def __init__(self, ready, ca):
        import botocore.config
        import botocore.session
        sess = botocore.session.get_session()
        self.c = sess.create_client(
            's3', endpoint_url=ready['endpoint'], region_name=ready['region'],
            aws_access_key_id=ready['access_key'],
            aws_secret_access_key=ready['secret_key'], verify=ca,
            config=botocore.config.Config(s3={'addressing_style': 'path'},
                                          retries={'max_attempts': 5}))

    def keys(self, prefix):
        token = None
        while True:
            kw = {'Bucket': BUCKET, 'Prefix': prefix}
            if token:
                kw['ContinuationToken'] = token
            r = self.c.list_objects_v2(**kw)
            for o in r.get('Contents', []):
                yield o['Key'], o['Size']
            if not r.get('IsTruncated'):
                return
            token = r['NextContinuationToken']

    def prefix_bytes(self, prefix):
        return sum(size for _, size in self.keys(prefix))

    def delete_prefix(self, prefix):
        keys = [k for k, _ in self.keys(prefix)]
        for i in range(0, len(keys), 1000):
            self.c.delete_objects(Bucket=BUCKET, Delete={
                'Objects': [{'Key': k} for k in keys[i:i + 1000]],
                'Quiet': True})


class PG:
    """The throwaway PostgreSQL 15 cluster (tbdr preloaded, archive_mode on)."""

    def __init__(self, env):
        self.env = env
        self.data = os.path.join(env.work, 'pgdata')
        self.port = free_port()
        self.sock = env.work
        self.logfile = os.path.join(env.work, 'postgres.log')
        self.pid = None

    def init(self):
        run(['initdb', '-D', self.data, '-U', 'postgres', '-A', 'trust',
             '--no-sync'])
        with open(os.path.join(self.data, 'postgresql.conf'), 'a') as f:
            f.write(f"""
# tbdr benchmark
port = {self.port}
listen_addresses = ''
unix_socket_directories = '{self.sock}'
shared_preload_libraries = 'tbdr'
shared_buffers = 256MB
max_wal_size = 4GB
min_wal_size = 256MB
checkpoint_timeout = 30min
archive_mode = on
archive_command = 'true'
max_wal_senders = 4
log_checkpoints = on
log_line_prefix = '%m [%p] '
include_if_exists = 'tbdr.conf'
""")
        with open(os.path.join(self.data, 'tbdr.conf'), 'w') as f:
            f.write(self.env.tbdr_settings(''))
        self.start()

    def start(self):
        run(['pg_ctl', '-D', self.data, '-l', self.logfile, '-w', '-t', '120',
             'start'])
        with open(os.path.join(self.data, 'postmaster.pid')) as f:
            self.pid = int(f.readline())

    def stop(self):
        if self.pid is None:
            return
        r = run(['pg_ctl', '-D', self.data, '-m', 'fast', '-w', '-t', '60',
                 'stop'], check=False)
        if r.returncode != 0:
            kill_wait([self.pid])
        self.pid = None

    def recover(self):
        """After a failed scenario: the server up, archiving not paused, no
        backlog pinned, so that the next scenario starts clean."""
        try:
            if self.pid is None or not os.path.exists(
                    os.path.join(self.data, 'postmaster.pid')):
                self.start()
            self.set_archiving('', 'true')
            self.set('wal_keep_size', '0')
        except BenchError as e:
            log(f'could not reset the server after a failure: {e}')

    def psql_cmd(self, q, db='postgres'):
        return ['psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-h', self.sock,
                '-p', str(self.port), '-U', 'postgres', '-d', db, '-c', q]

    def sql(self, *queries):
        cmd = self.psql_cmd(queries[0])
        for q in queries[1:]:
            cmd += ['-c', q]
        return run(cmd, capture=True).stdout.strip()

    def set(self, name, value):
        self.sql(f"ALTER SYSTEM SET {name} = '{value}'", 'SELECT pg_reload_conf()')

    def set_archiving(self, library, command):
        """archive_library and archive_command, then a reload; waits until
        the archiver runs with them (a changed archive_library restarts the
        archiver process)."""
        cur_library = self.sql('SHOW archive_library')
        old_archiver = self.archiver_pid()
        command = command.replace("'", "''")
        self.sql(f"ALTER SYSTEM SET archive_library = '{library}'",
                 f"ALTER SYSTEM SET archive_command = '{command}'",
                 'SELECT pg_reload_conf()')
        if cur_library != library:
            self.wait_archiver_restart(old_archiver)

    def wait_archiver_restart(self, old):
        """After archive_library changed the archiver (old, its pid before
        the change) exits; PostgreSQL 15 starts the next one at once, or,
        within 10 s of the previous start, only when the postmaster's loop
        wakes after that (up to a minute later; a connection wakes it).
        Wait for the new archiver, so that no timing includes that gap."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pid = self.archiver_pid()
            if pid and pid != old:
                time.sleep(0.5)         # let it load the archive module
                return
            run(['pg_isready', '-q', '-h', self.sock, '-p', str(self.port)],
                check=False)
            time.sleep(0.2)
        raise BenchError('no new archiver process 120 s after archive_library '
                         'changed')

    def archiver_pid(self):
        """The archiver process (a child of the postmaster titled
        "postgres: archiver ...")."""
        for pid, (ppid, _) in proc_table().items():
            if ppid != self.pid:
                continue
            try:
                with open(f'/proc/{pid}/cmdline', 'rb') as f:
                    if f.read().startswith(b'postgres: archiver'):
                        return pid
            except OSError:
                pass
        return None

    def pause_archiving(self):
        """Segments stay .ready (the archiver fails and retries)."""
        self.set_archiving('', 'false')

    def status_dir(self):
        return os.path.join(self.data, 'pg_wal', 'archive_status')

    def ready_set(self):
        return {f[:-6] for f in os.listdir(self.status_dir())
                if f.endswith('.ready')}

    def _rename(self, segs, a, b):
        d = self.status_dir()
        for s in segs:
            os.rename(os.path.join(d, s + a), os.path.join(d, s + b))

    def mark_ready(self, segs):
        self._rename(segs, '.done', '.ready')

    def mark_done(self, segs):
        self._rename(segs, '.ready', '.done')

    def wake_archiver(self):
        self.sql('SELECT pg_reload_conf()')

    def wait_archived(self, segs, timeout):
        d = self.status_dir()
        deadline = time.monotonic() + timeout
        want = {s + '.done' for s in segs}
        while time.monotonic() < deadline:
            if want <= set(os.listdir(d)):
                return
            time.sleep(0.02)
        raise BenchError(f'segments not archived after {timeout} s '
                         f'({len(want - set(os.listdir(d)))} left)')

    def archiver_stats(self):
        r = self.sql('SELECT archived_count, failed_count '
                     'FROM pg_stat_archiver').split('|')
        return {'archived_count': int(r[0]), 'failed_count': int(r[1])}

    def tree_cpu(self):
        """CPU seconds of the postmaster and every descendant so far
        (children that exited are in their parent's cutime/cstime)."""
        procs = proc_table()
        children = {}
        for pid, (ppid, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        total, todo = 0, [self.pid]
        while todo:
            p = todo.pop()
            if p in procs:
                total += procs[p][1]
            todo.extend(children.get(p, []))
        return total / CLK_TCK

    def pgbench_init(self, scale):
        log(f'  pgbench -i -s {scale}')
        run(['pgbench', '-i', '-q', '-s', str(scale), '-h', self.sock,
             '-p', str(self.port), '-U', 'postgres', 'postgres'])
        self.sql('CHECKPOINT')

    def drop_pgbench(self):
        run(['pgbench', '-i', '-I', 'd', '-h', self.sock, '-p', str(self.port),
             '-U', 'postgres', 'postgres'])

    def md5_table(self, mb):
        rows = mb * MiB // 104
        log(f'  md5 text table: {rows} rows')
        self.sql('DROP TABLE IF EXISTS bench_md5',
                 'CREATE TABLE bench_md5 (id int, a text, b text)',
                 f'INSERT INTO bench_md5 SELECT g, md5(g::text), '
                 f"md5(g::text || 'x') FROM generate_series(1, {rows}) g",
                 'VACUUM ANALYZE bench_md5', 'CHECKPOINT')

    def db_bytes(self):
        return int(self.sql("SELECT pg_database_size('postgres')"))

    def pgbench_cmd(self, *args):
        return (['pgbench', '-h', self.sock, '-p', str(self.port), '-U',
                 'postgres'] + list(args) + ['postgres'])

    def generate_wal(self, n, workload):
        """With archiving paused, run a workload until n segments are ready;
        returns their names, marked .done (the backlog runs mark them ready
        again, so that every run archives the same WAL)."""
        if workload == 'pgbench':
            # pgbench's TPC-B runs at a few hundred transactions per second
            # here (well under 1 MB/s of WAL: hours for 128 segments), so the
            # backlog is the WAL of pgbench's data load (COPY into
            # pgbench_accounts, index builds), stopped once n segments are
            # ready.  It compresses very well; the md5 workload does not.
            args = ['-i', '-q', '-s', str(max(10, n * 2))]
        else:
            script = os.path.join(self.env.work, 'md5wal.sql')
            with open(script, 'w') as f:
                f.write('INSERT INTO bench_md5wal SELECT g, '
                        "md5(random()::text) || md5(random()::text) "
                        'FROM generate_series(1, 2000) g;\n')
            self.sql('DROP TABLE IF EXISTS bench_md5wal',
                     'CREATE TABLE bench_md5wal (id int, t text)')
            args = ['-n', '-c', '2', '-j', '2', '-T', '7200', '-f', script]
        # nothing ready from before: the backlog is exactly what follows
        self.set_archiving('', 'true')
        self.sql('SELECT pg_switch_wal()')
        deadline = time.monotonic() + 60
        while self.ready_set() and time.monotonic() < deadline:
            self.wake_archiver()
            time.sleep(0.2)
        self.pause_archiving()
        before = self.ready_set()
        log(f'  generating {n} WAL segments ({workload}), archiving paused')
        p = subprocess.Popen(self.pgbench_cmd(*args), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.env.children.append(p)
        t0 = time.monotonic()
        try:
            while len(self.ready_set() - before) < n:
                if p.poll() is not None:
                    raise BenchError(f'pgbench exited with {p.returncode}')
                if time.monotonic() - t0 > 3600:
                    raise BenchError('WAL generation took over an hour')
                time.sleep(0.5)
        finally:
            kill_wait([p.pid])
            self.env.children.remove(p)
        self.sql('SELECT pg_switch_wal()')
        time.sleep(1)
        segs = sorted(self.ready_set() - before)
        log(f'  {len(segs)} segments in {time.monotonic() - t0:.0f} s')
        self.mark_done(segs)
        if workload == 'md5':
            self.sql('DROP TABLE bench_md5wal')
        else:
            self.drop_pgbench()
        return segs

    def start_pgbench(self, clients):
        out = open(os.path.join(self.env.work, 'pgbench-progress.log'), 'w+')
        p = subprocess.Popen(self.pgbench_cmd(
            '-n', '-c', str(clients), '-j', '2', '-T', '7200', '-P', '1',
            '--progress-timestamp'), stdout=subprocess.DEVNULL, stderr=out)
        self.env.children.append(p)
        return p, out

    def stop_pgbench(self, handle):
        p, out = handle
        kill_wait([p.pid])
        self.env.children.remove(p)
        out.seek(0)
        samples = []
        for line in out:
            # progress: 1701300000.123 s, 512.3 tps, lat 7.8 ms stddev 2.1, ...
            if line.startswith('progress:'):
                parts = line.split()
                try:
                    samples.append((float(parts[1]), float(parts[3])))
                except (IndexError, ValueError):
                    pass
        out.close()
        return samples


# The newest PostgreSQL major version of pgBackRest releases this harness
# knows: Debian 12 ships 2.45, which supports up to 15 (16 came with 2.46).
PGBR_MAX_PG = {(2, 45): 15}


def pgbr_supports(version_line, pg_major):
    """Whether "pgBackRest X.Y" supports PostgreSQL pg_major (a release
    this harness does not know is assumed to)."""
    m = re.search(r'(\d+)\.(\d+)', version_line)
    known = [v for k, v in PGBR_MAX_PG.items()
             if m and (int(m.group(1)), int(m.group(2))) <= k]
    return not known or pg_major <= min(known)


class Env:
    """Everything a run needs, and its clean-up."""

    def __init__(self, keep=False):
        self.keep = keep
        self.work = None
        self.s3proc = None
        self.pg = None
        self.children = []
        self.conf_seq = 0

    # -- setup and teardown ------------------------------------------------

    def setup(self):
        global _logf
        base = os.environ.get('BENCH_DIR') or None
        self.work = tempfile.mkdtemp(prefix='tbdr-bench.', dir=base)
        os.chmod(self.work, 0o700)
        self.logpath = os.path.join(self.work, 'bench.log')
        self.logf = _logf = open(self.logpath, 'a')
        bindir = run(['pg_config', '--bindir'], capture=True).stdout.strip()
        os.environ['PATH'] = bindir + ':' + os.environ['PATH']
        self.tbdr = os.path.join(bindir, 'tbdr')
        if not os.access(self.tbdr, os.X_OK):
            raise BenchError(f'{self.tbdr} is not installed (make install)')
        for prog in ('pgbackrest', '/usr/bin/aws', 'openssl'):
            if not shutil.which(prog):
                raise BenchError(f'{prog} is missing (bash .ci/install-deps)')
        pgbr_version = run(['pgbackrest', 'version'], capture=True).stdout.strip()
        self.pg_major = int(re.match(r'PostgreSQL (\d+)', run(
            ['pg_config', '--version'], capture=True).stdout).group(1))
        self.pgbr_supported = pgbr_supports(pgbr_version, self.pg_major)
        log(f'scratch {self.work}; {pgbr_version}; tbdr {self.tbdr}; '
            f'PostgreSQL {self.pg_major}'
            + ('' if self.pgbr_supported else
               f' (not supported by {pgbr_version}: tbdr measured alone)'))
        self.start_s3()
        self.pg = PG(self)
        self.pg.init()
        self.extension_error = None
        try:
            self.pg.sql('CREATE EXTENSION IF NOT EXISTS tbdr')
        except BenchError as e:
            # only the base backup scenarios need the SQL functions
            self.extension_error = str(e)
            log(f'CREATE EXTENSION tbdr failed: {e}')
        self.bucket = BUCKET
        for d in ('pgbr-spool', 'pgbr-lock', 'pgbr-log', 'conf'):
            os.makedirs(os.path.join(self.work, d))

    def start_s3(self):
        cert = os.path.join(self.work, 'cert.pem')
        key = os.path.join(self.work, 'key.pem')
        run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
             '-keyout', key, '-out', cert, '-days', '2', '-subj',
             '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'])
        self.cert = cert
        server = os.environ.get('BENCH_S3SERVER') or os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            'test', 's3server', 'tbdr_s3server.py')
        s3dir = os.path.join(self.work, 's3')
        out = open(os.path.join(self.work, 's3server.out'), 'w')
        self.s3proc = subprocess.Popen(
            ['/usr/bin/python3', server, '--dir', s3dir, '--bucket', BUCKET,
             '--tls-cert', cert, '--tls-key', key], stdout=out,
            stderr=subprocess.STDOUT)
        ready = os.path.join(s3dir, 'ready.json')
        deadline = time.monotonic() + 120
        while not os.path.exists(ready):
            if self.s3proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError('the S3 server did not start (see '
                                 f'{s3dir}/server.log)')
            time.sleep(0.2)
        with open(ready) as f:
            self.ready = json.load(f)
        self.endpoint = self.ready['endpoint']
        log(f'S3 server {self.endpoint} (pid {self.s3proc.pid})')
        self.s3 = S3(self.ready, cert)
        os.environ.update({
            'AWS_ACCESS_KEY_ID': self.ready['access_key'],
            'AWS_SECRET_ACCESS_KEY': self.ready['secret_key'],
            'AWS_DEFAULT_REGION': self.ready['region'],
            'AWS_CA_BUNDLE': cert,
        })

    def teardown(self):
        global _logf
        for p in list(self.children):
            kill_wait([p.pid])
        if self.pg:
            try:
                self.pg.stop()
            except Exception as e:      # keep tearing down
                log(f'stopping PostgreSQL: {e}')
        if self.work:
            kill_wait(our_pids(self.work))
        if self.s3proc and self.s3proc.poll() is None:
            kill_wait([self.s3proc.pid])
            self.s3proc.wait()
        if self.work:
            if _logf:
                _logf.close()
                _logf = None
            if self.keep:
                print(f'kept {self.work}')
            else:
                shutil.rmtree(self.work, ignore_errors=True)

    def log_tail(self, n=40):
        try:
            with open(self.logpath) as f:
                return ''.join(f.readlines()[-n:])
        except OSError:
            return ''

    # -- tbdr ---------------------------------------------------------------

    def tbdr_settings(self, repo, **extra):
        lines = [f"tbdr.repository = 's3://{BUCKET}/{repo}'" if repo else
                 f"tbdr.repository = 's3://{BUCKET}/unused'",
                 f"tbdr.s3_endpoint = '{self.endpoint}'",
                 f"tbdr.s3_region = '{self.ready['region']}'",
                 "tbdr.s3_uri_style = 'path'",
                 f"tbdr.s3_access_key_id = '{self.ready['access_key']}'",
                 f"tbdr.s3_secret_access_key = '{self.ready['secret_key']}'",
                 "tbdr.s3_verify_tls = off",
                 "tbdr.compression = 'zstd'",
                 "tbdr.compression_level = 3"]
        lines += [f"tbdr.{k} = '{v}'" for k, v in extra.items()]
        # BENCH_TBDR_SETTINGS="backup_max_rate=40,backup_parallel=1": what a
        # DBA would set, for runs that compare settings
        for item in os.environ.get('BENCH_TBDR_SETTINGS', '').split(','):
            if '=' in item:
                k, v = item.split('=', 1)
                lines.append(f"tbdr.{k.strip()} = '{v.strip()}'")
        return '\n'.join(lines) + '\n'

    def tbdr_cli_conf(self, repo, **extra):
        self.conf_seq += 1
        path = os.path.join(self.work, 'conf', f'tbdr-{self.conf_seq}.conf')
        with open(path, 'w') as f:
            f.write(self.tbdr_settings(repo, **extra))
        os.chmod(path, 0o600)
        return path

    def use_tbdr_repo(self, repo):
        """The server's tbdr.conf (also read by tbdr archive-push) now names
        repo; takes effect at the next reload."""
        path = os.path.join(self.pg.data, 'tbdr.conf')
        with open(path, 'w') as f:
            f.write(self.tbdr_settings(repo))
        self.pg.sql('SELECT pg_reload_conf()')

    def tbdr_archive_command(self):
        return f"{self.tbdr} -c {self.pg.data}/tbdr.conf archive-push %p"

    def _tbdr_help(self, cmd):
        r = run([self.tbdr, cmd, '--help'], check=False, capture=True)
        return r.returncode, r.stdout + r.stderr

    def tbdr_has_restore(self):
        rc, _ = self._tbdr_help('restore')
        return rc == 0

    def tbdr_has_backup(self):
        if self.extension_error:
            return False
        return self.pg.sql("SELECT count(*) FROM pg_proc "
                           "WHERE proname = 'tbdr_backup_now'") != '0'

    def tbdr_restore_cmd(self, cfg, target):
        return [self.tbdr, '-c', cfg, 'restore', '--no-progress', '--as',
                'copy', '--pgdata', target]

    def psql_cmd(self, q):
        return self.pg.psql_cmd(q)

    # -- pgBackRest ---------------------------------------------------------

    def pgbr_conf(self, repo, archive_async, pg_path=None):
        self.conf_seq += 1
        path = os.path.join(self.work, 'conf', f'pgbackrest-{self.conf_seq}.conf')
        r = self.ready
        with open(path, 'w') as f:
            f.write(f"""[global]
repo1-type=s3
repo1-s3-endpoint={r['host']}
repo1-storage-port={r['port']}
repo1-s3-bucket={BUCKET}
repo1-s3-region={r['region']}
repo1-s3-key={r['access_key']}
repo1-s3-key-secret={r['secret_key']}
repo1-s3-uri-style=path
repo1-storage-verify-tls=n
repo1-path=/{repo}
repo1-retention-full=99
compress-type=zst
process-max=2
start-fast=y
archive-async={'y' if archive_async else 'n'}
spool-path={self.work}/pgbr-spool
lock-path={self.work}/pgbr-lock
log-path={self.work}/pgbr-log
log-level-console=warn
log-level-file=info

[global:archive-push]
process-max=2

[{STANZA}]
pg1-path={pg_path or self.pg.data}
pg1-socket-path={self.pg.sock}
pg1-port={self.pg.port}
pg1-user=postgres
""")
        os.chmod(path, 0o600)
        return path

    def pgbr_cmd(self, conf):
        return ['pgbackrest', f'--config={conf}', f'--stanza={STANZA}']

    def pgbr(self, conf, *args):
        return run(self.pgbr_cmd(conf) + list(args))

    def pgbr_archive_command(self, conf):
        return f'pgbackrest --config={conf} --stanza={STANZA} archive-push %p'

    def pgbr_stop_async(self, conf):
        """pgBackRest's async processes detach; stop the ones of conf."""
        kill_wait(our_pids(conf))

    def reset_pgbr_spool(self):
        spool = os.path.join(self.work, 'pgbr-spool')
        shutil.rmtree(spool, ignore_errors=True)
        os.makedirs(spool)

    def aws_cmd(self, *args):
        return ['/usr/bin/aws', '--endpoint-url', self.endpoint] + list(args)


def fail_exit(msg):
    print(f'bench: {msg}', file=sys.stderr)
    sys.exit(1)
