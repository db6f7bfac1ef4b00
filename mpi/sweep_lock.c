// A sweep's hold on its run folder; see sweep_lock.h.
#include "sweep_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <unistd.h>

// Opens run_dir/name and flocks it (operation LOCK_EX or LOCK_SH, never waiting). Returns the
// descriptor, or -1 with errno.
static int lock_file(const char *run_dir, const char *name, int operation, char *path,
                     size_t path_len) {
    snprintf(path, path_len, "%s/%s", run_dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    if (flock(fd, operation | LOCK_NB) == 0) return fd;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int sweep_lock_take(SweepLock *l, const char *run_dir, bool orchestrator, char *err,
                    size_t err_len) {
    *l = SWEEP_LOCK_NONE;
    char path[PATH_MAX];
    if (orchestrator) {
        l->folder_fd = lock_file(run_dir, "sweep.lock", LOCK_EX, path, sizeof path);
        if (l->folder_fd < 0) {
            snprintf(err, err_len, "%.900s: %s", path,
                     errno == EWOULDBLOCK ? "another sweep is running on this folder"
                                          : strerror(errno));
            return -1;
        }
        // Exclusive for an instant: refused while any rank of another job holds it shared;
        // then shared like every rank's (the folder lock keeps other rank 0s from this step).
        l->ranks_fd = lock_file(run_dir, "sweep.ranks.lock", LOCK_EX, path, sizeof path);
        if (l->ranks_fd >= 0 && flock(l->ranks_fd, LOCK_SH | LOCK_NB) == 0) return 0;
        snprintf(err, err_len, "%.900s: %s", path,
                 errno == EWOULDBLOCK ? "ranks of an earlier sweep still work in this folder "
                                        "(wait until they end, or end them)"
                                      : strerror(errno));
        sweep_lock_release(l);
        return -1;
    }
    l->ranks_fd = lock_file(run_dir, "sweep.ranks.lock", LOCK_SH, path, sizeof path);
    if (l->ranks_fd >= 0) return 0;
    snprintf(err, err_len, "%.900s: %s", path,
             errno == EWOULDBLOCK ? "another sweep is taking this folder" : strerror(errno));
    return -1;
}

void sweep_lock_release(SweepLock *l) {
    if (l->folder_fd >= 0) close(l->folder_fd);
    if (l->ranks_fd >= 0) close(l->ranks_fd);
    *l = SWEEP_LOCK_NONE;
}

void sweep_lock_die_with_launcher(void) {
    pid_t launcher = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != launcher) raise(SIGKILL); // gone before the request took effect
}
