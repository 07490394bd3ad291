/* Loads the BPF LSM object alone inside the test VM, for the phase that shows what the LSM half of
 * secure mode stops by itself (the real loader, kernel-module/loader, always loads the cgroup
 * object first). Same pin layout as that loader: maps under PIN_DIR/maps/<map>, links under
 * PIN_DIR/lsm/<program>; slim_config gets the daemon cgroup's id, as the loader writes it.
 * Programs whose hook this kernel lacks (file_ioctl_compat before 6.8 and its backports) are
 * skipped and named. The programs stay attached after this exits (the pins hold them).
 *
 * usage: lsm-load OBJECT DAEMON_CGROUP PIN_DIR
 * Prints "LSM-LOADED <n> programs: <names>", "LSM-SKIPPED <program> (no hook <name>)" lines, or
 * "LSM-ERROR …" (exit 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "slim_secure.h"

static int warnings_only(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stdout, fmt, ap);
}

static int cgroup_id(const char *dir, __u64 *id)
{
	struct {
		struct file_handle fh;
		__u64 id;
	} h;
	int mount_id;
	h.fh.handle_bytes = sizeof(h.id);
	if (name_to_handle_at(AT_FDCWD, dir, &h.fh, &mount_id, 0) != 0)
		return -1;
	memcpy(id, h.fh.f_handle, sizeof(*id));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: lsm-load OBJECT DAEMON_CGROUP PIN_DIR\n");
		return 2;
	}
	const char *obj_path = argv[1], *cgroup = argv[2], *pin_dir = argv[3];
	libbpf_set_print(warnings_only);
	char path[512];
	mkdir(pin_dir, 0700);
	snprintf(path, sizeof(path), "%s/maps", pin_dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/lsm", pin_dir);
	mkdir(path, 0700);
	__u64 cg_id;
	if (cgroup_id(cgroup, &cg_id) != 0) {
		printf("LSM-ERROR cgroup id of %s: %s\n", cgroup, strerror(errno));
		return 1;
	}

	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	if (!obj) {
		printf("LSM-ERROR open %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	struct btf *vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		printf("LSM-ERROR no kernel BTF: %s\n", strerror(errno));
		return 1;
	}
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		const char *hook = strchr(sec, '/') ? strchr(sec, '/') + 1 : sec;
		char fn[128];
		snprintf(fn, sizeof(fn), "bpf_lsm_%s", hook);
		if (btf__find_by_name_kind(vmlinux, fn, BTF_KIND_FUNC) < 0) {
			printf("LSM-SKIPPED %s (no hook %s)\n", bpf_program__name(prog), hook);
			bpf_program__set_autoload(prog, false);
		}
	}
	btf__free(vmlinux);

	struct bpf_map *map;
	bpf_object__for_each_map(map, obj) {
		if (bpf_map__name(map)[0] == '.')
			continue; /* the object's own globals */
		snprintf(path, sizeof(path), "%s/maps/%s", pin_dir, bpf_map__name(map));
		bpf_map__set_pin_path(map, path);
	}
	if (bpf_object__load(obj) != 0) {
		printf("LSM-ERROR load: %s\n", strerror(errno));
		return 1;
	}
	struct slim_config cfg = { .daemon_cgroup_id = cg_id };
	__u32 key = 0;
	map = bpf_object__find_map_by_name(obj, "slim_config");
	if (!map || bpf_map__update_elem(map, &key, sizeof(key), &cfg, sizeof(cfg), BPF_ANY) != 0) {
		printf("LSM-ERROR slim_config: %s\n", strerror(errno));
		return 1;
	}
	char names[512] = "";
	int n = 0;
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__autoload(prog))
			continue;
		struct bpf_link *link = bpf_program__attach(prog);
		if (!link) {
			printf("LSM-ERROR attach %s: %s\n", bpf_program__name(prog), strerror(errno));
			return 1;
		}
		snprintf(path, sizeof(path), "%s/lsm/%s", pin_dir, bpf_program__name(prog));
		if (bpf_link__pin(link, path) != 0) {
			printf("LSM-ERROR pin %s: %s\n", path, strerror(errno));
			return 1;
		}
		size_t l = strlen(names);
		snprintf(names + l, sizeof(names) - l, "%s%s", n ? " " : "", bpf_program__name(prog));
		n++;
	}
	printf("LSM-LOADED %d programs: %s\n", n, names);
	return 0;
}
