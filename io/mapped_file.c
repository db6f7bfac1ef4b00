// Read-only file mappings; see mapped_file.h.
#include "mapped_file.h"
#include "fail.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int mapped_file_open(MappedFile *file, const char *path, char *err, size_t err_len) {
    *file = (MappedFile){NULL, 0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(err, err_len, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, err_len, "%s: not a regular file", path);
    }
    if (st.st_size == 0) { // mmap refuses an empty range; the caller reports the missing header
        close(fd);
        return 0;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd); // the mapping keeps the file open
    if (map == MAP_FAILED)
        return fail(err, err_len, "%s: cannot map %lld bytes: %s", path, (long long)st.st_size,
                    strerror(errno));
    file->data = map;
    file->size = (size_t)st.st_size;
    return 0;
}

void mapped_file_close(MappedFile *file) {
    if (file->data) munmap((void *)file->data, file->size);
    *file = (MappedFile){NULL, 0};
}
