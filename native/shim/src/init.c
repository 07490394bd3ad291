/* Process start: resolve libc, read the environment once, register fork handlers, and recover
 * the sockets an exec'ing parent left us. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "fd_table.h"
#include "real_calls.h"
#include "router_channel.h"
#include "shim.h"

bool slim_debug;

static atomic_int init_state;

static void atfork_prepare(void)
{
	slim_fd_table_atfork_prepare();
}

static void atfork_parent(void)
{
	slim_fd_table_atfork_parent();
}

static void atfork_child(void)
{
	slim_fd_table_atfork_child();
	slim_router_atfork_child();
}

static void init_once_fn(void)
{
	slim_real_resolve();
	/* getenv results are used now and never kept: the app may overwrite its environment. */
	const char *dbg = getenv("SLIM_SHIM_DEBUG");
	slim_debug = dbg && dbg[0] && dbg[0] != '0';
	slim_router_configure();
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void slim_init(void)
{
	slim_once(&init_state, init_once_fn);
}

__attribute__((constructor)) static void slim_constructor(void)
{
	slim_init();
	slim_recover_inherited();
}
