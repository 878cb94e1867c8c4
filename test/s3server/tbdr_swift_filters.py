"""WSGI filters that tbdr_s3server.py puts in Swift's proxy pipeline.

tbdrcache: an in-process, dict-backed stand-in for memcache.  tempauth and
the proxy's info caching want a memcache client in env['swift.cache']; the
test server runs every Swift app in one process, so a dict is enough and we
need no memcached daemon.

tbdrkeymap: maps the colon-free S3 access key that tests use (tbdrtest) to
the tempauth user "account:user" (test:tester).  Real AWS access keys never
contain a colon and libcurl's user:password option cannot carry one.  The
access key is not covered by the SigV4 (or SigV2) signature, so signatures
still verify after the rewrite.  Presigned URLs are not rewritten: their
query string, credential included, is signed.
"""

import re
import threading
import time


class DictCache(object):
    """The subset of swift.common.memcached.MemcacheRing that Swift uses."""

    def __init__(self):
        self._data = {}
        self._lock = threading.Lock()

    def _expiry(self, time_=0, **kwargs):
        time_ = kwargs.get('timeout', time_) or 0
        if not time_:
            return None
        # memcache semantics: values over 30 days are absolute timestamps
        if time_ > 30 * 24 * 60 * 60:
            return float(time_)
        return time.time() + float(time_)

    def _get(self, key):
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= time.time():
            self._data.pop(key, None)
            return None
        return value

    def get(self, key, raise_on_error=False):
        with self._lock:
            return self._get(key)

    def set(self, key, value, serialize=True, time=0, min_compress_len=0,
            raise_on_error=False, **kwargs):
        with self._lock:
            self._data[key] = (value, self._expiry(time, **kwargs))
        return True

    def incr(self, key, delta=1, time=0, **kwargs):
        with self._lock:
            value = int(self._get(key) or 0) + int(delta)
            if value < 0:
                value = 0
            self._data[key] = (value, self._expiry(time, **kwargs))
            return value

    def decr(self, key, delta=1, time=0, **kwargs):
        return self.incr(key, -int(delta), time, **kwargs)

    def delete(self, key, server_key=None, **kwargs):
        with self._lock:
            self._data.pop(key, None)

    def get_multi(self, keys, server_key=None, **kwargs):
        with self._lock:
            return [self._get(k) for k in keys]

    def set_multi(self, mapping, server_key=None, serialize=True, time=0,
                  min_compress_len=0, **kwargs):
        with self._lock:
            expires = self._expiry(time, **kwargs)
            for k, v in mapping.items():
                self._data[k] = (v, expires)


_CACHE = DictCache()


class CacheMiddleware(object):
    def __init__(self, app, conf):
        self.app = app

    def __call__(self, env, start_response):
        env['swift.cache'] = _CACHE
        return self.app(env, start_response)


def cache_filter_factory(global_conf, **local_conf):
    def factory(app):
        return CacheMiddleware(app, local_conf)
    return factory


class KeyMapMiddleware(object):
    def __init__(self, app, conf):
        self.app = app
        self.access_key = conf.get('access_key', 'tbdrtest')
        self.swift_user = conf.get('swift_user', 'test:tester')
        ak = re.escape(self.access_key)
        # SigV4 header: "AWS4-HMAC-SHA256 Credential=KEY/date/region/..."
        self.v4_re = re.compile(r'(Credential=)' + ak + r'/')
        # SigV2 header: "AWS KEY:signature"
        self.v2_re = re.compile(r'^(AWS )' + ak + r':')

    def __call__(self, env, start_response):
        auth = env.get('HTTP_AUTHORIZATION')
        if auth:
            auth = self.v4_re.sub(
                lambda m: m.group(1) + self.swift_user + '/', auth, count=1)
            auth = self.v2_re.sub(
                lambda m: m.group(1) + self.swift_user + ':', auth, count=1)
            env['HTTP_AUTHORIZATION'] = auth
        return self.app(env, start_response)


def keymap_filter_factory(global_conf, **local_conf):
    def factory(app):
        return KeyMapMiddleware(app, local_conf)
    return factory
