/* The pin directory: <root>/maps, <root>/links, <root>/lsm on a bpffs. */
#ifndef SLIM_LOADER_PINS_H
#define SLIM_LOADER_PINS_H

#include <stdbool.h>
#include <stddef.h>

#define PIN_PATH_MAX 512

/* Fails (errno set, message on stderr) unless root's parent directory is on a bpffs. Creates
 * root and its three subdirectories (mode 0700) and takes an exclusive flock on root, held until
 * the process exits: two loaders never interleave. */
bool pins_prepare(const char *root);

/* "<root>/<sub>/<name>" into buf; false if it does not fit. */
bool pin_path(char *buf, size_t cap, const char *root, const char *sub, const char *name);

/* Removes every pin in <root>/<sub> whose name is not in keep[0..nkeep) (names of the current
 * object); returns how many were removed. keep may be NULL (remove all). */
int pins_prune(const char *root, const char *sub, const char *const *keep, size_t nkeep);

/* Removes everything under root and root itself. Returns the number of pins removed, or -1 if
 * something remained (errno set). A missing root is not an error (0). */
int pins_remove_all(const char *root);

#endif
