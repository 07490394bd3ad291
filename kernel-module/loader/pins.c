/* Pin directory housekeeping: creation, locking, pruning, removal. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pins.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

static const char *const SUBDIRS[] = {"maps", "links", "lsm"};

bool pin_path(char *buf, size_t cap, const char *root, const char *sub, const char *name)
{
	int n = name ? snprintf(buf, cap, "%s/%s/%s", root, sub, name) : snprintf(buf, cap, "%s/%s", root, sub);
	if (n < 0 || (size_t)n >= cap) {
		errno = ENAMETOOLONG;
		return false;
	}
	return true;
}

bool pins_prepare(const char *root)
{
	char parent[PIN_PATH_MAX];
	if (snprintf(parent, sizeof parent, "%s", root) >= (int)sizeof parent) {
		errno = ENAMETOOLONG;
		return false;
	}
	const char *dir = dirname(parent);
	struct statfs fs;
	if (statfs(dir, &fs) != 0) {
		fprintf(stderr, "slim-loader: %s: %s\n", dir, strerror(errno));
		return false;
	}
	/* The standard place, where systemd mounts it: mounted here when nothing did (in our mount
	 * namespace; pins then live as long as it). Anywhere else is the caller's business. */
	if ((unsigned long)fs.f_type != BPF_FS_MAGIC && strcmp(dir, "/sys/fs/bpf") == 0 &&
	    mount("bpf", dir, "bpf", 0, "mode=0700") == 0 && statfs(dir, &fs) != 0)
		return false;
	if ((unsigned long)fs.f_type != BPF_FS_MAGIC) {
		fprintf(stderr, "slim-loader: %s is not a bpf filesystem (mount -t bpf bpf %s)\n", dir, dir);
		errno = EINVAL;
		return false;
	}
	if (mkdir(root, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "slim-loader: mkdir %s: %s\n", root, strerror(errno));
		return false;
	}
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX) != 0) { /* fd stays open: the lock lasts until exit */
		fprintf(stderr, "slim-loader: lock %s: %s\n", root, strerror(errno));
		return false;
	}
	for (size_t i = 0; i < sizeof SUBDIRS / sizeof SUBDIRS[0]; i++) {
		char sub[PIN_PATH_MAX];
		if (!pin_path(sub, sizeof sub, root, SUBDIRS[i], NULL) || (mkdir(sub, 0700) != 0 && errno != EEXIST)) {
			fprintf(stderr, "slim-loader: mkdir %s/%s: %s\n", root, SUBDIRS[i], strerror(errno));
			return false;
		}
	}
	return true;
}

static bool kept(const char *name, const char *const *keep, size_t nkeep)
{
	for (size_t i = 0; i < nkeep; i++)
		if (strcmp(name, keep[i]) == 0)
			return true;
	return false;
}

int pins_prune(const char *root, const char *sub, const char *const *keep, size_t nkeep)
{
	char dir[PIN_PATH_MAX];
	if (!pin_path(dir, sizeof dir, root, sub, NULL))
		return 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0)))
			continue;
		if (keep && kept(e->d_name, keep, nkeep))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
		else
			fprintf(stderr, "slim-loader: unpin %s/%s: %s\n", dir, e->d_name, strerror(errno));
	}
	closedir(d);
	return removed;
}

int pins_remove_all(const char *root)
{
	struct stat st;
	if (stat(root, &st) != 0 && errno == ENOENT)
		return 0;
	int removed = 0;
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		flock(fd, LOCK_EX); /* released at exit; rmdir of a locked directory is fine */
	/* Links first (once they are gone no program runs), then the maps. */
	static const char *const ORDER[] = {"links", "lsm", "maps"};
	for (size_t i = 0; i < sizeof ORDER / sizeof ORDER[0]; i++) {
		removed += pins_prune(root, ORDER[i], NULL, 0);
		char dir[PIN_PATH_MAX];
		if (pin_path(dir, sizeof dir, root, ORDER[i], NULL) && rmdir(dir) != 0 && errno != ENOENT) {
			fprintf(stderr, "slim-loader: rmdir %s: %s\n", dir, strerror(errno));
			return -1;
		}
	}
	if (rmdir(root) != 0 && errno != ENOENT) {
		fprintf(stderr, "slim-loader: rmdir %s: %s\n", root, strerror(errno));
		return -1;
	}
	return removed;
}
