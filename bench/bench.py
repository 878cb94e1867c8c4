#!/usr/bin/python3
"""tbdr side by side with pgBackRest 2.45 on the same S3 server (make bench).

Run through bench/run (which installs, builds and drops root); see the
environment variables documented there and in bench/README.md.

A benchmark, not a test: nothing here asserts a timing.  Every scenario runs
both tools in the same run, alternating which goes first, and reports the
median and the spread (min..max) of its repetitions.  A tbdr feature that is
not in this build (base backups, restore, prefetch) is reported as "not
available", never estimated.

Everything lives in one scratch directory under /tmp; every process started
here is stopped by its PID at exit (pgBackRest's detached async processes are
found by the scratch path in their command line, which only ours contain).
"""

import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import benchlib as L  # noqa: E402
from benchlib import log  # noqa: E402

MiB = 1024 * 1024
WAL_SEG = 16 * MiB


def env_int(name, default):
    v = os.environ.get(name, '')
    return int(v) if v.strip() else default


QUICK = bool(os.environ.get('BENCH_QUICK'))
FULL = bool(os.environ.get('BENCH_FULL'))
REPS = env_int('BENCH_REPS', 1 if QUICK else 3)
WAL_SEGMENTS = env_int('BENCH_WAL_SEGMENTS', 8 if QUICK else 128)
SCALE = env_int('BENCH_SCALE', 5 if QUICK else 100)
OBJECT_MB = env_int('BENCH_OBJECT_MB', 64 if QUICK else 1024)
MD5_MB = env_int('BENCH_MD5_MB', 16 if QUICK else 1024)
PGBENCH_CLIENTS = 4
TPS_BASE_SECS = 5 if QUICK else 15   # TPS window before the backup
ALL_GROUPS = ['objstore', 'wal_backlog', 'wal_fetch', 'backup', 'restore',
              'tps', 'scaling', 'md5']
GROUPS = [g.strip() for g in os.environ.get('BENCH_SCENARIOS', '').split(',')
          if g.strip()] or ALL_GROUPS
RESULTS = os.environ.get('BENCH_RESULTS') or os.path.join(HERE, 'results.json')
KEEP = bool(os.environ.get('BENCH_KEEP'))

# Targets of issue 6 (tbdr/pgBackRest ratios of medians), for the table.
TARGETS = {
    'objstore_put': '>= 1.0', 'objstore_get': '>= 1.0',
    'wal_backlog_vs_sync': '<= 0.5', 'wal_backlog_vs_async': '<= 0.8',
    'wal_fetch_vs_sync': '<= 1.0', 'wal_fetch_vs_async': '<= 1.0',
    'backup_wall': '<= 0.7', 'backup_stored_bytes': '<= 1.1',
    'restore_wall': '<= 0.7', 'tps_loss_during_backup': 'tbdr <= 10%',
    'md5_backup_wall': '<= 0.7', 'md5_backup_stored_bytes': '<= 1.1',
    'md5_wal_backlog_vs_sync': '<= 0.5', 'md5_wal_backlog_vs_async': '<= 0.8',
}


# The order of the table: the scenarios in its order.
ORDER = ['objstore_put', 'objstore_get', 'wal_backlog_vs_sync',
         'wal_backlog_vs_async', 'wal_backlog_push_vs_sync',
         'wal_backlog_stored_bytes', 'wal_fetch_vs_sync', 'wal_fetch_vs_async',
         'backup_wall', 'backup_cpu', 'backup_stored_bytes', 'restore_wall',
         'tps_loss_during_backup', 'tps_loss_backup_api_only',
         'md5_backup_wall', 'md5_backup_cpu',
         'md5_backup_stored_bytes', 'md5_wal_backlog_vs_sync',
         'md5_wal_backlog_vs_async', 'md5_wal_backlog_push_vs_sync',
         'md5_wal_backlog_stored_bytes']


def table_order(names):
    def key(n):
        if n in ORDER:
            return (ORDER.index(n), 0, n)
        m = n.rsplit('_s', 1)
        if n.startswith('scaling_') and m[-1].isdigit():
            return (len(ORDER), int(m[-1]), n)
        return (len(ORDER) + 1, 0, n)
    return sorted(names, key=key)


class Results:
    """bench/results.json: {scenario: {tbdr, pgbackrest, unit, ratio, runs,
    samples, spread, ...}}, merged into what an earlier run left, so that a
    run of some groups (BENCH_SCENARIOS) keeps the others."""

    def __init__(self, path):
        self.path = path
        self.data = {}
        self.order = []
        if os.path.exists(path):
            try:
                with open(path) as f:
                    self.data = json.load(f)
            except (OSError, ValueError):
                self.data = {}

    def add(self, name, unit, tbdr, pgbr, better='lower', tbdr_what='tbdr',
            pgbr_what='pgBackRest', note=None, extra=None):
        """tbdr and pgbr: lists of samples, or None when not available."""
        def summary(xs):
            if not xs:
                return None, None
            return statistics.median(xs), [min(xs), max(xs)]

        tm, tspread = summary(tbdr)
        pm, pspread = summary(pgbr)
        ratio = None
        if tm is not None and pm:
            ratio = round(tm / pm, 3)
        r = {
            'tbdr': L.rnd(tm), 'pgbackrest': L.rnd(pm), 'unit': unit,
            'ratio': ratio,
            'runs': max(len(tbdr or []), len(pgbr or [])),
            'better': better,
            'samples': {'tbdr': [L.rnd(x) for x in tbdr or []],
                        'pgbackrest': [L.rnd(x) for x in pgbr or []]},
            'spread': {'tbdr': [L.rnd(x) for x in tspread] if tspread else None,
                       'pgbackrest': [L.rnd(x) for x in pspread]
                       if pspread else None},
            'what': {'tbdr': tbdr_what, 'pgbackrest': pgbr_what},
            'target': TARGETS.get(name),
            'quick': QUICK,
            'measured_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        }
        if note:
            r['note'] = note
        if extra:
            r.update(extra)
        self.data[name] = r
        self.order.append(name)
        self.save()
        log(f'result {name}: tbdr {r["tbdr"]} pgbackrest {r["pgbackrest"]} '
            f'{unit} ratio {ratio}' + (f' ({note})' if note else ''))

    def save(self):
        tmp = self.path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(self.data, f, indent=2, sort_keys=True)
            f.write('\n')
        os.replace(tmp, self.path)

    def table(self, names=None):
        names = names or self.order
        rows = [('scenario', 'unit', 'tbdr (min..max)', 'pgBackRest (min..max)',
                 'ratio', 'target')]

        for n in names:
            r = self.data[n]
            rows.append((n, r['unit'], cell(r, 'tbdr'), cell(r, 'pgbackrest'),
                         '-' if r['ratio'] is None else f'{r["ratio"]:.2f}',
                         r.get('target') or ''))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = []
        for i, row in enumerate(rows):
            lines.append('  '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            if i == 0:
                lines.append('  '.join('-' * w for w in widths))
        return '\n'.join(lines)

    def markdown(self, names=None):
        names = names or self.order
        out = ['| scenario | unit | tbdr | pgBackRest | ratio | target |',
               '|---|---|---|---|---|---|']
        for n in names:
            r = self.data[n]

            out.append(f'| {n} | {r["unit"]} | {cell(r, "tbdr")} | '
                       f'{cell(r, "pgbackrest")} | '
                       f'{"-" if r["ratio"] is None else "%.2f" % r["ratio"]} | '
                       f'{r.get("target") or ""} |')
        return '\n'.join(out)


def cell(r, k):
    """A table cell: the median of tool k, with its spread."""
    v = r.get(k)
    if v is None:
        return 'not available'
    s = r['spread'].get(k)
    if s and r['runs'] > 1:
        return f'{L.fmt(v)} ({L.fmt(s[0])}..{L.fmt(s[1])})'
    return L.fmt(v)


def alternate(rep, items):
    """The order of the tools in repetition rep: alternating who goes first."""
    return items if rep % 2 == 0 else list(reversed(items))


# ---------------------------------------------------------------------------
# Scenario 0: the object store, tbdr repo-put/repo-get vs aws s3 cp
# ---------------------------------------------------------------------------

def scenario_objstore(env, res):
    size = OBJECT_MB * MiB
    src = os.path.join(env.work, 'object.bin')
    out = os.path.join(env.work, 'object.out')
    L.random_file(src, size)
    cfg = env.tbdr_cli_conf('objstore')
    rates = {('tbdr', 'put'): [], ('tbdr', 'get'): [],
             ('aws', 'put'): [], ('aws', 'get'): []}
    for rep in range(REPS):
        for tool in alternate(rep, ['tbdr', 'aws']):
            key = f'objstore/{tool}-{rep}.bin'
            if tool == 'tbdr':
                put = [env.tbdr, '-c', cfg, 'repo-put', '--no-progress', src,
                       'object.bin']
                get = [env.tbdr, '-c', cfg, 'repo-get', '--no-progress',
                       'object.bin', out]
            else:
                url = f's3://{env.bucket}/{key}'
                put = env.aws_cmd('s3', 'cp', '--only-show-errors', src, url)
                get = env.aws_cmd('s3', 'cp', '--only-show-errors', url, out)
            t = L.timed(put)
            rates[(tool, 'put')].append(size / MiB / t.wall)
            t = L.timed(get)
            rates[(tool, 'get')].append(size / MiB / t.wall)
            if os.path.getsize(out) != size or not L.same_file(src, out):
                raise L.BenchError(f'{tool}: the downloaded object differs')
            os.unlink(out)
            env.s3.delete_prefix('objstore/')
    os.unlink(src)
    for op in ('put', 'get'):
        res.add(f'objstore_{op}', 'MiB/s', rates[('tbdr', op)],
                rates[('aws', op)], better='higher',
                tbdr_what=f'tbdr repo-{op}', pgbr_what=f'aws s3 cp ({op})',
                note=f'{OBJECT_MB} MiB of random bytes; the comparison is '
                     'awscli (issue 2), reported in the pgbackrest column',
                extra={'object_mib': OBJECT_MB})


# ---------------------------------------------------------------------------
# Scenarios 1 and 2: WAL backlog and WAL fetch
# ---------------------------------------------------------------------------

WAL_MODES = [
    # (name, tool, label)
    ('tbdr_module', 'tbdr', "tbdr archive_library = 'tbdr'"),
    ('tbdr_push', 'tbdr', "tbdr archive-push (archive_command)"),
    ('pgbr_sync', 'pgbr', 'pgBackRest archive-push, synchronous'),
    ('pgbr_async', 'pgbr', 'pgBackRest archive-push, async process-max=2'),
]


def wal_backlog_runs(env, segs, prefix, modes=None):
    """Archive the backlog segs with each mode, REPS times alternating.
    Returns {mode: {'secs': [...], 'bytes': [...]}} and the repository of the
    last repetition of each mode (for the fetch scenario)."""
    modes = modes or [m[0] for m in WAL_MODES
                      if m[1] == 'tbdr' or env.pgbr_supported]
    out = {m: {'secs': [], 'bytes': []} for m in modes}
    last_repo = {}
    for rep in range(REPS):
        for mode in alternate(rep, modes):
            repo = f'{prefix}/{mode}-{rep}'
            # The archiver is idle (the backlog is marked .done) while the
            # mode is set up; the clock starts when the segments become
            # ready, as when a paused archive is released.
            if mode.startswith('tbdr'):
                env.use_tbdr_repo(repo)
                cmd = (None if mode == 'tbdr_module'
                       else env.tbdr_archive_command())
                env.pg.set_archiving(library='tbdr' if cmd is None else '',
                                     command=cmd or '')
            else:
                conf = env.pgbr_conf(repo, archive_async=(mode == 'pgbr_async'))
                # the async spool remembers the segments it pushed (.ok
                # files) and would acknowledge them unpushed in the next run
                env.reset_pgbr_spool()
                env.pgbr(conf, 'stanza-create')
                env.pg.set_archiving(library='',
                                     command=env.pgbr_archive_command(conf))
            before = env.pg.archiver_stats()
            t0 = time.monotonic()
            env.pg.mark_ready(segs)
            env.pg.wake_archiver()
            env.pg.wait_archived(segs, timeout=3600)
            secs = time.monotonic() - t0
            after = env.pg.archiver_stats()
            if after['archived_count'] - before['archived_count'] < len(segs):
                raise L.BenchError(
                    f'{mode}: pg_stat_archiver counts '
                    f'{after["archived_count"] - before["archived_count"]} '
                    f'archived, expected {len(segs)}')
            sub = 'wal/' if mode.startswith('tbdr') else 'archive/'
            objs = list(env.s3.keys(f'{repo}/{sub}'))
            # every segment must really be in this run's repository; the
            # stored size counts exactly these segments
            names = {k.rsplit('/', 1)[-1][:24]: size for k, size in objs}
            stored = sum(names.get(x, 0) for x in segs)
            missing = [x for x in segs if x not in names]
            if missing:
                raise L.BenchError(f'{mode}: {len(missing)} of {len(segs)} '
                                   f'segments not in {repo}/{sub} '
                                   f'(first {missing[0]})')
            out[mode]['secs'].append(secs)
            out[mode]['bytes'].append(stored)
            log(f'  {mode} rep {rep}: {secs:.2f} s, {stored} bytes stored '
                f'in {len(objs)} objects')
            if mode.startswith('pgbr'):
                env.pgbr_stop_async(conf)
            last_repo[mode] = repo
    env.pg.set_archiving(library='', command='true')
    return out, last_repo


def report_backlog(res, name, out, nseg, note_extra=''):
    modes = {m[0]: m[2] for m in WAL_MODES}
    unit = 's'
    raw = nseg * WAL_SEG
    note = f'{nseg} segments ({raw // MiB} MiB) ready at release' + note_extra

    def get(m, k):
        return out.get(m, {}).get(k) or None

    extra = {'segments': nseg,
             'modes': {m: {'label': modes[m],
                           'median_s': L.rnd(statistics.median(v['secs']))
                           if v['secs'] else None,
                           'median_stored_bytes':
                           int(statistics.median(v['bytes']))
                           if v['bytes'] else None,
                           'samples_s': [L.rnd(x) for x in v['secs']]}
                       for m, v in out.items()}}
    pairs = [('vs_sync', 'tbdr_module', 'pgbr_sync'),
             ('vs_async', 'tbdr_module', 'pgbr_async'),
             ('push_vs_sync', 'tbdr_push', 'pgbr_sync')]
    for suffix, tm, pm in pairs:
        if tm not in out:
            continue
        res.add(f'{name}_{suffix}', unit, get(tm, 'secs'), get(pm, 'secs'),
                tbdr_what=modes[tm], pgbr_what=modes[pm], note=note,
                extra=extra)
    if 'tbdr_module' in out:
        res.add(f'{name}_stored_bytes', 'bytes', get('tbdr_module', 'bytes'),
                get('pgbr_sync', 'bytes'), tbdr_what=modes['tbdr_module'],
                pgbr_what=modes['pgbr_sync'],
                note=f'stored size of the {nseg} segments '
                     f'({raw} bytes raw), zstd level 3 both')


def wal_fetch_runs(env, segs, repos):
    """Fetch segs through restore_command, one call per segment in order as
    PostgreSQL's startup process makes them, into a scratch pg_wal."""
    fetchdir = os.path.join(env.work, 'fetch')
    modes = []
    if 'tbdr_module' in repos:
        modes += ['tbdr_noprefetch', 'tbdr_prefetch']
    if 'pgbr_sync' in repos:
        modes += ['pgbr_sync', 'pgbr_async']
    out = {m: [] for m in modes}
    spooled = {}
    for rep in range(REPS):
        for mode in alternate(rep, modes):
            # restore_command runs in the data directory: both tools read
            # pg_control there (tbdr's prefetch needs it, and spools into
            # pg_wal/tbdr-spool).
            shutil.rmtree(fetchdir, ignore_errors=True)
            os.makedirs(os.path.join(fetchdir, 'pg_wal'))
            os.makedirs(os.path.join(fetchdir, 'global'))
            shutil.copy(os.path.join(env.pg.data, 'global', 'pg_control'),
                        os.path.join(fetchdir, 'global'))
            if mode.startswith('tbdr'):
                cfg = env.tbdr_cli_conf(
                    repos['tbdr_module'],
                    restore_prefetch=0 if mode == 'tbdr_noprefetch' else 8)
                cmd = [env.tbdr, '-c', cfg, 'archive-get']
            else:
                conf = env.pgbr_conf(repos['pgbr_sync'],
                                     archive_async=(mode == 'pgbr_async'),
                                     pg_path=fetchdir)
                env.reset_pgbr_spool()
                cmd = env.pgbr_cmd(conf) + ['archive-get']
            dest = os.path.join(fetchdir, 'pg_wal', 'RECOVERYXLOG')
            t0 = time.monotonic()
            for s in segs:
                rc = subprocess.run(cmd + [s, dest], cwd=fetchdir,
                                    stdout=subprocess.DEVNULL,
                                    stderr=env.logf).returncode
                if rc != 0:
                    raise L.BenchError(f'{mode}: archive-get {s} exit {rc}')
                if os.path.getsize(dest) != WAL_SEG:
                    raise L.BenchError(f'{mode}: {s} has the wrong size')
                os.unlink(dest)
            secs = time.monotonic() - t0
            out[mode].append(secs)
            log(f'  {mode} rep {rep}: {secs:.2f} s')
            if mode == 'tbdr_prefetch':
                spooled['tbdr'] = os.path.isdir(
                    os.path.join(fetchdir, 'pg_wal', 'tbdr-spool'))
            # prefetchers still running past the end (both tools) stop here
            L.kill_wait(L.our_pids(fetchdir))
            if mode.startswith('pgbr'):
                env.pgbr_stop_async(conf)
    shutil.rmtree(fetchdir, ignore_errors=True)
    return out, spooled


def scenario_wal(env, res, groups, name='wal_backlog', workload='pgbench'):
    env.pg.set('wal_keep_size', '8GB')
    segs = env.pg.generate_wal(WAL_SEGMENTS, workload)
    log(f'{len(segs)} segments ready ({segs[0]} .. {segs[-1]})')
    modes = None
    out, repos = wal_backlog_runs(env, segs, f'{name}', modes)
    report_backlog(res, name, out, len(segs))
    if name == 'wal_backlog' and 'wal_fetch' in groups:
        fetch, spooled = wal_fetch_runs(env, segs, repos)
        prefetch_note = None
        if not spooled.get('tbdr'):
            prefetch_note = ('tbdr archive-get did not prefetch (no '
                             'pg_wal/tbdr-spool appeared): this build has no '
                             'prefetch')
        n = f'{len(segs)} segments, one restore_command call each, in order'
        res.add('wal_fetch_vs_sync', 's', fetch.get('tbdr_noprefetch'),
                fetch.get('pgbr_sync'),
                tbdr_what='tbdr archive-get, tbdr.restore_prefetch = 0',
                pgbr_what='pgBackRest archive-get, synchronous', note=n)
        res.add('wal_fetch_vs_async', 's', fetch.get('tbdr_prefetch'),
                fetch.get('pgbr_async'),
                tbdr_what='tbdr archive-get, tbdr.restore_prefetch = 8',
                pgbr_what='pgBackRest archive-get, async (archive-get-queue-max default)',
                note=n + ('; ' + prefetch_note if prefetch_note else ''))
    env.pg.set('wal_keep_size', '0')
    env.pg.sql('CHECKPOINT')


# ---------------------------------------------------------------------------
# Scenarios 3, 4, 5, 7: base backup, restore, foreground TPS, scaling
# ---------------------------------------------------------------------------

class BackupRunner:
    """One full backup with each tool into a fresh repository; remembers
    the last repository of each tool for the restore scenario.  Nothing is
    deleted from the bucket during a run (deleting a thousand objects costs
    the test server a minute); the scratch directory goes at the end."""

    def __init__(self, env):
        self.env = env
        self.last = {}

    def tbdr_available(self):
        return self.env.tbdr_has_backup()

    def run(self, tool, tag):
        env = self.env
        repo = f'backup/{tag}-{tool}'
        env.pg.sql('CHECKPOINT')
        if tool == 'tbdr':
            env.use_tbdr_repo(repo)
            env.pg.set_archiving(library='tbdr', command='')
            cpu0 = env.pg.tree_cpu()
            t = L.timed(env.psql_cmd(
                'SELECT * FROM tbdr_backup_now(wait => true)'))
            cpu1 = env.pg.tree_cpu()
            sub = 'backups/'
        else:
            conf = env.pgbr_conf(repo, archive_async=False)
            env.pgbr(conf, 'stanza-create')
            env.pg.set_archiving(library='',
                                 command=env.pgbr_archive_command(conf))
            cpu0 = env.pg.tree_cpu()
            t = L.timed(env.pgbr_cmd(conf) + ['backup', '--type=full'])
            cpu1 = env.pg.tree_cpu()
            sub = 'backup/'
        stored = env.s3.prefix_bytes(f'{repo}/{sub}')
        cpu = t.cpu + (cpu1 - cpu0)
        log(f'  backup {tool} {tag}: {t.wall:.2f} s wall, {cpu:.2f} s CPU '
            f'({t.cpu:.2f} client, {cpu1 - cpu0:.2f} server), {stored} bytes')
        self.last[tool] = repo
        return t.wall, cpu, stored


def pgbr_filter(env, tools):
    """tools without pgBackRest when the installed pgBackRest does not
    support this PostgreSQL version (BENCH_PG): tbdr is measured alone."""
    return [t for t in tools if t != 'pgbr' or env.pgbr_supported]


def backup_reps(env, runner, tag, reps=None):
    tools = pgbr_filter(env, ['tbdr', 'pgbr'] if runner.tbdr_available()
                        else ['pgbr'])
    out = {t: {'wall': [], 'cpu': [], 'bytes': []} for t in ('tbdr', 'pgbr')}
    for rep in range(reps or REPS):
        for tool in alternate(rep, tools):
            wall, cpu, stored = runner.run(tool, f'{tag}-{rep}')
            out[tool]['wall'].append(wall)
            out[tool]['cpu'].append(cpu)
            out[tool]['bytes'].append(stored)
    return out


NO_BACKUP = ('tbdr base backups (tbdr_backup_now) are not in this build, '
             'or CREATE EXTENSION tbdr failed (see the log)')
NO_RESTORE = 'tbdr restore is not in this build'


def report_backup(res, prefix, out, dbsize, what):
    note = None if out['tbdr']['wall'] else NO_BACKUP
    extra = {'database_bytes': dbsize, 'dataset': what}
    pw = 'pgBackRest backup --type=full, compress-type=zst, process-max=2'
    tw = 'SELECT tbdr_backup_now(wait => true)'
    res.add(f'{prefix}_wall', 's', out['tbdr']['wall'] or None,
            out['pgbr']['wall'] or None, tbdr_what=tw, pgbr_what=pw, note=note,
            extra=extra)
    res.add(f'{prefix}_cpu', 'CPU s', out['tbdr']['cpu'] or None,
            out['pgbr']['cpu'] or None, tbdr_what=tw, pgbr_what=pw,
            note=note or 'user+sys of the tool and of every server process '
                         '(the archiver and its children included)',
            extra=extra)
    res.add(f'{prefix}_stored_bytes', 'bytes', out['tbdr']['bytes'] or None,
            out['pgbr']['bytes'] or None, tbdr_what=tw, pgbr_what=pw, note=note,
            extra=extra)


def scenario_backup(env, res, groups):
    runner = BackupRunner(env)
    env.pg.set_archiving(library='', command='true')
    env.pg.pgbench_init(SCALE)
    dbsize = env.pg.db_bytes()
    log(f'pgbench scale {SCALE}: {dbsize / MiB:.0f} MiB')
    walls = {}
    if 'backup' in groups or 'restore' in groups or 'scaling' in groups:
        out = backup_reps(env, runner, f's{SCALE}')
        walls[SCALE] = out
        report_backup(res, 'backup', out, dbsize, f'pgbench scale {SCALE}')
    if 'restore' in groups:
        scenario_restore(env, res, runner)
    if 'tps' in groups:
        scenario_tps(env, res, runner)
    if 'scaling' in groups:
        # quick: the scale of the backup scenario only (a smoke check)
        scales = [s for s in (10, 50, 100) if s < SCALE] if not QUICK else []
        if FULL:
            scales.append(200)
        scales = sorted(set(scales + [SCALE]))
        for s in scales:
            if s not in walls:
                env.pg.set_archiving(library='', command='true')
                env.pg.pgbench_init(s)
                walls[s] = backup_reps(env, runner, f's{s}')
            o = walls[s]
            res.add(f'scaling_backup_s{s}', 's', o['tbdr']['wall'] or None,
                    o['pgbr']['wall'] or None,
                    tbdr_what='SELECT tbdr_backup_now(wait => true)',
                    pgbr_what='pgBackRest backup --type=full',
                    note=None if o['tbdr']['wall'] else NO_BACKUP,
                    extra={'scale': s})
    env.pg.set_archiving(library='', command='true')


def scenario_restore(env, res, runner):
    tools = [t for t in ('tbdr', 'pgbr') if t in runner.last]
    if not env.tbdr_has_restore():
        tools = [t for t in tools if t != 'tbdr']
    out = {'tbdr': [], 'pgbr': []}
    target = os.path.join(env.work, 'restored')
    for rep in range(REPS):
        for tool in alternate(rep, tools):
            shutil.rmtree(target, ignore_errors=True)
            os.makedirs(target, mode=0o700)
            if tool == 'tbdr':
                cfg = env.tbdr_cli_conf(runner.last['tbdr'])
                cmd = env.tbdr_restore_cmd(cfg, target)
            else:
                conf = env.pgbr_conf(runner.last['pgbr'], archive_async=False,
                                     pg_path=target)
                cmd = env.pgbr_cmd(conf) + ['restore']
            t = L.timed(cmd, cwd=env.work)
            if not os.path.exists(os.path.join(target, 'global', 'pg_control')):
                raise L.BenchError(f'{tool} restore left no global/pg_control')
            size = L.dir_bytes(target)
            out[tool].append(t.wall)
            log(f'  restore {tool} rep {rep}: {t.wall:.2f} s, {size} bytes')
    shutil.rmtree(target, ignore_errors=True)
    note = None
    if not out['tbdr']:
        note = NO_RESTORE if env.tbdr_has_backup() else NO_BACKUP
    res.add('restore_wall', 's', out['tbdr'] or None, out['pgbr'] or None,
            tbdr_what='tbdr restore into an empty directory',
            pgbr_what='pgBackRest restore into an empty directory '
                      '(process-max=2)', note=note)


def scenario_tps(env, res, runner):
    """pgbench TPS while a backup runs, against TPS in a window of the same
    length without one, measured right before."""
    tools = pgbr_filter(env, ['tbdr', 'pgbr'] if runner.tbdr_available()
                        else ['pgbr'])
    loss = {'tbdr': [], 'pgbr': [], 'api': []}
    detail = []
    for rep in range(REPS):
        # 'api': the floor of any backup here: pg_backup_start (immediate
        # checkpoint, then full-page writes and their archiving) and
        # pg_backup_stop, TPS_BASE_SECS apart, copying nothing
        for tool in alternate(rep, tools) + ['api']:
            bench = env.pg.start_pgbench(PGBENCH_CLIENTS)
            try:
                time.sleep(3)                   # warm-up, not counted
                b0 = time.time()
                time.sleep(TPS_BASE_SECS)
                b1 = time.time()
                if tool == 'api':
                    wall = backup_api_only(env, TPS_BASE_SECS)
                else:
                    wall, _, _ = runner.run(tool, f'tps-{rep}')
                w1 = time.time()
                w0 = w1 - wall
            finally:
                samples = env.pg.stop_pgbench(bench)
            base = L.window_tps(samples, b0, b1)
            during = L.window_tps(samples, w0, w1)
            if not base:
                raise L.BenchError('pgbench reported no progress')
            pct = 100.0 * (base - during) / base
            loss[tool].append(pct)
            detail.append({'tool': tool, 'rep': rep, 'tps_before': L.rnd(base),
                           'tps_during': L.rnd(during),
                           'backup_s': L.rnd(wall)})
            log(f'  tps {tool} rep {rep}: {base:.0f} tps before, '
                f'{during:.0f} during the backup ({pct:.1f}% loss)')
    res.add('tps_loss_during_backup', '% TPS lost', loss['tbdr'] or None,
            loss['pgbr'] or None,
            tbdr_what='pgbench during tbdr_backup_now',
            pgbr_what='pgbench during pgBackRest backup',
            note=(None if loss['tbdr'] else NO_BACKUP) or
            f'pgbench -c {PGBENCH_CLIENTS}, TPS in the backup window vs the '
            f'window of {TPS_BASE_SECS} s just before it', extra={'detail': detail})
    res.add('tps_loss_backup_api_only', '% TPS lost', loss['api'] or None,
            None, tbdr_what='pgbench during pg_backup_start(fast), '
            f'{TPS_BASE_SECS} s, pg_backup_stop: no copy (archive module on)',
            note='the floor of any backup on this machine: the immediate '
            'checkpoint, the full-page writes after it and their archiving')


def backup_api_only(env, secs):
    """pg_backup_start(fast) .. pg_backup_stop with nothing copied; wall s."""
    env.pg.set_archiving(library='tbdr', command='')
    env.pg.sql('CHECKPOINT')
    t0 = time.monotonic()
    env.pg.sql("SELECT pg_backup_start('bench api only', true)",
               f'SELECT pg_sleep({secs})',
               'SELECT lsn FROM pg_backup_stop(false)')
    return time.monotonic() - t0


def scenario_md5(env, res, groups):
    """Scenario 6: a dataset of md5 text (compresses about 2x)."""
    runner = BackupRunner(env)
    env.pg.set_archiving(library='', command='true')
    env.pg.drop_pgbench()
    env.pg.md5_table(MD5_MB)
    dbsize = env.pg.db_bytes()
    log(f'md5 dataset: {dbsize / MiB:.0f} MiB')
    out = backup_reps(env, runner, 'md5')
    report_backup(res, 'md5_backup', out, dbsize,
                  f'{MD5_MB} MiB of md5 text')
    env.pg.sql('DROP TABLE IF EXISTS bench_md5')
    env.pg.sql('CHECKPOINT')
    scenario_wal(env, res, groups, name='md5_wal_backlog', workload='md5')


# ---------------------------------------------------------------------------

def main():
    t_start = time.monotonic()
    unknown = [g for g in GROUPS if g not in ALL_GROUPS]
    if unknown:
        print(f'bench: unknown scenario group(s) {", ".join(unknown)}; '
              f'known: {" ".join(ALL_GROUPS)}', file=sys.stderr)
        return 2
    res = Results(RESULTS)
    env = L.Env(keep=KEEP)
    rc = 0
    failed = []
    try:
        env.setup()
        log(f'groups: {" ".join(GROUPS)}; reps {REPS}; quick {QUICK}')
        steps = [
            ('objstore', ['objstore'],
             'object store: 1 GiB put/get, tbdr vs aws s3 cp',
             lambda: scenario_objstore(env, res)),
            ('wal', ['wal_backlog', 'wal_fetch'], 'WAL backlog and WAL fetch',
             lambda: scenario_wal(env, res, GROUPS)),
            ('backup', ['backup', 'restore', 'tps', 'scaling'],
             'base backup, restore, TPS, scaling',
             lambda: scenario_backup(env, res, GROUPS)),
            ('md5', ['md5'], 'md5-text dataset: backup and WAL backlog',
             lambda: scenario_md5(env, res, GROUPS)),
        ]
        for name, groups, title, fn in steps:
            if not any(g in GROUPS for g in groups):
                continue
            L.section(title)
            try:
                fn()
            except L.BenchError as e:
                # one failed scenario does not cost the others their numbers
                log(f'bench: {name} FAILED: {e}')
                failed.append(f'{name}: {e}')
                env.pg.recover()
        if failed:
            rc = 1
    except L.BenchError as e:
        log(f'bench: {e}')
        failed.append(str(e))
        rc = 1
    except KeyboardInterrupt:
        rc = 130
    finally:
        env.teardown()
    print()
    if res.order:
        print(res.table(table_order(res.order)))
        print()
        print(f'results: {RESULTS}')
    for f in failed:
        print(f'bench: FAILED: {f}', file=sys.stderr)
    print(f'bench: {time.monotonic() - t_start:.0f} s')
    if os.environ.get('BENCH_MARKDOWN'):
        with open(os.environ['BENCH_MARKDOWN'], 'w') as f:
            f.write(res.markdown(table_order(res.data)) + '\n')
    return rc


if __name__ == '__main__':
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(
        KeyboardInterrupt()))
    sys.exit(main())
