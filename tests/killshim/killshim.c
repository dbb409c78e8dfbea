/*
 * killshim: an LD_PRELOAD library that kills its process with SIGKILL just before the Nth
 * system call it counts, so that a crash test can stop a writer at *every* system call of a
 * protocol, in order, instead of at random times.
 *
 * It counts the libc calls that change a file or its locks (open, pwrite, write, fsync,
 * fdatasync, ftruncate, fallocate, flock, fcntl locks, rename, unlink) when they concern a
 * path that contains $KILLSHIM_TARGET; other files, and reads, are not counted.
 *
 *   KILLSHIM_TARGET  substring of the paths that count (required; nothing counts without it)
 *   KILLSHIM_AT      1-based index of the call to die before; unset or 0: never die
 *   KILLSHIM_LOG     file to which each counted call appends one line "N name", so that a
 *                    first run without KILLSHIM_AT lists the protocol's calls
 *
 * Calls made with raw syscalls (rustix's linux_raw backend, e.g. its fcntl_lock) bypass libc
 * and are not seen; the calls around them are.
 *
 * Built by the tests with: cc -shared -fPIC -O2 -o killshim.so killshim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static long counted;

static int path_matches(const char *path) {
    const char *target = getenv("KILLSHIM_TARGET");
    return target && *target && path && strstr(path, target);
}

static int fd_matches(int fd) {
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) return 0;
    path[n] = 0;
    return path_matches(path);
}

/* Counts one call; dies first when it is the one KILLSHIM_AT names. */
static void tick(const char *name) {
    counted += 1;
    const char *log = getenv("KILLSHIM_LOG");
    if (log && *log) {
        char line[128];
        int len = snprintf(line, sizeof line, "%ld %s\n", counted, name);
        int (*real_open)(const char *, int, ...) = dlsym(RTLD_NEXT, "open");
        int fd = real_open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ssize_t (*real_write)(int, const void *, size_t) = dlsym(RTLD_NEXT, "write");
            (void)real_write(fd, line, (size_t)len);
            close(fd);
        }
    }
    const char *at = getenv("KILLSHIM_AT");
    if (at && atol(at) == counted) {
        raise(SIGKILL);
    }
}

#define REAL(name, ret, args) \
    static ret(*real_##name) args; \
    if (!real_##name) *(void **)(&real_##name) = dlsym(RTLD_NEXT, #name)

static int open_like(const char *name, int dirfd, const char *path, int flags, mode_t mode,
                     int at) {
    /* Opening for reading changes nothing; creating or opening for writing counts. */
    if ((flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) && path_matches(path)) tick(name);
    if (at) {
        REAL(openat, int, (int, const char *, int, ...));
        return real_openat(dirfd, path, flags, mode);
    }
    REAL(open, int, (const char *, int, ...));
    return real_open(path, flags, mode);
}

static mode_t mode_arg(int flags, va_list args) {
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(args, int) : 0;
}

int open(const char *path, int flags, ...) {
    va_list args; va_start(args, flags); mode_t mode = mode_arg(flags, args); va_end(args);
    return open_like("open", AT_FDCWD, path, flags, mode, 0);
}
int open64(const char *path, int flags, ...) {
    va_list args; va_start(args, flags); mode_t mode = mode_arg(flags, args); va_end(args);
    return open_like("open", AT_FDCWD, path, flags, mode, 0);
}
int openat(int dirfd, const char *path, int flags, ...) {
    va_list args; va_start(args, flags); mode_t mode = mode_arg(flags, args); va_end(args);
    return open_like("openat", dirfd, path, flags, mode, 1);
}
int openat64(int dirfd, const char *path, int flags, ...) {
    va_list args; va_start(args, flags); mode_t mode = mode_arg(flags, args); va_end(args);
    return open_like("openat", dirfd, path, flags, mode, 1);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t offset) {
    if (fd_matches(fd)) tick("pwrite");
    REAL(pwrite, ssize_t, (int, const void *, size_t, off_t));
    return real_pwrite(fd, buf, len, offset);
}
ssize_t pwrite64(int fd, const void *buf, size_t len, off_t offset) {
    if (fd_matches(fd)) tick("pwrite");
    REAL(pwrite64, ssize_t, (int, const void *, size_t, off_t));
    return real_pwrite64(fd, buf, len, offset);
}
ssize_t write(int fd, const void *buf, size_t len) {
    if (fd > 2 && fd_matches(fd)) tick("write");
    REAL(write, ssize_t, (int, const void *, size_t));
    return real_write(fd, buf, len);
}
int fsync(int fd) {
    if (fd_matches(fd)) tick("fsync");
    REAL(fsync, int, (int));
    return real_fsync(fd);
}
int fdatasync(int fd) {
    if (fd_matches(fd)) tick("fdatasync");
    REAL(fdatasync, int, (int));
    return real_fdatasync(fd);
}
int ftruncate(int fd, off_t len) {
    if (fd_matches(fd)) tick("ftruncate");
    REAL(ftruncate, int, (int, off_t));
    return real_ftruncate(fd, len);
}
int ftruncate64(int fd, off_t len) {
    if (fd_matches(fd)) tick("ftruncate");
    REAL(ftruncate64, int, (int, off_t));
    return real_ftruncate64(fd, len);
}
int fallocate(int fd, int mode, off_t offset, off_t len) {
    if (fd_matches(fd)) tick("fallocate");
    REAL(fallocate, int, (int, int, off_t, off_t));
    return real_fallocate(fd, mode, offset, len);
}
int fallocate64(int fd, int mode, off_t offset, off_t len) {
    if (fd_matches(fd)) tick("fallocate");
    REAL(fallocate64, int, (int, int, off_t, off_t));
    return real_fallocate64(fd, mode, offset, len);
}
int flock(int fd, int op) {
    if (fd_matches(fd)) tick((op & LOCK_UN) ? "flock(unlock)" : "flock");
    REAL(flock, int, (int, int));
    return real_flock(fd, op);
}

static int is_lock_cmd(int cmd) {
    return cmd == F_SETLK || cmd == F_SETLKW || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW;
}
int fcntl(int fd, int cmd, ...) {
    va_list args; va_start(args, cmd); void *arg = va_arg(args, void *); va_end(args);
    if (is_lock_cmd(cmd) && fd_matches(fd)) tick("fcntl(lock)");
    REAL(fcntl, int, (int, int, ...));
    return real_fcntl(fd, cmd, arg);
}
int fcntl64(int fd, int cmd, ...) {
    va_list args; va_start(args, cmd); void *arg = va_arg(args, void *); va_end(args);
    if (is_lock_cmd(cmd) && fd_matches(fd)) tick("fcntl(lock)");
    REAL(fcntl64, int, (int, int, ...));
    return real_fcntl64(fd, cmd, arg);
}
int rename(const char *from, const char *to) {
    if (path_matches(from) || path_matches(to)) tick("rename");
    REAL(rename, int, (const char *, const char *));
    return real_rename(from, to);
}
int renameat(int fromfd, const char *from, int tofd, const char *to) {
    if (path_matches(from) || path_matches(to)) tick("rename");
    REAL(renameat, int, (int, const char *, int, const char *));
    return real_renameat(fromfd, from, tofd, to);
}
int unlink(const char *path) {
    if (path_matches(path)) tick("unlink");
    REAL(unlink, int, (const char *));
    return real_unlink(path);
}
int truncate(const char *path, off_t len) {
    if (path_matches(path)) tick("truncate");
    REAL(truncate, int, (const char *, off_t));
    return real_truncate(path, len);
}
