/*-------------------------------------------------------------------------
 * walspool.c
 *	  The spool directory of archive-get's prefetch (see walspool.h).
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/repo.h"
#include "core/walspool.h"

#define SPOOL_FETCHING_SUFFIX	".fetching"
#define SPOOL_REPOSITORY_FILE	"repository"
#define SPOOL_POLL_US			50000

struct TbdrWalSpool
{
	char	   *dir;
};

static bool
pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

/* Remove every file of the spool (not the directory). */
static void
empty_spool(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		char	   *path;

		if (de->d_name[0] == '.')
			continue;
		path = psprintf("%s/%s", dir, de->d_name);
		(void) unlink(path);
		pfree(path);
	}
	closedir(d);
}

static bool
write_small_file(const char *path, const char *content, TbdrError *err)
{
	char	   *tmp = psprintf("%s.tmp.%d", path, (int) getpid());
	int			fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, 0600);
	bool		ok = false;

	if (fd < 0)
		tbdr_error_errno(err, "could not create \"%s\"", tmp);
	else if (write(fd, content, strlen(content)) != (ssize_t) strlen(content))
		tbdr_error_errno(err, "could not write \"%s\"", tmp);
	else if (close(fd) != 0)
	{
		fd = -1;
		tbdr_error_errno(err, "could not close \"%s\"", tmp);
	}
	else
	{
		fd = -1;
		if (rename(tmp, path) != 0)
			tbdr_error_errno(err, "could not rename \"%s\"", tmp);
		else
			ok = true;
	}
	if (fd >= 0)
		close(fd);
	if (!ok)
		(void) unlink(tmp);
	pfree(tmp);
	return ok;
}

/* Content of a small file, or NULL. */
static char *
read_small_file(const char *path)
{
	char		buf[1024];
	int			fd = open(path, O_RDONLY | PG_BINARY, 0);
	ssize_t		n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return pstrdup(buf);
}

TbdrWalSpool *
tbdr_walspool_open(const char *dir, const char *repository, TbdrError *err)
{
	TbdrWalSpool *sp;
	char	   *idpath;
	char	   *id;
	char	   *want = psprintf("%s\n", repository);

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
	{
		tbdr_error_errno(err, "could not create the spool directory \"%s\"", dir);
		pfree(want);
		return NULL;
	}
	idpath = psprintf("%s/" SPOOL_REPOSITORY_FILE, dir);
	id = read_small_file(idpath);
	if (id == NULL || strcmp(id, want) != 0)
	{
		/* new, or filled from another repository: never serve that */
		empty_spool(dir);
		if (!write_small_file(idpath, want, err))
		{
			pfree(idpath);
			pfree(want);
			return NULL;
		}
	}
	if (id)
		pfree(id);
	pfree(idpath);
	pfree(want);

	sp = palloc0(sizeof(TbdrWalSpool));
	sp->dir = pstrdup(dir);
	return sp;
}

void
tbdr_walspool_close(TbdrWalSpool *sp)
{
	if (sp == NULL)
		return;
	pfree(sp->dir);
	pfree(sp);
}

char *
tbdr_walspool_path(TbdrWalSpool *sp, const char *name)
{
	return psprintf("%s/%s", sp->dir, name);
}

/* The pid in name's fetching mark, 0 if there is none or it is unreadable. */
static pid_t
fetching_pid(TbdrWalSpool *sp, const char *name)
{
	char	   *path = psprintf("%s/%s" SPOOL_FETCHING_SUFFIX, sp->dir, name);
	char	   *content = read_small_file(path);
	pid_t		pid = 0;

	if (content)
	{
		pid = (pid_t) atoi(content);
		pfree(content);
	}
	pfree(path);
	return pid;
}

int
tbdr_walspool_take(TbdrWalSpool *sp, const char *name, const char *dest,
				   int wait_secs, TbdrError *err)
{
	char	   *path = tbdr_walspool_path(sp, name);
	struct stat st;
	int64		waited = 0;
	int			result = 0;

	/* A prefetch of exactly this file is running: wait for it. */
	while (stat(path, &st) != 0 && pid_alive(fetching_pid(sp, name)) &&
		   waited < (int64) wait_secs * 1000000)
	{
		pg_usleep(SPOOL_POLL_US);
		waited += SPOOL_POLL_US;
	}

	if (rename(path, dest) == 0)
		result = 1;
	else if (errno != ENOENT)
	{
		tbdr_error_errno(err, "could not move \"%s\" to \"%s\"", path, dest);
		result = -1;
	}
	pfree(path);
	return result;
}

bool
tbdr_walspool_claim(TbdrWalSpool *sp, const char *name)
{
	char	   *path = tbdr_walspool_path(sp, name);
	char	   *mark = psprintf("%s" SPOOL_FETCHING_SUFFIX, path);
	struct stat st;
	bool		ok = false;
	int			attempt;

	for (attempt = 0; attempt < 2 && !ok; attempt++)
	{
		int			fd;

		if (stat(path, &st) == 0)
			break;				/* spooled already */
		fd = open(mark, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, 0600);
		if (fd >= 0)
		{
			char		pid[32];

			snprintf(pid, sizeof(pid), "%d\n", (int) getpid());
			ok = (write(fd, pid, strlen(pid)) == (ssize_t) strlen(pid));
			close(fd);
			if (!ok)
				(void) unlink(mark);
			break;
		}
		if (errno != EEXIST || pid_alive(fetching_pid(sp, name)))
			break;
		/* a dead process's mark: remove it and try once more */
		(void) unlink(mark);
	}
	pfree(mark);
	pfree(path);
	return ok;
}

void
tbdr_walspool_release(TbdrWalSpool *sp, const char *name)
{
	char	   *mark = psprintf("%s/%s" SPOOL_FETCHING_SUFFIX, sp->dir, name);

	(void) unlink(mark);
	pfree(mark);
}

void
tbdr_walspool_clean(TbdrWalSpool *sp, const char *current, int max_age)
{
	DIR		   *d = opendir(sp->dir);
	struct dirent *de;
	time_t		now = time(NULL);
	bool		current_is_segment = current != NULL &&
		tbdr_wal_file_kind(current) == TBDR_WAL_SEGMENT;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		const char *f = de->d_name;
		char	   *path;
		struct stat st;
		bool		remove = false;

		if (f[0] == '.' || strcmp(f, SPOOL_REPOSITORY_FILE) == 0)
			continue;
		path = psprintf("%s/%s", sp->dir, f);
		if (stat(path, &st) != 0)
		{
			pfree(path);
			continue;
		}
		if (now - st.st_mtime > max_age)
			remove = true;		/* recovery is long past it, or ended */
		else if (tbdr_wal_file_kind(f) == TBDR_WAL_SEGMENT)
		{
			/* segment number (the last 16 digits) before current's */
			remove = current_is_segment && strcmp(f + 8, current + 8) < 0;
		}
		else if (strstr(f, SPOOL_FETCHING_SUFFIX) != NULL)
		{
			char	   *c = read_small_file(path);

			remove = (c == NULL || !pid_alive((pid_t) atoi(c)));
			if (c)
				pfree(c);
		}
		else if (strstr(f, ".tbdr-tmp.") != NULL)
		{
			/* a fetch's temporary file: its process ended without rename */
			remove = !pid_alive((pid_t) atoi(strrchr(f, '.') + 1));
		}
		if (remove)
			(void) unlink(path);
		pfree(path);
	}
	closedir(d);
}

bool
tbdr_walspool_remove(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return errno == ENOENT;
	while ((de = readdir(d)) != NULL)
	{
		const char *f = de->d_name;

		if (strstr(f, SPOOL_FETCHING_SUFFIX) != NULL)
		{
			char	   *path = psprintf("%s/%s", dir, f);
			char	   *c = read_small_file(path);
			bool		alive = (c != NULL && pid_alive((pid_t) atoi(c)));

			if (c)
				pfree(c);
			pfree(path);
			if (alive)
			{
				closedir(d);
				return false;
			}
		}
	}
	closedir(d);
	empty_spool(dir);
	return rmdir(dir) == 0 || errno == ENOENT;
}

bool
tbdr_wal_segment_after(const char *name, uint64 seg_size, int n, char *out)
{
	unsigned int tli,
				log,
				seg;
	uint64		per_log,
				segno;

	if (tbdr_wal_file_kind(name) != TBDR_WAL_SEGMENT || seg_size == 0 ||
		seg_size > UINT64CONST(0x100000000) ||
		sscanf(name, "%08X%08X%08X", &tli, &log, &seg) != 3)
		return false;
	per_log = UINT64CONST(0x100000000) / seg_size;
	segno = (uint64) log * per_log + seg + (uint64) n;
	if (segno / per_log > UINT64CONST(0xFFFFFFFF))
		return false;
	snprintf(out, 25, "%08X%08X%08X", tli, (unsigned int) (segno / per_log),
			 (unsigned int) (segno % per_log));
	return true;
}
