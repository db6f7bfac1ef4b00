// libFuzzer harness for the trial config reader (libconfig text checked against the schema):
// any bytes must load or be refused with a message, and a config that loads must have a
// canonical text that reads back to itself when its lines are applied as --set overrides to a
// config that has only the task (what a sweep does to set its axes).
//
// Input: the config text, then optionally a NUL byte and --set overrides, one per line.
#include "are_config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_OVERRIDES 64

// libconfig 1.5 (Debian 12) leaks the text of a string token that its parser refuses, as in
// "a = 1 \"x\";" (the grammar declares no destructor for it): a few bytes per refused file,
// in a process that then exits. Not ours to fix. Suppressed by the libconfig functions that
// allocate such text (strbuf_append grows it, the lexer allocates an empty one; the only
// frames LSan sees, as libconfig has no frame pointers); every other leak still counts.
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

// A broken invariant is a finding: crash so that libFuzzer keeps the input.
static void require(bool ok) {
    if (!ok) abort();
}

// are_config_load takes a path: each config goes through one file per process.
static const char *write_config(const char *text, size_t len) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof(path), "/tmp/fuzz_are_config_%d.cfg", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    fwrite(text, 1, len, f);
    fclose(f);
    return path;
}

// Splits text (modified in place) at newlines into overrides; returns how many.
static int split_lines(char *text, char **lines) {
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < MAX_OVERRIDES; line = strtok(NULL, "\n"))
        lines[n++] = line;
    return n;
}

// The canonical lines as overrides on a config with only the task; checks the text is the same.
static void require_reads_back(const AreConfig *c, const char *canonical) {
    char *text = strdup(canonical);
    char *lines[MAX_OVERRIDES], *moved[MAX_OVERRIDES] = {0};
    int n = split_lines(text, lines);
    require(n < MAX_OVERRIDES);
    for (int i = 0; i < n; i++) { // "path = value;" into "path=value", task.X into tasks.T.X
        char *line = lines[i], *equals = strstr(line, " = ");
        size_t len = strlen(line);
        require(equals != NULL && line[len - 1] == ';');
        line[len - 1] = '\0';
        memmove(equals + 1, equals + 3, strlen(equals + 3) + 1);
        equals[0] = '=';
        if (!strncmp(line, "task.", 5)) {
            size_t moved_len = strlen(line) + strlen(c->task_name) + 8;
            moved[i] = malloc(moved_len);
            snprintf(moved[i], moved_len, "tasks.%s.%s", c->task_name, line + 5);
            lines[i] = moved[i];
        }
    }
    char minimal[256];
    int len = snprintf(minimal, sizeof(minimal),
                       "task = \"%s\"; tasks = { %s = { data = [\"x\"]; target_label = 0; }; };\n",
                       c->task_name, c->task_name);
    static AreConfig again;
    char err[1024] = "";
    const char *path = write_config(minimal, (size_t)len);
    if (path) {
        int rc = are_config_load(path, (const char *const *)lines, n, &again, err, sizeof(err));
        if (rc < 0) fprintf(stderr, "canonical text does not read back: %s\n", err);
        require(rc == 0);
        char *back = are_config_canonical(&again);
        if (back && strcmp(back, canonical))
            fprintf(stderr, "canonical text\n%s\nread back as\n%s\n", canonical, back);
        require(back && !strcmp(back, canonical));
        free(back);
    }
    for (int i = 0; i < n; i++) free(moved[i]);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t config_len = nul ? (size_t)(nul - data) : size;
    char *overrides_text = NULL;
    char *overrides[MAX_OVERRIDES];
    int n_overrides = 0;
    if (nul) {
        size_t len = size - config_len - 1;
        overrides_text = malloc(len + 1);
        memcpy(overrides_text, nul + 1, len);
        overrides_text[len] = '\0';
        n_overrides = split_lines(overrides_text, overrides);
    }
    const char *path = write_config((const char *)data, config_len);
    static AreConfig c;
    char err[1024] = "";
    if (path) {
        if (are_config_load(path, (const char *const *)overrides, n_overrides, &c, err,
                            sizeof(err)) < 0) {
            require(err[0] != '\0');
        } else {
            char *canonical = are_config_canonical(&c);
            require(canonical != NULL);
            require_reads_back(&c, canonical);
            free(canonical);
        }
    }
    free(overrides_text);
    return 0;
}
