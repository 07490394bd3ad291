/* slim-loader: loads secure mode's BPF objects, attaches them, pins them, and exits.
 *
 *   slim-loader load --cgroup DIR [--objects DIR] [--pin DIR]
 *   slim-loader unload [--pin DIR]
 *   slim-loader probe
 *
 * load: slim_cgroup.bpf.o from --objects (default: the directory of this binary) is attached to
 * the cgroup v2 DIR (never the root cgroup); slim_lsm.bpf.o, when it is there and the kernel runs
 * the BPF LSM, is attached too. Maps are pinned under <pin>/maps/<name> and reused by the next
 * load when their layout is unchanged (the router's entries survive a daemon restart), cgroup
 * links under <pin>/links/<program> are updated in place (bpf_link_update: enforcement never
 * pauses), LSM links under <pin>/lsm/<program> are replaced by rename. Pins of programs or maps
 * the objects no longer have are removed. One JSON line on stdout says what was done.
 * unload: removes every pin (the programs detach when their last link pin goes) and <pin>.
 * probe: one JSON line: which program types the kernel loads and whether the BPF LSM is active.
 * Exit status 0 on success, 1 on failure (the reason on stderr), 2 on a usage error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/types.h>

#include "../include/slim_secure.h"
#include "pins.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define MAX_NAMES 64

struct names {
	const char *v[MAX_NAMES];
	size_t n;
};

static void names_add(struct names *ns, const char *name)
{
	if (ns->n < MAX_NAMES)
		ns->v[ns->n++] = name;
}

static bool debug;

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !debug)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("slim-loader: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_names(const struct names *ns)
{
	putchar('[');
	for (size_t i = 0; i < ns->n; i++) {
		if (i)
			putchar(',');
		json_string(ns->v[i]);
	}
	putchar(']');
}

/* The cgroup's id, as bpf_link_info and bpf_get_current_cgroup_id() report it. */
static int cgroup_id(const char *dir, __u64 *id)
{
	struct {
		struct file_handle fh;
		__u64 id;
	} h;
	int mount_id;
	h.fh.handle_bytes = sizeof h.id;
	if (name_to_handle_at(AT_FDCWD, dir, &h.fh, &mount_id, 0) != 0)
		return -1;
	if (h.fh.handle_bytes != sizeof h.id) {
		errno = EINVAL;
		return -1;
	}
	memcpy(id, h.fh.f_handle, sizeof *id);
	return 0;
}

static struct bpf_object *open_object(const char *dir, const char *file)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return bpf_object__open_file(path, NULL);
}

static bool internal_map(const struct bpf_map *map)
{
	return bpf_map__name(map)[0] == '.'; /* .rodata, .bss, .data: the object's own globals */
}

/* Before load: each map whose pin exists with the same layout takes the pinned map's place; a pin
 * with another layout (an older version) is removed. */
static int reuse_pinned_maps(struct bpf_object *obj, const char *pin, struct names *reused)
{
	struct bpf_map *map;
	bpf_object__for_each_map(map, obj) {
		if (internal_map(map))
			continue;
		char path[PIN_PATH_MAX];
		if (!pin_path(path, sizeof path, pin, "maps", bpf_map__name(map)))
			return -1;
		int fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		struct bpf_map_info info;
		__u32 len = sizeof info;
		memset(&info, 0, sizeof info);
		bool same = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == bpf_map__type(map) &&
			    info.key_size == bpf_map__key_size(map) && info.value_size == bpf_map__value_size(map) &&
			    info.max_entries == bpf_map__max_entries(map) && info.map_flags == bpf_map__map_flags(map);
		if (same && bpf_map__reuse_fd(map, fd) == 0) {
			names_add(reused, bpf_map__name(map));
		} else {
			fprintf(stderr, "slim-loader: pinned map %s has another layout: replaced\n", path);
			unlink(path);
		}
		close(fd);
	}
	return 0;
}

static bool listed(const struct names *ns, const char *name)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i], name) == 0)
			return true;
	return false;
}

/* After load: pins the maps that were not reused; adds every map's name to all. */
static int pin_maps(struct bpf_object *obj, const char *pin, const struct names *reused, struct names *all)
{
	struct bpf_map *map;
	bpf_object__for_each_map(map, obj) {
		if (internal_map(map))
			continue;
		names_add(all, bpf_map__name(map));
		if (listed(reused, bpf_map__name(map)))
			continue;
		char path[PIN_PATH_MAX];
		if (!pin_path(path, sizeof path, pin, "maps", bpf_map__name(map)))
			return -1;
		if (bpf_map__pin(map, path) != 0) {
			fail("pin %s: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* One cgroup program: update its pinned link if that link is on this cgroup, else a new link. */
static int attach_cgroup_program(struct bpf_program *prog, int cg_fd, __u64 cg_id, const char *pin)
{
	char path[PIN_PATH_MAX];
	if (!pin_path(path, sizeof path, pin, "links", bpf_program__name(prog)))
		return -1;
	int fd = bpf_obj_get(path);
	if (fd >= 0) {
		struct bpf_link_info info;
		__u32 len = sizeof info;
		memset(&info, 0, sizeof info);
		bool ours = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_LINK_TYPE_CGROUP &&
			    info.cgroup.cgroup_id == cg_id &&
			    info.cgroup.attach_type == bpf_program__expected_attach_type(prog);
		int r = ours ? bpf_link_update(fd, bpf_program__fd(prog), NULL) : -1;
		close(fd);
		if (r == 0)
			return 0;
		unlink(path); /* on another (or a removed) cgroup: its program detaches now */
	}
	struct bpf_link *link = bpf_program__attach_cgroup(prog, cg_fd);
	if (!link) {
		fail("attach %s: %s", bpf_program__name(prog), strerror(errno));
		return -1;
	}
	int r = bpf_link__pin(link, path);
	int err = errno;
	bpf_link__disconnect(link); /* the pin keeps it; closing our fd must not detach it */
	bpf_link__destroy(link);
	if (r != 0) {
		fail("pin %s: %s", path, strerror(err));
		return -1;
	}
	return 0;
}

static bool lsm_active(bool *known)
{
	char buf[512];
	FILE *f = fopen("/sys/kernel/security/lsm", "r");
	*known = f != NULL;
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	for (char *tok = strtok(buf, ",\n"); tok; tok = strtok(NULL, ",\n"))
		if (strcmp(tok, "bpf") == 0)
			return true;
	return false;
}

struct lsm_result {
	const char *state; /* loaded, absent, unsupported, failed */
	char detail[PATH_MAX + 512];
	struct names programs;
	struct names skipped; /* hooks this kernel does not have (e.g. file_ioctl_compat before 6.8) */
};

/* LSM programs whose hook this kernel lacks are not loaded (the rest still are). */
static void skip_missing_hooks(struct bpf_object *obj, struct names *skipped)
{
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		const char *slash = strchr(sec, '/');
		if (!slash || (strncmp(sec, "lsm/", 4) != 0 && strncmp(sec, "lsm.s/", 6) != 0))
			continue;
		if (libbpf_find_vmlinux_btf_id(slash + 1, BPF_LSM_MAC) < 0) {
			bpf_program__set_autoload(prog, false);
			names_add(skipped, bpf_program__name(prog));
		}
	}
}

/* The second object, slim_lsm.bpf.o (kernel-module/lsm/), when present and the kernel runs the
 * BPF LSM. Its maps with the cgroup object's names are the same (pinned) maps. Never fatal:
 * without it the mode is cgroup-only. */
static void load_lsm(const char *objects, const char *pin, struct names *all_maps, struct lsm_result *res,
		     struct bpf_object **keep)
{
	char path[PATH_MAX];
	res->state = "failed";
	snprintf(path, sizeof path, "%s/%s", objects, SLIM_LSM_OBJ);
	if (access(path, R_OK) != 0) {
		res->state = "absent";
		snprintf(res->detail, sizeof res->detail, "no %s", path);
		pins_prune(pin, "lsm", NULL, 0);
		return;
	}
	bool known;
	if (!lsm_active(&known) && known) {
		res->state = "unsupported";
		snprintf(res->detail, sizeof res->detail, "bpf is not among the kernel's active LSMs (/sys/kernel/security/lsm)");
		pins_prune(pin, "lsm", NULL, 0);
		return;
	}
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct names reused = {0};
	if (!obj) {
		snprintf(res->detail, sizeof res->detail, "open %s: %s", path, strerror(errno));
		return;
	}
	*keep = obj;
	skip_missing_hooks(obj, &res->skipped);
	if (reuse_pinned_maps(obj, pin, &reused) != 0 || bpf_object__load(obj) != 0) {
		snprintf(res->detail, sizeof res->detail, "load %s: %s%s", path, strerror(errno),
			 known ? "" : " (securityfs not mounted: is the BPF LSM active?)");
		if (!known && (errno == EPERM || errno == EINVAL || errno == EOPNOTSUPP))
			res->state = "unsupported";
		pins_prune(pin, "lsm", NULL, 0);
		return;
	}
	if (pin_maps(obj, pin, &reused, all_maps) != 0) {
		snprintf(res->detail, sizeof res->detail, "pin maps of %s: %s", path, strerror(errno));
		return;
	}
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__autoload(prog))
			continue;
		char final[PIN_PATH_MAX], tmp[PIN_PATH_MAX], tmpname[NAME_MAX];
		/* bpffs refuses names with a dot (EPERM); "-" is in no program name. */
		snprintf(tmpname, sizeof tmpname, "new-%s", bpf_program__name(prog));
		if (!pin_path(final, sizeof final, pin, "lsm", bpf_program__name(prog)) ||
		    !pin_path(tmp, sizeof tmp, pin, "lsm", tmpname))
			return;
		struct bpf_link *link = bpf_program__attach(prog);
		if (!link) {
			snprintf(res->detail, sizeof res->detail, "attach %s: %s", bpf_program__name(prog), strerror(errno));
			if (errno == EPERM || errno == EOPNOTSUPP)
				res->state = "unsupported";
			pins_prune(pin, "lsm", NULL, 0);
			return;
		}
		unlink(tmp);
		int r = bpf_link__pin(link, tmp);
		bpf_link__disconnect(link);
		bpf_link__destroy(link);
		/* The new link runs beside the old one until the rename drops the old pin. */
		if (r != 0 || rename(tmp, final) != 0) {
			snprintf(res->detail, sizeof res->detail, "pin %s: %s", final, strerror(errno));
			unlink(tmp);
			pins_prune(pin, "lsm", NULL, 0);
			return;
		}
		names_add(&res->programs, bpf_program__name(prog));
	}
	pins_prune(pin, "lsm", res->programs.v, res->programs.n);
	res->state = "loaded";
	res->detail[0] = 0;
}

static int cmd_load(const char *cgroup, const char *objects, const char *pin)
{
	struct statfs fs;
	__u64 cg_id;
	if (statfs(cgroup, &fs) != 0)
		return fail("%s: %s", cgroup, strerror(errno));
	if ((unsigned long)fs.f_type != CGROUP2_SUPER_MAGIC)
		return fail("%s is not a cgroup v2 directory", cgroup);
	if (cgroup_id(cgroup, &cg_id) != 0)
		return fail("cgroup id of %s: %s", cgroup, strerror(errno));
	if (cg_id == 1)
		return fail("%s is the root cgroup: the programs would apply to every process (give the daemon a cgroup of its own)", cgroup);
	int cg_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0)
		return fail("open %s: %s", cgroup, strerror(errno));
	if (!pins_prepare(pin))
		return 1;

	struct bpf_object *obj = open_object(objects, SLIM_CGROUP_OBJ);
	if (!obj)
		return fail("open %s/%s: %s", objects, SLIM_CGROUP_OBJ, strerror(errno));
	struct names reused = {0}, maps = {0}, programs = {0};
	if (reuse_pinned_maps(obj, pin, &reused) != 0)
		return fail("pinned maps: %s", strerror(errno));
	if (bpf_object__load(obj) != 0)
		return fail("load %s/%s: %s (the verifier's log is above)", objects, SLIM_CGROUP_OBJ, strerror(errno));
	if (pin_maps(obj, pin, &reused, &maps) != 0)
		return 1;
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, obj) {
		if (attach_cgroup_program(prog, cg_fd, cg_id, pin) != 0)
			return 1;
		names_add(&programs, bpf_program__name(prog));
	}
	pins_prune(pin, "links", programs.v, programs.n);

	struct bpf_map *config = bpf_object__find_map_by_name(obj, "slim_config");
	struct slim_config cfg = {.daemon_cgroup_id = cg_id};
	__u32 key = 0;
	if (!config || bpf_map__update_elem(config, &key, sizeof key, &cfg, sizeof cfg, BPF_ANY) != 0)
		return fail("write slim_config: %s", strerror(errno));

	struct lsm_result lsm = {0};
	struct bpf_object *lsm_obj = NULL;
	load_lsm(objects, pin, &maps, &lsm, &lsm_obj);
	pins_prune(pin, "maps", maps.v, maps.n);

	printf("{\"cgroup\":");
	json_string(cgroup);
	printf(",\"cgroupId\":%llu,\"pin\":", (unsigned long long)cg_id);
	json_string(pin);
	printf(",\"programs\":");
	json_names(&programs);
	printf(",\"maps\":");
	json_names(&maps);
	printf(",\"reusedMaps\":");
	json_names(&reused);
	printf(",\"lsm\":{\"state\":");
	json_string(lsm.state);
	printf(",\"detail\":");
	json_string(lsm.detail);
	printf(",\"programs\":");
	json_names(&lsm.programs);
	printf(",\"skipped\":");
	json_names(&lsm.skipped);
	printf("}}\n");
	bpf_object__close(lsm_obj);
	bpf_object__close(obj);
	close(cg_fd);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_unload(const char *pin)
{
	int removed = pins_remove_all(pin);
	if (removed < 0)
		return 1;
	printf("{\"pin\":");
	json_string(pin);
	printf(",\"removed\":%d}\n", removed);
	return 0;
}

static int cmd_probe(void)
{
	static const struct {
		const char *name;
		enum bpf_prog_type type;
	} TYPES[] = {
		{"cgroup_sock_addr", BPF_PROG_TYPE_CGROUP_SOCK_ADDR},
		{"cgroup_sockopt", BPF_PROG_TYPE_CGROUP_SOCKOPT},
		{"sock_ops", BPF_PROG_TYPE_SOCK_OPS},
		{"cgroup_skb", BPF_PROG_TYPE_CGROUP_SKB},
		{"lsm", BPF_PROG_TYPE_LSM},
	};
	printf("{\"progTypes\":{");
	for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
		printf("%s\"%s\":%s", i ? "," : "", TYPES[i].name, libbpf_probe_bpf_prog_type(TYPES[i].type, NULL) == 1 ? "true" : "false");
	bool known;
	bool active = lsm_active(&known);
	printf("},\"bpfLsmActive\":%s}\n", known ? (active ? "true" : "false") : "null");
	return 0;
}

static int usage(void)
{
	fputs("usage: slim-loader load --cgroup DIR [--objects DIR] [--pin DIR]\n"
	      "       slim-loader unload [--pin DIR]\n"
	      "       slim-loader probe\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	const char *cgroup = NULL, *objects = NULL, *pin = SLIM_PIN_ROOT;
	char self[PATH_MAX];
	if (argc < 2)
		return usage();
	for (int i = 2; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "--cgroup") == 0)
			cgroup = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--objects") == 0)
			objects = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--pin") == 0)
			pin = argv[++i];
		else
			return usage();
	}
	debug = getenv("SLIM_LOADER_DEBUG") != NULL;
	libbpf_set_print(print_libbpf);
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	if (!objects) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n <= 0)
			return fail("cannot find my own directory: pass --objects");
		self[n] = 0;
		objects = dirname(self);
	}
	if (strcmp(argv[1], "load") == 0)
		return cgroup ? cmd_load(cgroup, objects, pin) : usage();
	if (strcmp(argv[1], "unload") == 0)
		return cmd_unload(pin);
	if (strcmp(argv[1], "probe") == 0)
		return cmd_probe();
	return usage();
}
