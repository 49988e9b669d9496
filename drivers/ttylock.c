/*
 * ttylock: see ttylock.h. /proc/locks lines look like
 *   "3: FLOCK  ADVISORY  WRITE 1234 00:05:87 0 EOF"
 * (number, kind, mode, type, pid, major:minor:inode of the locked file...);
 * the device and inode of the line's path pick its line.
 */
#include "ttylock.h"

#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int ttylock_take(int fd)
{
	return flock(fd, LOCK_EX | LOCK_NB);
}

pid_t ttylock_holder(const char *device)
{
	struct stat st;
	char line[256];
	pid_t found = 0;
	FILE *f;

	if (stat(device, &st) != 0 || !(f = fopen("/proc/locks", "r")))
		return 0;
	while (!found && fgets(line, sizeof line, f)) {
		char kind[16];
		unsigned maj, min;
		unsigned long long ino;
		long pid;
		/* "N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE ..." ("N: -> FLOCK" for a waiter) */
		if (strstr(line, "->"))
			continue;
		if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", kind, &pid, &maj, &min,
			   &ino) != 5 || strcmp(kind, "FLOCK") != 0)
			continue;
		if (makedev(maj, min) == st.st_dev && (ino_t)ino == st.st_ino && pid > 0)
			found = (pid_t)pid;
	}
	fclose(f);
	return found;
}
