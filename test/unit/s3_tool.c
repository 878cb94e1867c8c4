/*-------------------------------------------------------------------------
 * s3_tool.c
 *	  Test driver of the storage layer (S3 driver) for the TAP tests.
 *
 *	  s3_tool [-c CONFIG] [-s name=value ...] COMMAND ARGS...
 *
 * CONFIG is a file in postgresql.conf syntax with tbdr.* settings (default:
 * $S3TOOL_CONFIG); -s overrides one setting.  Commands:
 *
 *	  put KEY FILE [--no-hint]	  upload FILE ('-': stdin, no size hint)
 *	  put-new KEY FILE			  upload FILE only if KEY is free (write
 *								  once); prints "stored" or "existed"
 *	  get KEY FILE [OFF LEN]	  download to FILE ('-': stdout)
 *	  head KEY					  "SIZE ETAG MTIME", or "missing" (exit 2)
 *	  rm KEY					  delete
 *	  ls [PREFIX]				  "KEY SIZE" per line
 *	  rm-many [PREFIX]			  delete every key listed under PREFIX,
 *								  with DeleteObjects
 *	  rm-keys KEY...			  DeleteObjects of these keys
 *	  put-many PREFIX N SIZE	  N objects PREFIXnnnnnn of SIZE bytes
 *	  cleanup [PREFIX]			  abort incomplete uploads, print the count
 *	  date						  the server's Date (after a HEAD)
 *
 * Errors go to stderr as "error: ..." with code, hint; exit status 1.
 * With S3TOOL_MAXRSS set in the environment, the peak resident memory is
 * printed to stderr at the end ("maxrss: N kB").
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "core/storage.h"

static int
fail(const TbdrError *err)
{
	fprintf(stderr, "error: %s\n", tbdr_error_format(err));
	fprintf(stderr, "code: %s\n", tbdr_error_code_name(err->code));
	if (err->hint[0])
		fprintf(stderr, "hint: %s\n", err->hint);
	return 1;
}

static ssize_t
fd_read(void *arg, char *buf, size_t len, TbdrError *err)
{
	int			fd = *(int *) arg;

	for (;;)
	{
		ssize_t		n = read(fd, buf, len);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		tbdr_error_errno(err, "could not read the input");
		return -1;
	}
}

static bool
fd_write(void *arg, const char *buf, size_t len, TbdrError *err)
{
	int			fd = *(int *) arg;

	while (len > 0)
	{
		ssize_t		n = write(fd, buf, len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			tbdr_error_errno(err, "could not write the output");
			return false;
		}
		buf += n;
		len -= n;
	}
	return true;
}

static bool
print_entry(void *arg, const TbdrObjectInfo *info, TbdrError *err)
{
	printf("%s " INT64_FORMAT "\n", info->key, info->size);
	return true;
}

typedef struct KeyList
{
	char	  **keys;
	int			n;
	int			max;
} KeyList;

static bool
collect_entry(void *arg, const TbdrObjectInfo *info, TbdrError *err)
{
	KeyList    *kl = arg;

	if (kl->n >= kl->max)
	{
		kl->max = kl->max ? kl->max * 2 : 256;
		kl->keys = kl->keys ? repalloc(kl->keys, kl->max * sizeof(char *))
			: palloc(kl->max * sizeof(char *));
	}
	kl->keys[kl->n++] = pstrdup(info->key);
	return true;
}

/* Small objects with distinct contents. */
static bool
put_many(TbdrStorage *st, const char *prefix, int n, int size, TbdrError *err)
{
	char	   *buf = palloc(Max(size, 1));

	for (int i = 0; i < n; i++)
	{
		char	   *key = psprintf("%s%06d", prefix, i);

		for (int j = 0; j < size; j++)
			buf[j] = (char) ('a' + (i + j) % 26);
		if (!tbdr_storage_put_buffer(st, key, buf, size, err))
			return false;
		pfree(key);
	}
	pfree(buf);
	return true;
}

static void
usage(void)
{
	fprintf(stderr, "usage: s3_tool [-c CONFIG] [-s name=value ...] COMMAND ARGS...\n"
			"commands: put get head rm ls rm-many rm-keys put-many cleanup date\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrStorage *st;
	const char *config = getenv("S3TOOL_CONFIG");
	const char *cmd;
	int			i = 1;
	int			rc = 0;
	const char *overrides[64];
	int			noverrides = 0;

	tbdr_error_clear(&err);
	while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0')
	{
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			config = argv[i + 1];
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc && noverrides < 64)
			overrides[noverrides++] = argv[i + 1];
		else
			usage();
		i += 2;
	}
	if (i >= argc)
		usage();
	cmd = argv[i++];

	tbdr_config_set_defaults(&cfg);
	if (config && !tbdr_config_load_file(&cfg, config, false, &err))
		return fail(&err);
	for (int k = 0; k < noverrides; k++)
	{
		char	   *name = pstrdup(overrides[k]);
		char	   *eq = strchr(name, '=');

		if (eq == NULL)
			usage();
		*eq = '\0';
		if (!tbdr_config_set(&cfg, name, eq + 1, &err))
			return fail(&err);
	}

	st = tbdr_storage_open(&cfg, &err);
	if (st == NULL)
		return fail(&err);

	if ((strcmp(cmd, "put") == 0 || strcmp(cmd, "put-new") == 0) && argc - i >= 2)
	{
		const char *key = argv[i];
		const char *path = argv[i + 1];
		bool		no_hint = argc - i >= 3 && strcmp(argv[i + 2], "--no-hint") == 0;
		bool		put_new = strcmp(cmd, "put-new") == 0;
		bool		existed = false;
		int			fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY);
		int64		hint = -1;
		struct stat sb;

		if (fd < 0)
		{
			tbdr_error_errno(&err, "could not open \"%s\"", path);
			return fail(&err);
		}
		if (!no_hint && fd != 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
			hint = sb.st_size;
		if (!(put_new ? tbdr_storage_put_new(st, key, fd_read, &fd, hint, &existed, &err)
			  : tbdr_storage_put(st, key, fd_read, &fd, hint, &err)))
			rc = fail(&err);
		else if (put_new)
			printf("%s\n", existed ? "existed" : "stored");
		if (fd != 0)
			close(fd);
	}
	else if (strcmp(cmd, "get") == 0 && argc - i >= 2)
	{
		const char *key = argv[i];
		const char *path = argv[i + 1];
		int64		off = argc - i >= 4 ? strtoll(argv[i + 2], NULL, 10) : 0;
		int64		len = argc - i >= 4 ? strtoll(argv[i + 3], NULL, 10) : -1;
		int			fd = strcmp(path, "-") == 0 ? 1 : open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0)
		{
			tbdr_error_errno(&err, "could not open \"%s\"", path);
			return fail(&err);
		}
		if (!tbdr_storage_get(st, key, off, len, fd_write, &fd, &err))
			rc = fail(&err);
		if (fd != 1)
			close(fd);
	}
	else if (strcmp(cmd, "head") == 0 && argc - i >= 1)
	{
		TbdrObjectInfo info;
		int			r = tbdr_storage_head(st, argv[i], &info, &err);

		if (r < 0)
			rc = fail(&err);
		else if (r == 0)
		{
			printf("missing\n");
			rc = 2;
		}
		else
			printf(INT64_FORMAT " %s %ld\n", info.size, info.etag ? info.etag : "-",
				   (long) info.mtime);
	}
	else if (strcmp(cmd, "rm") == 0 && argc - i >= 1)
	{
		if (!tbdr_storage_delete(st, argv[i], &err))
			rc = fail(&err);
	}
	else if (strcmp(cmd, "ls") == 0)
	{
		if (!tbdr_storage_list(st, argc - i >= 1 ? argv[i] : "", print_entry, NULL, &err))
			rc = fail(&err);
	}
	else if (strcmp(cmd, "rm-many") == 0)
	{
		KeyList		kl = {0};

		if (!tbdr_storage_list(st, argc - i >= 1 ? argv[i] : "", collect_entry, &kl, &err))
			rc = fail(&err);
		else if (kl.n > 0 &&
				 !tbdr_storage_delete_many(st, (const char *const *) kl.keys, kl.n, &err))
			rc = fail(&err);
		else
			printf("deleted %d\n", kl.n);
	}
	else if (strcmp(cmd, "rm-keys") == 0)
	{
		if (!tbdr_storage_delete_many(st, (const char *const *) &argv[i], argc - i, &err))
			rc = fail(&err);
	}
	else if (strcmp(cmd, "put-many") == 0 && argc - i >= 3)
	{
		if (!put_many(st, argv[i], atoi(argv[i + 1]), atoi(argv[i + 2]), &err))
			rc = fail(&err);
	}
	else if (strcmp(cmd, "cleanup") == 0)
	{
		int			count = 0;

		if (!tbdr_storage_cleanup_uploads(st, argc - i >= 1 ? argv[i] : "", &count, &err))
			rc = fail(&err);
		else
			printf("aborted %d\n", count);
	}
	else if (strcmp(cmd, "date") == 0)
	{
		TbdrObjectInfo info;

		if (tbdr_storage_head(st, "no-such-object-for-date", &info, &err) < 0)
			rc = fail(&err);
		else
			printf("%ld %ld\n", (long) tbdr_storage_server_date(st), (long) time(NULL));
	}
	else
		usage();

	fflush(stdout);
	tbdr_storage_close(st);

	/* for the tests that check that transfers stream (010) */
	if (getenv("S3TOOL_MAXRSS"))
	{
		struct rusage ru;

		if (getrusage(RUSAGE_SELF, &ru) == 0)
			fprintf(stderr, "maxrss: %ld kB\n", ru.ru_maxrss);
	}
	return rc;
}
