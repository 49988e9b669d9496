/*
 * ttylock: one program at a time on a serial line. Whoever opens an RS-485
 * line (the daemon's bus worker, or `yardwatch read`/`scan` talking to the
 * line itself) takes an exclusive flock() on it: two masters on one line
 * garble each other's frames. The lock goes with the descriptor (closed,
 * or the process gone).
 */
#ifndef YW_TTYLOCK_H
#define YW_TTYLOCK_H

#include <sys/types.h>

/* Take the lock on the open line FD without waiting. 0, or -1 with errno
 * EWOULDBLOCK when another process holds it (other errors: as flock()). */
int ttylock_take(int fd);

/* The pid of the process holding the lock on the line DEVICE (a path),
 * from /proc/locks; 0 when nobody holds it or it cannot be told. */
pid_t ttylock_holder(const char *device);

#endif
