/* Opt-in timing stamps for measuring connection set-up (SLIM_SHIM_TRACE=<file prefix>): each
 * stamp is a line "<event> <pid> <seq> <CLOCK_MONOTONIC ns>" in <prefix>.<pid>, buffered and
 * written in blocks (a process killed loses its last block). Off: one load and a branch. */
#ifndef SLIM_TRACE_H
#define SLIM_TRACE_H
#include <stdbool.h>
#include <stdint.h>

extern bool slim_tracing;
void slim_trace_configure(void);
void slim_trace_stamp(const char *event, uint32_t seq);
#define SLIM_TRACE(event, seq)                        \
	do {                                          \
		if (slim_tracing)                     \
			slim_trace_stamp(event, seq); \
	} while (0)
#endif
