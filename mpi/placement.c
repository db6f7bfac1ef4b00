#include "placement.h"

#include <string.h>
#include <unistd.h>
#ifdef ARE_HAVE_CUDA
#include "cuda_devices.h"
#endif

int placement_discover(Placement *pl, int threads_override) {
    memset(pl, 0, sizeof(*pl));
    MPI_Comm node;
    if (MPI_Comm_rank(MPI_COMM_WORLD, &pl->rank) != MPI_SUCCESS ||
        MPI_Comm_size(MPI_COMM_WORLD, &pl->size) != MPI_SUCCESS ||
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) !=
            MPI_SUCCESS)
        return -1;
    MPI_Comm_rank(node, &pl->local_rank);
    MPI_Comm_size(node, &pl->local_size);
    MPI_Comm_free(&node);

    if (gethostname(pl->host, sizeof(pl->host) - 1) != 0) strcpy(pl->host, "unknown");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    pl->node_cores = cores > 0 ? (int)cores : 1;
    // Ranks of a node split its cores evenly; a remainder goes to the lowest local ranks.
    int share = pl->node_cores / pl->local_size;
    if (pl->local_rank < pl->node_cores % pl->local_size) share++;
    pl->threads = threads_override > 0 ? threads_override : (share > 0 ? share : 1);

#ifdef ARE_HAVE_CUDA
    pl->n_gpus = cuda_device_count();
#endif
    pl->gpu = pl->n_gpus > 0 ? pl->local_rank % pl->n_gpus : -1;
    return 0;
}
