/* Bind the few libc symbols whose default version is new to their oldest version, so the glibc
 * build loads on images with an older glibc (Debian 12's defaults are dlsym@GLIBC_2.34 and
 * dladdr@GLIBC_2.34). The build checks with objdump that nothing needs more than GLIBC_2.17.
 * Include this only in the files that call these functions: .symver works per object file. On
 * glibc < 2.34 these live in libdl.so.2, which the Makefile adds as DT_NEEDED. musl has no
 * symbol versions. */
#ifndef SLIM_GLIBC_COMPAT_H
#define SLIM_GLIBC_COMPAT_H

#if defined(__GLIBC__)
#if defined(__x86_64__)
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
__asm__(".symver dladdr,dladdr@GLIBC_2.2.5");
#elif defined(__aarch64__)
__asm__(".symver dlsym,dlsym@GLIBC_2.17");
__asm__(".symver dladdr,dladdr@GLIBC_2.17");
#endif
#endif

#endif
