#!/usr/bin/python3
"""Fault-injecting HTTP/1.1 proxy for tbdr's tests (asyncio, stdlib only).

    /usr/bin/python3 test/faultproxy/tbdr_faultproxy.py \
        --target http://127.0.0.1:PORT --dir DIR [--port 0] [--control-port 0]

Sits between the client and the S3 server and forwards every request
byte-exact: the request head as received (the Host header is signed, so it is
passed through unchanged), Content-Length and chunked bodies streamed in both
directions without buffering whole objects, 100-continue, keep-alive (one
upstream connection per client connection).  When listening it writes
DIR/ready.json atomically:

    {"port": P, "control_port": C, "pid": PID,
     "endpoint": "http://127.0.0.1:P", "control_endpoint": "http://127.0.0.1:C"}

Control API on control_port (JSON in, JSON out):

    POST /fault   one rule object, or a list of them; rules queue up and the
                  first rule that matches a request is applied to it:
        mode         "status" | "reset" | "truncate" | "delay"
        status       HTTP status for mode status (default 503)
        s3_code      S3 error code for the XML <Error> body (default from
                     status: 503 SlowDown, 500 InternalError, ...)
        seconds      mode delay: sleep this long before forwarding the
                     response (or the request, with "phase": "request")
        after_bytes  mode reset: forward this many bytes of the response
                     (status line and headers included) then reset the
                     connection (SO_LINGER 0, so the client sees ECONNRESET);
                     mode truncate: send the response head unchanged (full
                     Content-Length) and this many body bytes (default: half
                     the Content-Length), then close the connection
        phase        "response" (default) or "request": mode reset and delay
                     act before the request is forwarded (so the server never
                     sees it)
        count        apply to the next N matching requests (default 1)
        duration     or: apply to every matching request for S seconds
        method       optional filter: only requests with this method
        path_regex   optional filter: re.search on the request target (path
                     and query string)
    POST /clear   remove all rules
    GET  /stats   {"requests": total, "faulted": n, "by_method": {...},
                   "by_mode": {...}, "rules": pending rule count}
    POST /stats/reset  zero the counters
    GET  /rules   the pending rules

Mode status answers without forwarding.  If the request has a body it is
read and discarded first, except with "Expect: 100-continue", where the
answer carries "Connection: close" and the connection is closed.

Runs until SIGTERM/SIGINT.  Logs one line per request to DIR/proxy.log.
"""

import argparse
import asyncio
import email.utils
import json
import os
import re
import signal
import socket
import struct
import sys
import time
import urllib.parse

READ_SIZE = 256 * 1024
HEAD_LIMIT = 1024 * 1024

REASONS = {
    400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found',
    409: 'Conflict', 429: 'Too Many Requests', 500: 'Internal Server Error',
    501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
    504: 'Gateway Timeout',
}
DEFAULT_CODES = {
    400: 'BadRequest', 403: 'AccessDenied', 404: 'NoSuchKey',
    409: 'OperationAborted', 429: 'SlowDown', 500: 'InternalError',
    501: 'NotImplemented', 502: 'BadGateway', 503: 'SlowDown',
    504: 'GatewayTimeout',
}
MESSAGES = {
    'SlowDown': 'Please reduce your request rate.',
    'InternalError': 'We encountered an internal error. Please try again.',
    'ServiceUnavailable': 'Service is unable to handle request.',
}
MODES = ('status', 'reset', 'truncate', 'delay')

LOG = None


def log(msg):
    if LOG:
        LOG.write('%s %s\n' % (time.strftime('%H:%M:%S'), msg))
        LOG.flush()


class Rule(object):
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError('a rule is a JSON object')
        unknown = set(spec) - {'mode', 'status', 's3_code', 'message',
                               'seconds', 'after_bytes', 'count',
                               'duration', 'method', 'path_regex', 'phase'}
        if unknown:
            raise ValueError('unknown rule fields: %s' % sorted(unknown))
        self.mode = spec.get('mode')
        if self.mode not in MODES:
            raise ValueError('mode must be one of %s' % (MODES,))
        self.status = int(spec.get('status', 503))
        self.s3_code = spec.get('s3_code') or DEFAULT_CODES.get(
            self.status, 'InternalError')
        self.message = spec.get('message') or MESSAGES.get(
            self.s3_code, 'Injected fault.')
        self.seconds = float(spec.get('seconds', 0))
        ab = spec.get('after_bytes')
        self.after_bytes = None if ab is None else int(ab)
        self.phase = spec.get('phase', 'response')
        if self.phase not in ('request', 'response'):
            raise ValueError('phase must be "request" or "response"')
        self.method = spec.get('method')
        if self.method:
            self.method = self.method.upper()
        self.path_regex = spec.get('path_regex')
        self.path_re = re.compile(self.path_regex) if self.path_regex \
            else None
        self.expires = None
        self.count = None
        if spec.get('duration') is not None:
            self.expires = time.monotonic() + float(spec['duration'])
            if spec.get('count') is not None:
                self.count = int(spec['count'])
        else:
            self.count = int(spec.get('count', 1))
        self.spec = spec

    def live(self, now):
        if self.expires is not None and now >= self.expires:
            return False
        return self.count is None or self.count > 0

    def matches(self, method, target):
        if self.method and method.upper() != self.method:
            return False
        if self.path_re and not self.path_re.search(target):
            return False
        return True

    def describe(self):
        d = dict(self.spec)
        d['remaining'] = self.count
        if self.expires is not None:
            d['seconds_left'] = max(0.0, self.expires - time.monotonic())
        return d


class State(object):
    def __init__(self):
        self.rules = []
        self.reset_stats()

    def reset_stats(self):
        self.requests = 0
        self.faulted = 0
        self.by_method = {}
        self.by_mode = {}

    def take(self, method, target):
        """Count a request and return the rule to apply to it, if any."""
        self.requests += 1
        self.by_method[method] = self.by_method.get(method, 0) + 1
        now = time.monotonic()
        self.rules = [r for r in self.rules if r.live(now)]
        for rule in self.rules:
            if rule.matches(method, target):
                if rule.count is not None:
                    rule.count -= 1
                self.faulted += 1
                self.by_mode[rule.mode] = self.by_mode.get(rule.mode, 0) + 1
                return rule
        return None

    def stats(self):
        now = time.monotonic()
        self.rules = [r for r in self.rules if r.live(now)]
        return {'requests': self.requests, 'faulted': self.faulted,
                'by_method': self.by_method, 'by_mode': self.by_mode,
                'rules': len(self.rules)}


STATE = State()


class Head(object):
    """A parsed request or response head; raw keeps the exact bytes."""

    def __init__(self, raw, is_request):
        self.raw = raw
        lines = raw.decode('latin-1').split('\r\n')
        first = lines[0].split(' ', 2)
        if is_request:
            if len(first) != 3:
                raise ValueError('bad request line %r' % lines[0])
            self.method, self.target, self.version = first
        else:
            if len(first) < 2:
                raise ValueError('bad status line %r' % lines[0])
            self.version = first[0]
            self.status = int(first[1])
        self.headers = []
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(':')
            self.headers.append((name.strip().lower(), value.strip()))

    def get(self, name):
        vals = [v for n, v in self.headers if n == name]
        return ', '.join(vals) if vals else None

    def tokens(self, name):
        v = self.get(name) or ''
        return [t.strip().lower() for t in v.split(',') if t.strip()]

    def chunked(self):
        te = self.tokens('transfer-encoding')
        return bool(te) and te[-1] == 'chunked'

    def content_length(self):
        v = self.get('content-length')
        if v is None:
            return None
        return int(v.split(',')[0])

    def wants_close(self):
        conn = self.tokens('connection')
        if 'close' in conn:
            return True
        if self.version == 'HTTP/1.0' and 'keep-alive' not in conn:
            return True
        return False


class LimitReached(Exception):
    pass


class Sink(object):
    """Writes to a StreamWriter; with a limit, stops (LimitReached) after
    that many bytes."""

    def __init__(self, writer, limit=None):
        self.writer = writer
        self.limit = limit
        self.sent = 0

    async def write(self, data):
        if self.limit is not None:
            room = self.limit - self.sent
            if len(data) >= room:
                if room > 0:
                    self.writer.write(data[:room])
                    self.sent += room
                await self.writer.drain()
                raise LimitReached()
        self.writer.write(data)
        self.sent += len(data)
        await self.writer.drain()


async def read_head(reader):
    try:
        return await reader.readuntil(b'\r\n\r\n')
    except asyncio.IncompleteReadError as e:
        if e.partial.strip():
            raise ConnectionError('connection closed inside a message head')
        return None


async def copy_body(reader, sink, kind, length=None):
    """Copy one message body as framed on the wire."""
    if kind == 'none':
        return
    if kind == 'length':
        remaining = length
        while remaining > 0:
            data = await reader.read(min(READ_SIZE, remaining))
            if not data:
                raise ConnectionError('body ended %d bytes early' % remaining)
            remaining -= len(data)
            await sink.write(data)
        return
    if kind == 'chunked':
        while True:
            line = await reader.readuntil(b'\r\n')
            await sink.write(line)
            size = int(line.split(b';', 1)[0].strip(), 16)
            if size == 0:
                while True:  # trailers, then the final empty line
                    line = await reader.readuntil(b'\r\n')
                    await sink.write(line)
                    if line == b'\r\n':
                        return
            remaining = size + 2  # the data and its CRLF
            while remaining > 0:
                data = await reader.read(min(READ_SIZE, remaining))
                if not data:
                    raise ConnectionError('chunk ended early')
                remaining -= len(data)
                await sink.write(data)
    if kind == 'close':
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                return
            await sink.write(data)


def request_body_kind(head):
    if head.chunked():
        return 'chunked', None
    n = head.content_length()
    if n:
        return 'length', n
    return 'none', None


def response_body_kind(req, resp):
    if req.method == 'HEAD' or resp.status in (204, 304) or \
            100 <= resp.status < 200:
        return 'none', None
    if resp.chunked():
        return 'chunked', None
    n = resp.content_length()
    if n is not None:
        return ('length', n) if n else ('none', None)
    return 'close', None


async def reset_connection(writer):
    """Flush what was written, then close with RST (SO_LINGER 0)."""
    transport = writer.transport
    deadline = time.monotonic() + 2
    while transport.get_write_buffer_size() and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)  # let loopback deliver the last bytes
    sock = writer.get_extra_info('socket')
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack('ii', 1, 0))
        except OSError:
            pass
    transport.abort()


async def lingering_close(reader, writer, seconds=2.0):
    """Close so that unread client data does not turn our FIN into RST
    before the client has read our answer."""
    try:
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            data = await asyncio.wait_for(
                reader.read(READ_SIZE), deadline - time.monotonic())
            if not data:
                break
    except (asyncio.TimeoutError, OSError, ConnectionError):
        pass
    close_quietly(writer)


def close_quietly(writer):
    if writer is None:
        return
    try:
        writer.close()
    except Exception:
        pass


def error_response(rule, req, close):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Error><Code>%s</Code><Message>%s</Message>'
            '<Resource>%s</Resource><RequestId>tbdrfault%d</RequestId>'
            '</Error>' % (rule.s3_code, rule.message,
                          req.target.split('?')[0].replace('&', '&amp;')
                          .replace('<', '&lt;'),
                          STATE.requests)).encode()
    reason = REASONS.get(rule.status, 'Error')
    lines = ['HTTP/1.1 %d %s' % (rule.status, reason),
             'Date: %s' % email.utils.formatdate(usegmt=True),
             'x-amz-request-id: tbdrfault%d' % STATE.requests,
             'Content-Type: application/xml',
             'Content-Length: %d' % (0 if req.method == 'HEAD'
                                     else len(body))]
    if rule.status in (429, 503):
        lines.append('Retry-After: 1')
    if close:
        lines.append('Connection: close')
    head = ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1')
    return head if req.method == 'HEAD' else head + body


class Proxy(object):
    def __init__(self, host, port):
        self.host = host
        self.port = port

    async def handle(self, reader, writer):
        up = None  # (reader, writer) to the target, kept alive
        try:
            while True:
                raw = await read_head(reader)
                if raw is None:
                    break
                req = Head(raw, True)
                rule = STATE.take(req.method, req.target)
                log('%s %s%s' % (req.method, req.target,
                                 ' -> fault %s' % rule.describe()
                                 if rule else ''))
                kind, length = request_body_kind(req)
                expect = '100-continue' in req.tokens('expect')

                if rule and rule.mode == 'status':
                    close = expect and kind != 'none'
                    if not close:
                        await copy_body(reader, _Discard(), kind, length)
                    close = close or req.wants_close()
                    writer.write(error_response(rule, req, close))
                    await writer.drain()
                    if close:
                        await lingering_close(reader, writer)
                        writer = None
                        break
                    continue
                if rule and rule.phase == 'request':
                    if rule.mode == 'reset':
                        await reset_connection(writer)
                        writer = None
                        break
                    if rule.mode == 'delay':
                        await asyncio.sleep(rule.seconds)
                        rule = None

                if up is None:
                    up = await asyncio.open_connection(
                        self.host, self.port, limit=HEAD_LIMIT)
                ureader, uwriter = up
                keep = await self.exchange(req, rule, kind, length, expect,
                                           reader, writer, ureader, uwriter)
                if keep == 'reset' or keep == 'closed':
                    writer = None
                if keep is not True:
                    break
        except (ConnectionError, OSError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ValueError) as e:
            log('connection error: %r' % (e,))
        finally:
            if up is not None:
                close_quietly(up[1])
            close_quietly(writer)

    async def exchange(self, req, rule, kind, length, expect,
                       reader, writer, ureader, uwriter):
        """One request/response; True if both connections stay usable."""
        uwriter.write(req.raw)
        await uwriter.drain()
        body_task = asyncio.ensure_future(
            copy_body(reader, Sink(uwriter), kind, length))
        got_continue = [False]

        async def final_head():
            while True:
                raw = await read_head(ureader)
                if raw is None:
                    raise ConnectionError('target closed without answering')
                resp = Head(raw, False)
                if 100 <= resp.status < 200 and resp.status != 101:
                    got_continue[0] = True
                    writer.write(raw)
                    await writer.drain()
                    continue
                return resp

        head_task = asyncio.ensure_future(final_head())
        try:
            while not head_task.done():
                waiting = {head_task}
                if not body_task.done():
                    waiting.add(body_task)
                await asyncio.wait(waiting,
                                   return_when=asyncio.FIRST_COMPLETED)
                if body_task.done() and body_task.exception():
                    raise body_task.exception()
            resp = head_task.result()
        except BaseException:
            head_task.cancel()
            body_task.cancel()
            raise

        rkind, rlength = response_body_kind(req, resp)
        try:
            if rule and rule.mode == 'delay':
                await asyncio.sleep(rule.seconds)
            if rule and rule.mode == 'reset':
                sink = Sink(writer, rule.after_bytes or 0)
                try:
                    await sink.write(resp.raw)
                    await copy_body(ureader, sink, rkind, rlength)
                except LimitReached:
                    pass
                body_task.cancel()
                await reset_connection(writer)
                return 'reset'
            if rule and rule.mode == 'truncate':
                n = rule.after_bytes
                if n is None:
                    n = (rlength or 0) // 2
                writer.write(resp.raw)
                try:
                    await copy_body(ureader, Sink(writer, n), rkind, rlength)
                except LimitReached:
                    pass
                body_task.cancel()
                await writer.drain()
                close_quietly(writer)
                return 'closed'
            writer.write(resp.raw)
            await copy_body(ureader, Sink(writer), rkind, rlength)
        except BaseException:
            body_task.cancel()
            raise

        if not body_task.done():
            if expect and not got_continue[0]:
                # The client may never send the body it announced.
                body_task.cancel()
                return False
            try:
                await asyncio.wait_for(body_task, 30)
            except Exception:
                return False
        elif body_task.exception():
            return False
        if rkind == 'close' or resp.wants_close() or req.wants_close():
            return False
        return True


class _Discard(object):
    async def write(self, data):
        pass


async def control(reader, writer):
    try:
        raw = await read_head(reader)
        if raw is None:
            return
        req = Head(raw, True)
        n = req.content_length() or 0
        body = await reader.readexactly(n) if n else b''
        path = req.target.split('?')[0]
        status, out = 200, None
        try:
            if req.method == 'POST' and path == '/fault':
                spec = json.loads(body or b'{}')
                specs = spec if isinstance(spec, list) else [spec]
                rules = [Rule(s) for s in specs]
                STATE.stats()  # prune used-up rules
                STATE.rules.extend(rules)
                log('control: added %s' % [r.describe() for r in rules])
                out = {'ok': True, 'rules': len(STATE.rules)}
            elif req.method == 'POST' and path == '/clear':
                STATE.rules = []
                log('control: cleared')
                out = {'ok': True}
            elif req.method == 'GET' and path == '/stats':
                out = STATE.stats()
            elif req.method == 'POST' and path == '/stats/reset':
                STATE.reset_stats()
                out = {'ok': True}
            elif req.method == 'GET' and path == '/rules':
                STATE.stats()
                out = [r.describe() for r in STATE.rules]
            else:
                status, out = 404, {'error': 'no such control endpoint'}
        except (ValueError, TypeError, re.error) as e:
            status, out = 400, {'error': str(e)}
        data = json.dumps(out).encode()
        writer.write(('HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n'
                      'Content-Length: %d\r\nConnection: close\r\n\r\n'
                      % (status, 'OK' if status == 200 else 'Error',
                         len(data))).encode() + data)
        await writer.drain()
    except (ConnectionError, OSError, asyncio.IncompleteReadError,
            asyncio.LimitOverrunError, ValueError) as e:
        log('control error: %r' % (e,))
    finally:
        close_quietly(writer)


async def amain(args):
    global LOG
    top = os.path.abspath(args.dir)
    os.makedirs(top, exist_ok=True)
    for name in ('ready.json', 'ready.json.tmp'):
        try:
            os.unlink(os.path.join(top, name))
        except FileNotFoundError:
            pass
    LOG = open(os.path.join(top, 'proxy.log'), 'a')
    target = urllib.parse.urlsplit(args.target)
    if target.scheme != 'http' or not target.hostname:
        sys.exit('--target must be http://HOST:PORT')
    proxy = Proxy(target.hostname, target.port or 80)

    server = await asyncio.start_server(proxy.handle, args.host, args.port,
                                        limit=HEAD_LIMIT)
    ctl = await asyncio.start_server(control, args.host, args.control_port,
                                     limit=HEAD_LIMIT)
    port = server.sockets[0].getsockname()[1]
    cport = ctl.sockets[0].getsockname()[1]
    host = args.host if ':' not in args.host else '[%s]' % args.host
    ready = {'port': port, 'control_port': cport, 'pid': os.getpid(),
             'endpoint': 'http://%s:%d' % (host, port),
             'control_endpoint': 'http://%s:%d' % (host, cport),
             'target': args.target}
    tmp = os.path.join(top, 'ready.json.tmp')
    with open(tmp, 'w') as f:
        json.dump(ready, f)
        f.write('\n')
    os.rename(tmp, os.path.join(top, 'ready.json'))
    log('listening on %d (control %d), target %s' % (port, cport,
                                                      args.target))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log('stopping')
    server.close()
    ctl.close()


def main(argv):
    p = argparse.ArgumentParser(description='fault-injecting HTTP proxy')
    p.add_argument('--target', required=True, help='http://HOST:PORT')
    p.add_argument('--dir', required=True)
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--control-port', type=int, default=0)
    args = p.parse_args(argv)
    asyncio.run(amain(args))
    if LOG:
        LOG.flush()
    # Do not wait for connections still open: the test is done with us.
    os._exit(0)


if __name__ == '__main__':
    main(sys.argv[1:])
