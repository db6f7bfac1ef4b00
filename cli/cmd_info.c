// `are info`: what this build can do and where each rank of the job would run.
#include "backend_cpu.h"
#include "cli_args.h"
#include "commands.h"
#include "placement.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef ARE_HAVE_CUDA
#include "cuda_devices.h"
#endif

static const char synopsis[] =
    "usage: are info [--threads N]\n"
    "\n"
    "Prints the build (version, backends, BLAS) and, for every MPI rank, its host, node-local\n"
    "rank, the CPU threads its compute would use and the GPU it would take. Run it under\n"
    "mpirun to check a job's placement before a sweep.\n"
    "\n";

// Returns -1 to go on, or the exit code to return at once (after --help or a bad argument).
static int parse_args(int argc, char **argv, int *threads) {
    const Option options[] = {
        option_threads(threads,
                       "CPU threads per rank (default: the node's cores split among its ranks)"),
    };
    CommandLine cl = {"info", synopsis, .options = options,
                      .n_options = (int)(sizeof options / sizeof options[0])};
    return cli_parse(&cl, argc, argv);
}

static void print_build(void) {
    printf("are %s\n", ARE_VERSION);
#ifdef ARE_HAVE_CUDA
    printf("backends: cpu, cuda\n");
    int n = cuda_device_count();
    printf("cuda devices on this node: %d\n", n);
    for (int i = 0; i < n; i++) {
        CudaDeviceInfo d;
        if (cuda_device_info(i, &d) == 0)
            printf("  gpu %d: %s, sm_%d%d, %.1f GiB, %d SMs\n", i, d.name, d.major, d.minor,
                   d.memory_bytes / 1073741824.0, d.multiprocessors);
    }
#else
    printf("backends: cpu (built without CUDA)\n");
#endif
    printf("blas: %s\n", openblas_get_config());
}

int cmd_info(int argc, char **argv) {
    int threads = 0;
    int rc = parse_args(argc, argv, &threads);
    if (rc >= 0) return rc;

    Placement pl;
    if (placement_discover(&pl, threads, false) != 0) {
        fprintf(stderr, "are info: MPI could not describe the job\n");
        return EXIT_FAILED;
    }
    // Creating the backend applies the thread count, so the line reports what compute gets.
    Backend *be = backend_cpu_create(pl.threads);
    if (!be) {
        fprintf(stderr, "are info: out of memory creating the CPU backend\n");
        return EXIT_FAILED;
    }
    char line[512];
    char gpu[32] = "none";
    if (pl.gpu >= 0) snprintf(gpu, sizeof(gpu), "%d of %d", pl.gpu, pl.n_gpus);
    snprintf(line, sizeof(line),
             "rank %d/%d on %s (node rank %d/%d): %d cpu threads of %d cores, gpu %s", pl.rank,
             pl.size, pl.host, pl.local_rank, pl.local_size, be->threads, pl.node_cores, gpu);
    be->destroy(be);

    // Rank 0 prints every rank's line in rank order, so the output reads the same each run.
    if (pl.rank == 0) {
        print_build();
        puts(line);
        for (int r = 1; r < pl.size; r++) {
            MPI_Recv(line, sizeof(line), MPI_CHAR, r, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            puts(line);
        }
    } else {
        MPI_Send(line, sizeof(line), MPI_CHAR, 0, 0, MPI_COMM_WORLD);
    }
    return EXIT_OK;
}
