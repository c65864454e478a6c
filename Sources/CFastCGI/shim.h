#ifndef CFASTCGI_SHIM_H
#define CFASTCGI_SHIM_H
#include <fcgiapp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

// Lowers the calling thread's priority (Linux keeps a nice value per thread). In C because the
// thread id comes from the variadic syscall(), which Swift cannot call. Returns setpriority's result.
static inline int cfastcgi_nice_this_thread(int nice) {
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
}
#endif
