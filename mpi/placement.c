#include "placement.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef ARE_HAVE_CUDA
#include "cuda_devices.h"
#endif

int placement_discover(Placement *pl, int threads_override, bool rank0_idle) {
    memset(pl, 0, sizeof(*pl));
    MPI_Comm node;
    if (MPI_Comm_rank(MPI_COMM_WORLD, &pl->rank) != MPI_SUCCESS ||
        MPI_Comm_size(MPI_COMM_WORLD, &pl->size) != MPI_SUCCESS ||
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) !=
            MPI_SUCCESS)
        return -1;
    MPI_Comm_rank(node, &pl->local_rank);
    MPI_Comm_size(node, &pl->local_size);
    // The ranks that compute on this node, and this rank's place among them. Ranks of the node
    // communicator are in world-rank order, so an idle rank 0 is local rank 0 of its node.
    int rank0_here = rank0_idle && pl->rank == 0, idle_on_node = 0;
    MPI_Allreduce(&rank0_here, &idle_on_node, 1, MPI_INT, MPI_MAX, node);
    int computing = pl->local_size - idle_on_node, slot = pl->local_rank - idle_on_node;

    if (gethostname(pl->host, sizeof(pl->host) - 1) != 0) strcpy(pl->host, "unknown");
    // The cores the job may use on this node (a batch system's allocation, every rank's
    // binding together), not every core online; and the ones this rank may use.
    cpu_set_t mine, node_set;
    CPU_ZERO(&mine);
    if (sched_getaffinity(0, sizeof mine, &mine) != 0)
        for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN) && c < CPU_SETSIZE; c++)
            CPU_SET(c, &mine);
    MPI_Allreduce(&mine, &node_set, (int)sizeof mine, MPI_BYTE, MPI_BOR, node);
    MPI_Comm_free(&node);
    int own_cores = CPU_COUNT(&mine) > 0 ? CPU_COUNT(&mine) : 1;
    pl->node_cores = CPU_COUNT(&node_set) > 0 ? CPU_COUNT(&node_set) : 1;
    // Computing ranks of a node split its cores evenly, a remainder to the lowest ones; never
    // more threads than the cores this rank is bound to.
    int share = 1;
    if (slot >= 0) {
        share = pl->node_cores / computing;
        if (slot < pl->node_cores % computing) share++;
        if (share > own_cores) share = own_cores;
    }
    pl->threads = threads_override > 0 && slot >= 0 ? threads_override : (share > 0 ? share : 1);

#ifdef ARE_HAVE_CUDA
    pl->n_gpus = cuda_device_count();
#endif
    pl->gpu = pl->n_gpus > 0 && slot >= 0 ? slot % pl->n_gpus : -1;
    return 0;
}

bool placement_launched_by_mpirun(void) {
    // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; Slurm's srun (PMI, PMIx) the others.
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}
