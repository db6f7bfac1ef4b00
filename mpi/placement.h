// Where this rank runs: its node, its node-local rank, the CPU threads and GPU it should use.
// Ranks on one node share its cores and GPUs, so both are split by node-local rank
// (MPI_Comm_split_type SHARED), as DESIGN.md's "Device binding" says.
#ifndef ARE_PLACEMENT_H
#define ARE_PLACEMENT_H

#include <mpi.h>
#include <stdbool.h>

typedef struct {
    int rank, size;             // in MPI_COMM_WORLD
    int local_rank, local_size; // among the ranks on this node
    char host[256];
    int node_cores; // online cores of the node
    int threads;    // CPU threads for this rank's compute
    int gpu;        // CUDA device picked by local rank, -1 when the node has none
    int n_gpus;     // CUDA devices visible on the node
} Placement;

// Collective over MPI_COMM_WORLD. threads_override > 0 replaces the split of the node's cores.
// With rank0_idle (a sweep: rank 0 only orchestrates), the cores and GPUs of rank 0's node are
// split among the other ranks there, and rank 0 gets one thread. Returns 0, or -1 when MPI
// fails.
int placement_discover(Placement *pl, int threads_override, bool rank0_idle);

// Whether this process was started by mpirun (or srun): then MPI is initialised and the ranks
// share the work. Without it, a command that can run alone never starts MPI, whose singleton
// start forks a daemon that can fail on a loaded machine.
bool placement_launched_by_mpirun(void);

#endif
