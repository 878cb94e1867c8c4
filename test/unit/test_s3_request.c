/*-------------------------------------------------------------------------
 * test_s3_request.c
 *	  How the S3 driver (storage_s3.c) builds its requests, seen on the
 *	  wire: a child process listens on loopback, records each request head
 *	  and answers like S3.  Checked: path-style URLs with the bucket and
 *	  prefix, escaping of keys and of the list query, Host, Content-MD5 and
 *	  x-amz-content-sha256 of the body, the session token, server-side
 *	  encryption and storage class headers, the SigV4 Authorization line
 *	  (credential scope and signed headers), and that the secret key never
 *	  goes out.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/config.h"
#include "core/digest.h"
#include "core/storage.h"
#include "lib/stringinfo.h"
#include "tap.h"
#include "testfile.h"

#define SECRET	"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define TOKEN	"session-token-value"

static char logpath[256];

/* Read one request (head and Content-Length body) from fd; NULL at EOF. */
static char *
read_request(int fd, StringInfo body)
{
	StringInfoData head;
	char		c;
	const char *cl;
	long		len = 0;

	initStringInfo(&head);
	while (head.len < 4 || strcmp(head.data + head.len - 4, "\r\n\r\n") != 0)
	{
		if (read(fd, &c, 1) != 1)
			return NULL;
		appendStringInfoChar(&head, c);
	}
	if ((cl = strcasestr(head.data, "\r\ncontent-length:")) != NULL)
		len = atol(cl + 17);
	resetStringInfo(body);
	while (body->len < len)
	{
		char		buf[4096];
		ssize_t		n = read(fd, buf, Min((long) sizeof(buf), len - body->len));

		if (n <= 0)
			return NULL;
		appendBinaryStringInfo(body, buf, n);
	}
	return head.data;
}

/* The S3 answer to a request: PUT 200 with the MD5 ETag, GET an empty list. */
static void
answer(int fd, const char *head, StringInfo body)
{
	char	   *resp;

	if (strncmp(head, "PUT ", 4) == 0)
	{
		unsigned char md5[TBDR_MD5_LEN];
		char		hex[2 * TBDR_MD5_LEN + 1];

		tbdr_md5(body->data, body->len, md5);
		for (int i = 0; i < TBDR_MD5_LEN; i++)
			snprintf(hex + 2 * i, 3, "%02x", md5[i]);
		resp = psprintf("HTTP/1.1 200 OK\r\nETag: \"%s\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", hex);
	}
	else
	{
		const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
			"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			"<IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>";

		resp = psprintf("HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
						strlen(xml), xml);
	}
	if (write(fd, resp, strlen(resp)) < 0)
		perror("write");
}

/* The child: record and answer every request until killed. */
static void
serve(int lfd)
{
	StringInfoData body;

	initStringInfo(&body);
	for (;;)
	{
		int			fd = accept(lfd, NULL, NULL);
		char	   *head;

		if (fd < 0)
			continue;
		while ((head = read_request(fd, &body)) != NULL)
		{
			FILE	   *log = fopen(logpath, "a");

			fprintf(log, "%s", head);
			fclose(log);
			answer(fd, head, &body);
		}
		close(fd);
	}
}

static bool
has(const char *log, const char *needle)
{
	bool		found = log && strstr(log, needle) != NULL;

	if (!found)
		printf("# not in the requests: %s\n", needle);
	return found;
}

static bool
collect_nothing(void *arg, const TbdrObjectInfo *info, TbdrError *err)
{
	return true;
}

int
main(void)
{
	struct sockaddr_in addr;
	socklen_t	alen = sizeof(addr);
	int			lfd = socket(AF_INET, SOCK_STREAM, 0);
	pid_t		child;
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrStorage *st;
	const char *data = "hello, S3";
	char		sha[2 * TBDR_SHA256_LEN + 1];
	char	   *log;
	char		day[9],
				day_after[9];
	time_t		now = time(NULL);

	snprintf(logpath, sizeof(logpath), "/tmp/tbdr-test-s3-request-%d.log", (int) getpid());
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *) &addr, sizeof(addr)) != 0 ||
		listen(lfd, 8) != 0 || getsockname(lfd, (struct sockaddr *) &addr, &alen) != 0)
	{
		perror("listen");
		return 2;
	}
	child = fork();
	if (child == 0)
	{
		alarm(120);				/* never outlive a test that went wrong */
		serve(lfd);
	}
	close(lfd);

	tbdr_config_set_defaults(&cfg);
	if (!tbdr_config_set(&cfg, "repository", "s3://bkt/pre/fix", &err) ||
		!tbdr_config_set(&cfg, "s3_endpoint", psprintf("http://127.0.0.1:%d", ntohs(addr.sin_port)), &err) ||
		!tbdr_config_set(&cfg, "s3_region", "eu-west-3", &err) ||
		!tbdr_config_set(&cfg, "s3_access_key_id", "AKIDEXAMPLE", &err) ||
		!tbdr_config_set(&cfg, "s3_secret_access_key", SECRET, &err) ||
		!tbdr_config_set(&cfg, "s3_session_token", TOKEN, &err) ||
		!tbdr_config_set(&cfg, "s3_sse", "AES256", &err) ||
		!tbdr_config_set(&cfg, "s3_storage_class", "STANDARD_IA", &err) ||
		!tbdr_config_set(&cfg, "s3_max_retries", "0", &err) ||
		(st = tbdr_storage_open(&cfg, &err)) == NULL)
	{
		fprintf(stderr, "%s\n", err.message);
		kill(child, SIGKILL);
		return 2;
	}

	ok(tbdr_storage_put_buffer(st, "wal/a b+c", data, strlen(data), &err), "put a small object");
	ok(tbdr_storage_list(st, "wal/", collect_nothing, NULL, &err), "list a prefix");
	tbdr_storage_close(st);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);

	log = test_read_file(logpath, NULL);
	unlink(logpath);
	tbdr_sha256_hex(data, strlen(data), sha);
	strftime(day, sizeof(day), "%Y%m%d", gmtime(&now));
	now += 3600;				/* a run across midnight UTC */
	strftime(day_after, sizeof(day_after), "%Y%m%d", gmtime(&now));

	ok(has(log, "PUT /bkt/pre/fix/wal/a%20b%2Bc HTTP/1.1\r\n"),
	   "PUT: path style, bucket and prefix in the path, the key escaped");
	ok(has(log, psprintf("\r\nHost: 127.0.0.1:%d\r\n", ntohs(addr.sin_port))), "Host is the endpoint");
	ok(has(log, "\r\nContent-MD5: "), "Content-MD5 of the body");
	ok(has(log, psprintf("\r\nx-amz-content-sha256: %s\r\n", sha)), "x-amz-content-sha256 is the body's SHA-256");
	ok(has(log, "\r\nx-amz-security-token: " TOKEN "\r\n"), "the session token is sent");
	ok(has(log, "\r\nx-amz-server-side-encryption: AES256\r\n"), "server-side encryption");
	ok(has(log, "\r\nx-amz-storage-class: STANDARD_IA\r\n"), "storage class");
	ok(has(log, psprintf("\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/%s/eu-west-3/s3/aws4_request, SignedHeaders=", day)) ||
	   has(log, psprintf("\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/%s/eu-west-3/s3/aws4_request, SignedHeaders=", day_after)),
	   "SigV4 with the credential scope of the region and day");
	ok(has(log, "x-amz-content-sha256;x-amz-date;x-amz-security-token"),
	   "the signed headers include the payload hash, the date and the token");
	ok(has(log, "GET /bkt?"), "list: on the bucket");
	ok(has(log, "list-type=2") && has(log, "prefix=pre%2Ffix%2Fwal%2F"),
	   "ListObjectsV2 of the prefix, escaped in the query");
	ok(log && strstr(log, SECRET) == NULL && strstr(log, "wJalrXUtnFEMI") == NULL,
	   "the secret key never goes out");
	return done_testing();
}
