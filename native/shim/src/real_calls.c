/* Resolves the real libc calls once (see real_calls.h). */
#include "real_calls.h"

#include <dlfcn.h>
#include <string.h>

#include "glibc_compat.h"
#include "shim.h"

struct slim_real_calls slim_real;
atomic_bool slim_real_ready;

static atomic_int resolve_state;

/* dlsym returns void *; converting that to a function pointer is what POSIX guarantees works
 * (and what -Wpedantic would flag), so it is done through memcpy of the same-sized object. */
#define RESOLVE(field, sym)                                        \
	do {                                                       \
		void *p_ = dlsym(RTLD_NEXT, sym);                  \
		_Static_assert(sizeof(p_) == sizeof(slim_real.field), \
			       "function pointer size");           \
		memcpy(&slim_real.field, &p_, sizeof(p_));         \
	} while (0)

static void resolve_all(void)
{
	RESOLVE(socket, "socket");
	RESOLVE(bind, "bind");
	RESOLVE(setsockopt, "setsockopt");
	RESOLVE(getsockopt, "getsockopt");
	RESOLVE(connect, "connect");
	RESOLVE(listen, "listen");
	RESOLVE(shutdown, "shutdown");
	RESOLVE(accept, "accept");
	RESOLVE(accept4, "accept4");
	RESOLVE(getpeername, "getpeername");
	RESOLVE(getsockname, "getsockname");
	RESOLVE(close, "close");
	RESOLVE(dup, "dup");
	RESOLVE(dup2, "dup2");
	RESOLVE(dup3, "dup3");
	RESOLVE(close_range, "close_range");
	RESOLVE(closefrom, "closefrom");
	RESOLVE(fcntl, "fcntl");
	RESOLVE(fcntl64, "fcntl64");
	RESOLVE(epoll_ctl, "epoll_ctl");
	RESOLVE(poll, "poll");
	RESOLVE(ppoll, "ppoll");
	RESOLVE(poll_chk, "__poll_chk");
	RESOLVE(ppoll_chk, "__ppoll_chk");
	RESOLVE(select, "select");
	RESOLVE(pselect, "pselect");
	atomic_store_explicit(&slim_real_ready, true, memory_order_release);
}

void slim_real_resolve(void)
{
	slim_once(&resolve_state, resolve_all);
}
