/* Minimal newlib system calls for the MPS2 boards: a bounded heap for snprintf's internals; stdio
 * goes through the HAL console. Files are not used through stdio (see tinyunfold/hal.h). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "tinyunfold/hal.h"

extern char end, __HeapLimit;
static char *heap_top = &end;

void *_sbrk(ptrdiff_t incr) {
    if (heap_top + incr > &__HeapLimit || heap_top + incr < &end) {
        errno = ENOMEM;
        return (void *)-1;
    }
    char *prev = heap_top;
    heap_top += incr;
    return prev;
}

int _write(int fd, const char *buf, int len) {
    (void)fd;
    tu_hal_console_write(buf, (size_t)len);
    return len;
}

int _read(int fd, char *buf, int len) {
    (void)fd;
    (void)buf;
    (void)len;
    return 0;
}

int _close(int fd) {
    (void)fd;
    return -1;
}

int _fstat(int fd, struct stat *st) {
    (void)fd;
    st->st_mode = S_IFCHR;
    return 0;
}

int _isatty(int fd) {
    (void)fd;
    return 1;
}

int _lseek(int fd, int off, int whence) {
    (void)fd;
    (void)off;
    (void)whence;
    return 0;
}

void _exit(int code) {
    tu_hal_exit(code);
}

int _kill(int pid, int sig) {
    (void)pid;
    (void)sig;
    errno = EINVAL;
    return -1;
}

int _getpid(void) {
    return 1;
}
