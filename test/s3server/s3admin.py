#!/usr/bin/python3
"""Small S3 admin tool for tbdr's tests (botocore; Debian's /usr/bin/python3).

    s3admin.py --ready DIR/ready.json COMMAND ARGS...

Commands:
    mb BUCKET                 create a bucket
    rb BUCKET                 delete an (empty) bucket
    ls BUCKET [PREFIX]        list keys, one "key size etag" per line
    uploads BUCKET            in-progress multipart uploads, "key uploadid"
    abort BUCKET KEY UPLOADID abort one multipart upload
    put BUCKET KEY FILE       upload FILE (single PUT; '-' for stdin)
    get BUCKET KEY FILE       download to FILE ('-' for stdout)
    rm BUCKET KEY...          delete keys
    head BUCKET KEY           print the object's headers as JSON

--endpoint overrides the ready file's endpoint (e.g. to go through the
fault proxy).  Exits 1 with the S3 error code on stderr on failure.
"""

import argparse
import json
import shutil
import sys


def client(ready, endpoint=None):
    import botocore.session
    from botocore.config import Config
    session = botocore.session.get_session()
    return session.create_client(
        's3',
        endpoint_url=endpoint or ready['endpoint'],
        region_name=ready.get('region', 'us-east-1'),
        aws_access_key_id=ready['access_key'],
        aws_secret_access_key=ready['secret_key'],
        config=Config(signature_version='s3v4',
                      s3={'addressing_style': 'path'},
                      retries={'total_max_attempts': 1},
                      connect_timeout=10, read_timeout=120))


def paginate(s3, op, key, **kwargs):
    for page in s3.get_paginator(op).paginate(**kwargs):
        for item in page.get(key, []):
            yield item


def main(argv):
    p = argparse.ArgumentParser(description='S3 admin for tbdr tests')
    p.add_argument('--ready', required=True, help='path to ready.json')
    p.add_argument('--endpoint', help='override the endpoint')
    p.add_argument('command')
    p.add_argument('args', nargs='*')
    a = p.parse_args(argv)
    with open(a.ready) as f:
        ready = json.load(f)
    s3 = client(ready, a.endpoint)
    cmd, args = a.command, a.args

    def need(n, usage):
        if len(args) < n:
            sys.exit(f'usage: s3admin.py --ready FILE {cmd} {usage}')

    if cmd == 'mb':
        need(1, 'BUCKET')
        s3.create_bucket(Bucket=args[0])
    elif cmd == 'rb':
        need(1, 'BUCKET')
        s3.delete_bucket(Bucket=args[0])
    elif cmd == 'ls':
        need(1, 'BUCKET [PREFIX]')
        kw = {'Bucket': args[0]}
        if len(args) > 1:
            kw['Prefix'] = args[1]
        for o in paginate(s3, 'list_objects_v2', 'Contents', **kw):
            print(o['Key'], o['Size'], o['ETag'].strip('"'))
    elif cmd == 'uploads':
        need(1, 'BUCKET')
        for u in paginate(s3, 'list_multipart_uploads', 'Uploads',
                          Bucket=args[0]):
            print(u['Key'], u['UploadId'])
    elif cmd == 'abort':
        need(3, 'BUCKET KEY UPLOADID')
        s3.abort_multipart_upload(Bucket=args[0], Key=args[1],
                                  UploadId=args[2])
    elif cmd == 'put':
        need(3, 'BUCKET KEY FILE')
        if args[2] == '-':
            body = sys.stdin.buffer.read()
            s3.put_object(Bucket=args[0], Key=args[1], Body=body)
        else:
            with open(args[2], 'rb') as f:
                s3.put_object(Bucket=args[0], Key=args[1], Body=f)
    elif cmd == 'get':
        need(3, 'BUCKET KEY FILE')
        resp = s3.get_object(Bucket=args[0], Key=args[1])
        if args[2] == '-':
            shutil.copyfileobj(resp['Body'], sys.stdout.buffer, 1 << 20)
        else:
            with open(args[2], 'wb') as f:
                shutil.copyfileobj(resp['Body'], f, 1 << 20)
    elif cmd == 'rm':
        need(2, 'BUCKET KEY...')
        for key in args[1:]:
            s3.delete_object(Bucket=args[0], Key=key)
    elif cmd == 'head':
        need(2, 'BUCKET KEY')
        resp = s3.head_object(Bucket=args[0], Key=args[1])
        print(json.dumps(resp['ResponseMetadata']['HTTPHeaders'],
                         sort_keys=True))
    else:
        sys.exit(f's3admin.py: unknown command {cmd!r}')


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except Exception as e:  # botocore ClientError and friends
        code = ((getattr(e, 'response', None) or {}).get('Error') or {}).get('Code')
        sys.stderr.write(f's3admin.py: {code + ": " if code else ""}{e}\n')
        sys.exit(1)
