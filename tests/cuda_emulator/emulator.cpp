// The CPU emulation of the CUDA runtime, cuBLAS and the 16-bit floats declared in emulator.h.
//
// Kernels. A launch runs its blocks one after another on the calling thread. The threads of a
// block are fibers, each on a stack of its own, switched by the x86-64 code below: a thread runs
// until it waits at __syncthreads or in a warp shuffle, or ends, and then hands the CPU to the
// next ready thread (first in, first out). So a barrier is a real barrier and a shuffle a real
// exchange, and where a kernel lacks a barrier its threads read NaN-filled or stale memory.
// Consecutive blocks (and launches) alternate between starting their threads in ascending and
// in descending order, so a thread that reads what another writes in the same barrier phase
// reads it too early in one of the two orders, whichever side the writer is on.
//
// Misuse that the CUDA runtime reports (a bad launch configuration, a copy whose pointers do
// not match its kind) returns the runtime's error, with an explanation on stderr. What a GPU
// would not report, or would answer by hanging or with garbage (barrier divergence, a shuffle in
// a partial warp, cuBLAS operands outside device memory), stops the program with a message.
#include "emulator.h"

#include <map>
#include <set>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>
#include <vector>

#if !defined(__x86_64__) || !defined(__linux__)
#error "the CUDA emulator switches fiber stacks with x86-64 System V code (Linux)"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define EMULATOR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMULATOR_ASAN 1
#endif
#endif
#ifdef EMULATOR_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace cuda_emulator {
uint3 thread_index, block_index;
dim3 block_dim, grid_dim;
} // namespace cuda_emulator

using namespace cuda_emulator;

// Stream capture and graphs (their section at the end): what the runtime and cuBLAS entry points
// call while a capture is open.
namespace {
cudaError_t refuse_in_capture(const char *what);
cudaError_t record_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t record_memset(void *dst, int value, size_t bytes);
cublasStatus_t record_gemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const void *alpha,
                           const void *A, cudaDataType a_type, int lda, const void *B,
                           cudaDataType b_type, int ldb, const void *beta, float *C, int ldc);
} // namespace

namespace {

// --- messages and errors -------------------------------------------------------------------------

void vreport(const char *format, va_list args) {
    fprintf(stderr, "cuda emulator: ");
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2))) void report(const char *format, ...) {
    va_list args;
    va_start(args, format);
    vreport(format, args);
    va_end(args);
}

[[noreturn]] __attribute__((format(printf, 1, 2))) void fatal(const char *format, ...) {
    va_list args;
    va_start(args, format);
    vreport(format, args);
    va_end(args);
    fflush(stdout); // the test's output so far, which a pipe would buffer past the abort
    abort();
}

// The emulator's state (device memory, the running launch) is unguarded: one host thread only.
void check_host_thread() {
    static const std::thread::id first = std::this_thread::get_id();
    if (std::this_thread::get_id() != first)
        fatal("CUDA called from a second host thread; the emulator supports one");
}

cudaError_t last_error = cudaSuccess;   // the latest error, until cudaGetLastError reads it
cudaError_t sticky_error = cudaSuccess; // a kernel failed: every later call returns this

cudaError_t fail(cudaError_t error) {
    last_error = error;
    return error;
}

// --- the device ----------------------------------------------------------------------------------

// One device with an H100's limits.
const size_t DEVICE_MEMORY = (size_t)80 << 30;
const int SHARED_MEMORY_OPTIN = 227 << 10; // dynamic shared memory per block, after the opt-in
const size_t SHARED_MEMORY_DEFAULT = 48 << 10;

std::map<const void *, int> kernel_shared_optin; // cudaFuncSetAttribute's values
std::set<void *> pinned_allocations;             // cudaMallocHost's

bool valid_device(int device) {
    return device == 0;
}

// --- device memory -------------------------------------------------------------------------------

std::map<uintptr_t, size_t> allocations; // device memory: start address -> bytes
size_t allocated_bytes;

// Whether [ptr, ptr + bytes) lies inside one device allocation (bytes >= 1).
bool on_device(const void *ptr, size_t bytes) {
    uintptr_t address = (uintptr_t)ptr;
    auto it = allocations.upper_bound(address);
    if (it == allocations.begin()) return false;
    --it;
    size_t offset = address - it->first;
    return offset < it->second && bytes <= it->second - offset;
}

// --- fibers --------------------------------------------------------------------------------------

// Pushes the callee-saved registers on the current stack, stores the stack pointer in *save,
// then pops the same from the stack at resume and returns there: a call that returns on another
// stack. fiber_start lays out a new fiber's stack as if it had called this from fiber_main's
// first instruction. The SSE and x87 control words (callee-saved too) are not switched, which
// would cost most of a switch: device code cannot change them (CUDA has no fesetround), so
// every fiber runs with the host thread's.
extern "C" void cuda_emulator_switch(void **save, void *resume);
asm(R"(
    .pushsection .text
    .globl cuda_emulator_switch
    .hidden cuda_emulator_switch
    .type cuda_emulator_switch, @function
cuda_emulator_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cuda_emulator_switch, .-cuda_emulator_switch
    .popsection
)");

enum class State { ready, at_barrier, in_shuffle, finished };

struct Fiber {
    void *stack_pointer; // saved by cuda_emulator_switch while the fiber is switched out
    char *stack;         // the lowest usable address, a guard page below it
    uint3 thread;        // its threadIdx
    unsigned id;         // its linear index in the block
    State state;
};

// Kernels need little stack; a sanitizer build's frames are a few times larger.
const size_t STACK_BYTES = 256 << 10;
const size_t STACK_STAGGER = 17 * 64, STACK_STAGGER_SPAN = 64 << 10;
const unsigned WARP = 32;
const unsigned FULL_MASK = 0xffffffffu;

std::vector<Fiber> fibers; // one per thread of the largest block yet, reused by every block
Fiber *running;            // the fiber on the CPU; NULL on the host's own stack (run_block)
void *host_stack_pointer;
#ifdef EMULATOR_ASAN
const void *host_stack_bottom; // the host thread's stack, as AddressSanitizer knows it
size_t host_stack_size;
bool leaving_host; // the fiber switched to learns the two above
#endif

// The launch in progress.
struct {
    const char *name;
    void (*thread)(void *);
    void *context;
    unsigned threads; // per block
    void *shared;     // the dynamic shared memory, reused by each block
    bool trapped;     // a thread called __trap: the launch ends
} launch_state;

unsigned long long launches; // so far, to alternate the thread order

// The block in progress.
struct Warp {
    unsigned lanes;         // threads of the block in this warp (the last may be partial)
    unsigned live;          // lanes not finished
    unsigned generation;    // shuffles completed
    unsigned waiting_count; // lanes waiting in the current shuffle, in arrival order
    unsigned waiting[WARP];
    uint64_t values[2][WARP]; // by generation parity: a lane may write the next shuffle's
                              // value while slower lanes still read this one's
};
unsigned live_threads;
std::vector<unsigned> ready; // a ring of fiber ids, in run order
size_t ready_head, ready_count;
std::vector<unsigned> barrier_waiting; // at __syncthreads, in arrival order
std::vector<Warp> warps;

void make_ready(unsigned id) {
    fibers[id].state = State::ready;
    size_t slot = ready_head + ready_count++;
    ready[slot < ready.size() ? slot : slot - ready.size()] = id;
}

// The next fiber to run, or NULL (back to run_block) when none is ready.
Fiber *next_ready() {
    if (!ready_count) return NULL;
    unsigned id = ready[ready_head];
    ready_head = ready_head + 1 < ready.size() ? ready_head + 1 : 0;
    ready_count--;
    return &fibers[id];
}

void ensure_fibers(unsigned count) {
    static const size_t guard = (size_t)sysconf(_SC_PAGESIZE);
    while (fibers.size() < count) {
        char *memory = (char *)mmap(NULL, guard + STACK_BYTES, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (memory == MAP_FAILED) fatal("no memory for a fiber stack");
        if (mprotect(memory, guard, PROT_NONE) != 0) fatal("cannot protect a fiber stack's guard");
        Fiber fiber = {};
        fiber.stack = memory + guard;
        fibers.push_back(fiber);
    }
}

const char *block_name() {
    static char name[64];
    snprintf(name, sizeof name, "block (%u,%u,%u)", block_index.x, block_index.y, block_index.z);
    return name;
}

#ifdef EMULATOR_ASAN
// After every arrival on a stack: the switch that left it (fake_stack) is over.
void finish_switch(void *fake_stack) {
    bool from_host = leaving_host;
    leaving_host = false;
    __sanitizer_finish_switch_fiber(fake_stack, from_host ? &host_stack_bottom : NULL,
                                    from_host ? &host_stack_size : NULL);
}
#endif

// Suspends the running fiber (or run_block) and runs fiber `to` (run_block when NULL);
// returns when something switches back. A waiting fiber hands the CPU straight to the next
// ready one, which halves the switches of a barrier or shuffle. finished: the running fiber is
// done and never switched back to. Even then this must not look like a function that does not
// return ([[noreturn]], or a call to fatal at its end): AddressSanitizer unpoisons the whole
// stack before each call to one, which took a third of the sanitizer build's time.
void switch_to(Fiber *to, bool finished) {
    Fiber *from = running;
    if (to == from) return; // its own wait already ended
    running = to;
    if (to) thread_index = to->thread;
    void **save = from ? &from->stack_pointer : &host_stack_pointer;
    void *resume = to ? to->stack_pointer : host_stack_pointer;
#ifdef EMULATOR_ASAN
    void *fake_stack = NULL;
    leaving_host = !from;
    __sanitizer_start_switch_fiber(finished ? NULL : &fake_stack,
                                   to ? to->stack : host_stack_bottom,
                                   to ? STACK_BYTES : host_stack_size);
    cuda_emulator_switch(save, resume);
    finish_switch(fake_stack);
#else
    (void)finished;
    cuda_emulator_switch(save, resume);
#endif
}

// Every fiber starts here (see fiber_start) and runs one thread of the kernel; it never returns.
void fiber_main() {
#ifdef EMULATOR_ASAN
    finish_switch(NULL);
#endif
    launch_state.thread(launch_state.context);
    Fiber *self = running;
    Warp &warp = warps[self->id / WARP];
    self->state = State::finished;
    live_threads--;
    warp.live--;
    // Every thread must reach every __syncthreads: on a GPU, one that exits first leaves the
    // others waiting (or released early), depending on the architecture.
    if (!barrier_waiting.empty())
        fatal("%s %s: thread %u exited while %zu threads wait at __syncthreads", launch_state.name,
              block_name(), self->id, barrier_waiting.size());
    if (warp.waiting_count)
        fatal("%s %s: thread %u exited while %u lanes of its warp wait in a shuffle",
              launch_state.name, block_name(), self->id, warp.waiting_count);
    switch_to(next_ready(), true);
    fatal("a finished thread was resumed");
}

// A fresh stack for fiber `id`, as cuda_emulator_switch leaves one: from the stack pointer up,
// r15 r14 r13 r12 rbx rbp (zero), the return address fiber_main, and a zero return address for
// fiber_main, which ends backtraces there. fiber_main starts with the stack pointer 8 past a
// multiple of 16, as after a call.
void fiber_start(unsigned id) {
    Fiber &fiber = fibers[id];
    // Stacks start at staggered offsets: their tops 256 KiB apart would all fall into the same
    // cache sets, and every switch would miss the cache.
    uintptr_t top =
        (uintptr_t)(fiber.stack + STACK_BYTES - id * STACK_STAGGER % STACK_STAGGER_SPAN);
    uint64_t *frame = (uint64_t *)((top & ~(uintptr_t)15) - 8);
    frame[0] = 0;
    frame[-1] = (uint64_t)(uintptr_t)&fiber_main;
    for (int i = 2; i <= 7; i++) frame[-i] = 0;
    fiber.stack_pointer = &frame[-7];
    fiber.id = id;
    fiber.thread.x = id % block_dim.x;
    fiber.thread.y = id / block_dim.x % block_dim.y;
    fiber.thread.z = id / (block_dim.x * block_dim.y);
}

// Runs the block's threads until all have finished (or one trapped). The fibers hand the CPU
// to each other; it comes back here when no thread is ready.
void run_block(bool descending) {
    unsigned threads = launch_state.threads;
    live_threads = threads;
    barrier_waiting.clear();
    warps.assign((threads + WARP - 1) / WARP, Warp{});
    for (unsigned id = 0; id < threads; id++) {
        fiber_start(id);
        warps[id / WARP].lanes++;
        warps[id / WARP].live++;
    }
    ready.resize(threads);
    ready_head = ready_count = 0;
    for (unsigned i = 0; i < threads; i++) make_ready(descending ? threads - 1 - i : i);

    switch_to(next_ready(), false);
    if (launch_state.trapped || live_threads == 0) return;
    unsigned in_shuffle = 0;
    for (unsigned id = 0; id < threads; id++) in_shuffle += fibers[id].state == State::in_shuffle;
    fatal("%s %s: deadlock: %zu threads wait at __syncthreads, %u in warp shuffles that part of "
          "their warp never reaches",
          launch_state.name, block_name(), barrier_waiting.size(), in_shuffle);
}

} // namespace

// --- kernel-side ---------------------------------------------------------------------------------

void __syncthreads(void) {
    Fiber *self = running;
    self->state = State::at_barrier;
    barrier_waiting.push_back(self->id);
    if (barrier_waiting.size() == live_threads) {
        if (live_threads != launch_state.threads)
            fatal("%s %s: __syncthreads reached by %u threads after %u others exited: every "
                  "thread must reach every barrier",
                  launch_state.name, block_name(), live_threads,
                  launch_state.threads - live_threads);
        // All arrived: release them in arrival order, this thread last, to keep the run order.
        for (unsigned id : barrier_waiting) make_ready(id);
        barrier_waiting.clear();
    }
    switch_to(next_ready(), false);
}

uint64_t cuda_emulator::shuffle_xor(unsigned mask, uint64_t bits, int lane_mask, int width) {
    Fiber *self = running;
    if (mask != FULL_MASK || width != (int)WARP)
        fatal("%s: __shfl_xor_sync with mask %#x, width %d: only the full warp is emulated",
              launch_state.name, mask, width);
    Warp &warp = warps[self->id / WARP];
    unsigned lane = self->id % WARP;
    if (warp.lanes != WARP)
        fatal("%s: full-mask __shfl_xor_sync in a warp of %u threads (the block size is not a "
              "multiple of 32): undefined on a GPU",
              launch_state.name, warp.lanes);
    if (warp.live != WARP)
        fatal("%s %s: full-mask __shfl_xor_sync after %u lanes of the warp exited: undefined on "
              "a GPU",
              launch_state.name, block_name(), WARP - warp.live);
    uint64_t *values = warp.values[warp.generation % 2];
    values[lane] = bits;
    self->state = State::in_shuffle;
    warp.waiting[warp.waiting_count++] = self->id;
    if (warp.waiting_count == WARP) {
        for (unsigned i = 0; i < WARP; i++) make_ready(warp.waiting[i]);
        warp.waiting_count = 0;
        warp.generation++;
    }
    switch_to(next_ready(), false);
    // A source lane outside the warp gives the lane's own value, as CUDA does.
    unsigned source = lane ^ (unsigned)lane_mask;
    return source < WARP ? values[source] : bits;
}

void __trap(void) {
    report("__trap() in %s %s thread (%u,%u,%u)", launch_state.name, block_name(), thread_index.x,
           thread_index.y, thread_index.z);
    sticky_error = cudaErrorLaunchFailure;
    launch_state.trapped = true;
    running->state = State::finished;
    switch_to(NULL, true);
    fatal("a trapped thread was resumed");
}

void *cuda_emulator::dynamic_shared_memory(void) {
    return launch_state.shared;
}

bool cuda_emulator::launch_valid(const char *name, const void *kernel, dim3 grid, dim3 block,
                                 size_t shared_bytes) {
    size_t threads = (size_t)block.x * block.y * block.z;
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 ||
        grid.z > 65535 || threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 ||
        block.z > 64) {
        report("%s launched with grid (%u,%u,%u), block (%u,%u,%u): invalid configuration", name,
               grid.x, grid.y, grid.z, block.x, block.y, block.z);
        fail(cudaErrorInvalidConfiguration);
        return false;
    }
    if (shared_bytes > SHARED_MEMORY_DEFAULT) {
        auto optin = kernel ? kernel_shared_optin.find(kernel) : kernel_shared_optin.end();
        if (optin == kernel_shared_optin.end() || (size_t)optin->second < shared_bytes) {
            report("%s launched with %zu bytes of dynamic shared memory, more than 48 KiB, "
                   "without a cudaFuncSetAttribute opt-in for that much",
                   name, shared_bytes);
            fail(cudaErrorInvalidValue);
            return false;
        }
    }
    return true;
}

void cuda_emulator::launch(const char *name, const void *kernel, dim3 grid, dim3 block,
                           size_t shared_bytes, cudaStream_t, void (*thread)(void *),
                           void *context) {
    check_host_thread();
    if (sticky_error || !launch_valid(name, kernel, grid, block, shared_bytes)) return;
    size_t threads = (size_t)block.x * block.y * block.z;
    ensure_fibers((unsigned)threads);
    // Exactly the size asked for: AddressSanitizer flags an access past its end.
    launch_state = {name, thread, context, (unsigned)threads, malloc(shared_bytes), false};
    grid_dim = grid;
    block_dim = block;
    unsigned long long block_number = launches++;
    for (unsigned z = 0; z < grid.z && !launch_state.trapped; z++)
        for (unsigned y = 0; y < grid.y && !launch_state.trapped; y++)
            for (unsigned x = 0; x < grid.x && !launch_state.trapped; x++) {
                block_index = {x, y, z};
                // Uninitialised shared memory: NaN floats, which a read before a write shows.
                if (shared_bytes) memset(launch_state.shared, 0xff, shared_bytes);
                run_block(block_number++ % 2 == 1);
            }
    free(launch_state.shared);
    launch_state.shared = NULL;
#ifdef EMULATOR_ASAN
    // The threads a trap left waiting keep their frames' redzones poisoned; fiber_start reuses
    // their stacks.
    if (launch_state.trapped)
        for (Fiber &fiber : fibers) ASAN_UNPOISON_MEMORY_REGION(fiber.stack, STACK_BYTES);
#endif
}

// --- runtime -------------------------------------------------------------------------------------

cudaError_t cudaGetLastError(void) {
    cudaError_t error = sticky_error ? sticky_error : last_error;
    last_error = cudaSuccess;
    return error;
}

cudaError_t cudaPeekAtLastError(void) {
    return sticky_error ? sticky_error : last_error;
}

const char *cudaGetErrorString(cudaError_t error) {
    switch (error) {
    case cudaSuccess:
        return "no error";
    case cudaErrorInvalidValue:
        return "invalid argument";
    case cudaErrorMemoryAllocation:
        return "out of memory";
    case cudaErrorInvalidConfiguration:
        return "invalid configuration argument";
    case cudaErrorNoDevice:
        return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice:
        return "invalid device ordinal";
    case cudaErrorLaunchFailure:
        return "unspecified launch failure";
    case cudaErrorIllegalState:
        return "the operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorStreamCaptureUnsupported:
        return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
        return "operation failed due to a previous error during capture";
    }
    return "unrecognized error code";
}

cudaError_t cudaGetDeviceCount(int *count) {
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
    return valid_device(device) ? cudaSuccess : fail(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDevice(int *device) {
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device) {
    if (!valid_device(device)) return fail(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "CUDA emulator (CPU)");
    prop->totalGlobalMem = DEVICE_MEMORY;
    prop->major = 9;
    prop->minor = 0;
    prop->multiProcessorCount = 132;
    prop->sharedMemPerBlockOptin = SHARED_MEMORY_OPTIN;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device) {
    if (!valid_device(device)) return fail(cudaErrorInvalidDevice);
    if (attr != cudaDevAttrMaxSharedMemoryPerBlockOptin) return fail(cudaErrorInvalidValue);
    *value = SHARED_MEMORY_OPTIN;
    return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void *kernel, cudaFuncAttribute attr, int value) {
    if (!kernel || attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
        value > SHARED_MEMORY_OPTIN)
        return fail(cudaErrorInvalidValue);
    kernel_shared_optin[kernel] = value;
    return cudaSuccess;
}

cudaError_t cudaFuncGetAttributes(cudaFuncAttributes *attributes, const void *kernel) {
    if (!attributes || !kernel) return fail(cudaErrorInvalidValue);
    auto optin = kernel_shared_optin.find(kernel);
    *attributes = {
        0, optin == kernel_shared_optin.end() ? (int)SHARED_MEMORY_DEFAULT : optin->second, 1024};
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **ptr, size_t bytes) {
    check_host_thread();
    *ptr = NULL;
    if (sticky_error) return sticky_error;
    if (capturing()) return refuse_in_capture("cudaMalloc");
    if (bytes == 0) return cudaSuccess;
    void *memory = NULL;
    if (bytes > DEVICE_MEMORY - allocated_bytes || posix_memalign(&memory, 256, bytes) != 0)
        return fail(cudaErrorMemoryAllocation);
    memset(memory, 0xff, bytes); // uninitialised device memory: NaN floats
    allocations[(uintptr_t)memory] = bytes;
    allocated_bytes += bytes;
    *ptr = memory;
    return cudaSuccess;
}

cudaError_t cudaFree(void *ptr) {
    check_host_thread();
    if (!ptr) return cudaSuccess;
    if (capturing()) return refuse_in_capture("cudaFree");
    auto it = allocations.find((uintptr_t)ptr);
    if (it == allocations.end()) {
        report("cudaFree(%p): not the start of a device allocation", ptr);
        return fail(cudaErrorInvalidValue);
    }
    allocated_bytes -= it->second;
    allocations.erase(it);
    free(ptr);
    return sticky_error;
}

cudaError_t cudaMallocHost(void **ptr, size_t bytes) {
    check_host_thread();
    *ptr = NULL;
    if (sticky_error) return sticky_error;
    if (!(*ptr = malloc(bytes ? bytes : 1))) return fail(cudaErrorMemoryAllocation);
    pinned_allocations.insert(*ptr);
    return cudaSuccess;
}

cudaError_t cudaFreeHost(void *ptr) {
    check_host_thread();
    if (!ptr) return cudaSuccess;
    if (!pinned_allocations.erase(ptr)) {
        report("cudaFreeHost(%p): not from cudaMallocHost", ptr);
        return fail(cudaErrorInvalidValue);
    }
    free(ptr);
    return sticky_error;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    check_host_thread();
    if (sticky_error) return sticky_error;
    if (capturing()) return refuse_in_capture("cudaMemcpy");
    if (!bytes) return cudaSuccess;
    bool dst_device = on_device(dst, bytes), src_device = on_device(src, bytes);
    bool dst_host = !on_device(dst, 1), src_host = !on_device(src, 1);
    bool ok = kind == cudaMemcpyHostToDevice     ? dst_device && src_host
              : kind == cudaMemcpyDeviceToHost   ? dst_host && src_device
              : kind == cudaMemcpyDeviceToDevice ? dst_device && src_device
              : kind == cudaMemcpyHostToHost     ? dst_host && src_host
                                             : (dst_device || dst_host) && (src_device || src_host);
    if (!ok) {
        report("cudaMemcpy kind %d of %zu bytes to %p from %p: the pointers do not match the "
               "kind, or a device range is not inside one allocation",
               (int)kind, bytes, dst, src);
        return fail(cudaErrorInvalidValue);
    }
    memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t) {
    if (capturing()) return record_copy(dst, src, bytes, kind);
    return cudaMemcpy(dst, src, bytes, kind);
}

cudaError_t cudaMemset(void *dst, int value, size_t bytes) {
    check_host_thread();
    if (sticky_error) return sticky_error;
    if (capturing()) return refuse_in_capture("cudaMemset");
    if (!bytes) return cudaSuccess;
    if (!on_device(dst, bytes)) {
        report("cudaMemset of %zu bytes at %p: not inside one device allocation", bytes, dst);
        return fail(cudaErrorInvalidValue);
    }
    memset(dst, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t) {
    if (capturing()) return record_memset(dst, value, bytes);
    return cudaMemset(dst, value, bytes);
}

struct CUstream_st {};

cudaError_t cudaStreamCreate(cudaStream_t *stream) {
    if (sticky_error) return sticky_error;
    *stream = new CUstream_st;
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    if (!stream) return fail(cudaErrorInvalidValue);
    delete stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t) {
    if (capturing()) return refuse_in_capture("cudaStreamSynchronize");
    return sticky_error;
}

cudaError_t cudaDeviceSynchronize(void) {
    if (capturing()) return refuse_in_capture("cudaDeviceSynchronize");
    return sticky_error;
}

// --- 16-bit floats -------------------------------------------------------------------------------

namespace {

uint32_t float_bits(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return bits;
}

float bits_float(uint32_t bits) {
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

} // namespace

__nv_bfloat16 __float2bfloat16_rn(float x) {
    uint32_t bits = float_bits(x);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return {0x7fff};
    // Round the low 16 bits away, to nearest, ties to the even result; a carry may reach the
    // exponent (up to infinity), which is the right rounding there too.
    bits += 0x7fffu + ((bits >> 16) & 1);
    return {(uint16_t)(bits >> 16)};
}

float __bfloat162float(__nv_bfloat16 x) {
    return bits_float((uint32_t)x.bits << 16);
}

__half __float2half_rn(float x) {
    uint32_t bits = float_bits(x), sign = (bits >> 16) & 0x8000u, magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u) return {0x7fff};
    if (magnitude >= 0x477ff000u) return {(uint16_t)(sign | 0x7c00u)}; // >= 65520: infinity
    if (magnitude >= 0x38800000u) { // >= 2^-14: a normal half; 13 low bits rounded away
        magnitude += 0xfffu + ((magnitude >> 13) & 1);
        return {(uint16_t)(sign | ((magnitude - 0x38000000u) >> 13))}; // exponent bias 127 -> 15
    }
    // Subnormal: a count of 2^-24, exact before rounding; nearbyintf rounds ties to even.
    float units = bits_float(magnitude) * 0x1p24f;
    return {(uint16_t)(sign | (uint32_t)nearbyintf(units))};
}

float __half2float(__half x) {
    uint32_t sign = (uint32_t)(x.bits & 0x8000u) << 16, exponent = (x.bits >> 10) & 0x1f,
             mantissa = x.bits & 0x3ff;
    if (exponent == 0) return bits_float(sign | float_bits((float)mantissa * 0x1p-24f));
    if (exponent == 31) return bits_float(sign | 0x7f800000u | mantissa << 13);
    return bits_float(sign | (exponent + 112) << 23 | mantissa << 13);
}

// --- cuBLAS --------------------------------------------------------------------------------------

struct cublasContext {
    cublasMath_t math_mode;
    cublasPointerMode_t pointer_mode;
};

cublasStatus_t cublasCreate(cublasHandle_t *handle) {
    *handle = new cublasContext{CUBLAS_DEFAULT_MATH, CUBLAS_POINTER_MODE_HOST};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t) {
    return handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_PEDANTIC_MATH) {
        report("cublasSetMathMode(%d): reduced-precision math is not emulated", (int)mode);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    handle->math_mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode(cublasHandle_t handle, cublasPointerMode_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE)
        return CUBLAS_STATUS_INVALID_VALUE;
    handle->pointer_mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
    case CUBLAS_STATUS_SUCCESS:
        return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
        return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE:
        return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED:
        return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

namespace {

size_t type_bytes(cudaDataType type) {
    return type == CUDA_R_32F ? 4 : 2;
}

float element(const void *matrix, cudaDataType type, size_t i) {
    switch (type) {
    case CUDA_R_32F:
        return ((const float *)matrix)[i];
    case CUDA_R_16BF:
        return __bfloat162float(((const __nv_bfloat16 *)matrix)[i]);
    case CUDA_R_16F:
        return __half2float(((const __half *)matrix)[i]);
    }
    fatal("cuBLAS: matrix of data type %d", (int)type);
}

// A cuBLAS operand: `rows` x `cols` column-major with leading dimension ld must lie inside one
// device allocation, or a GPU would read foreign memory (or fault).
void check_operand(const char *what, const void *matrix, cudaDataType type, int rows, int cols,
                   int ld) {
    if (rows == 0 || cols == 0) return;
    size_t elements = (size_t)(cols - 1) * ld + rows;
    if (!on_device(matrix, elements * type_bytes(type)))
        fatal("cuBLAS gemm: %s (%d x %d, ld %d, at %p) is not inside one device allocation", what,
              rows, cols, ld, matrix);
}

// C [m, n] = alpha op(A) [m, k] op(B) [k, n] + beta C, column-major. Each element sums its k
// products in order in fp32, unfused; beta == 0 does not read C and alpha == 0 not A or B, as
// BLAS specifies.
cublasStatus_t gemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                    int m, int n, int k, float alpha, const void *A, cudaDataType a_type, int lda,
                    const void *B, cudaDataType b_type, int ldb, float beta, float *C, int ldc) {
    check_host_thread();
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if ((transa != CUBLAS_OP_N && transa != CUBLAS_OP_T) ||
        (transb != CUBLAS_OP_N && transb != CUBLAS_OP_T) || m < 0 || n < 0 || k < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    bool ta = transa == CUBLAS_OP_T, tb = transb == CUBLAS_OP_T;
    int a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
    if (lda < (a_rows > 1 ? a_rows : 1) || ldb < (b_rows > 1 ? b_rows : 1) ||
        ldc < (m > 1 ? m : 1)) {
        report("cuBLAS gemm m %d n %d k %d: lda %d, ldb %d or ldc %d below its matrix's rows", m, n,
               k, lda, ldb, ldc);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    bool product = alpha != 0 && k > 0;
    if (product) {
        check_operand("A", A, a_type, a_rows, a_cols, lda);
        check_operand("B", B, b_type, b_rows, b_cols, ldb);
    }
    check_operand("C", C, CUDA_R_32F, m, n, ldc);

    // op(A) by columns (column l contiguous over i) so that the innermost loop runs over i: it
    // adds one product to each of m sums, each sum still in k order.
    std::vector<float> a_columns(product ? (size_t)k * m : 0), b_column(k), sums(m);
    for (int l = 0; l < k && product; l++)
        for (int i = 0; i < m; i++)
            a_columns[(size_t)l * m + i] =
                element(A, a_type, ta ? (size_t)i * lda + l : (size_t)l * lda + i);
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) sums[i] = 0;
        for (int l = 0; l < k && product; l++) {
            float b = element(B, b_type, tb ? (size_t)l * ldb + j : (size_t)j * ldb + l);
            const float *a = &a_columns[(size_t)l * m];
            for (int i = 0; i < m; i++) sums[i] += a[i] * b;
        }
        float *c = C + (size_t)j * ldc;
        for (int i = 0; i < m; i++)
            c[i] = beta == 0 ? alpha * sums[i] : alpha * sums[i] + beta * c[i];
    }
    return CUBLAS_STATUS_SUCCESS;
}

// alpha or beta of a product: in device memory in device pointer mode, else in host memory, as
// a GPU would read it (or fault).
float scalar(cublasHandle_t handle, const char *what, const void *value) {
    bool device = on_device(value, sizeof(float));
    if (handle && device != (handle->pointer_mode == CUBLAS_POINTER_MODE_DEVICE))
        fatal("cuBLAS gemm: %s at %p is in %s memory, but the pointer mode is %s", what, value,
              device ? "device" : "host", device ? "host" : "device");
    return *(const float *)value;
}

} // namespace

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float *alpha,
                           const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc) {
    if (capturing())
        return record_gemm(handle, transa, transb, m, n, k, alpha, A, CUDA_R_32F, lda, B,
                           CUDA_R_32F, ldb, beta, C, ldc);
    return gemm(handle, transa, transb, m, n, k, scalar(handle, "alpha", alpha), A, CUDA_R_32F, lda,
                B, CUDA_R_32F, ldb, scalar(handle, "beta", beta), C, ldc);
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                            cublasOperation_t transb, int m, int n, int k, const void *alpha,
                            const void *A, cudaDataType Atype, int lda, const void *B,
                            cudaDataType Btype, int ldb, const void *beta, void *C,
                            cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                            cublasGemmAlgo_t) {
    bool known = Atype == CUDA_R_32F || Atype == CUDA_R_16BF || Atype == CUDA_R_16F;
    if (!known || Atype != Btype || Ctype != CUDA_R_32F || computeType != CUBLAS_COMPUTE_32F) {
        report("cublasGemmEx with A type %d, B type %d, C type %d, compute type %d: not emulated "
               "(A and B of one type, C fp32, CUBLAS_COMPUTE_32F are)",
               (int)Atype, (int)Btype, (int)Ctype, (int)computeType);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (capturing())
        return record_gemm(handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb,
                           beta, (float *)C, ldc);
    return gemm(handle, transa, transb, m, n, k, scalar(handle, "alpha", alpha), A, Atype, lda, B,
                Btype, ldb, scalar(handle, "beta", beta), (float *)C, ldc);
}

// --- cuBLAS batched products (compute/cuda/cuda_attention.cu) ------------------------------------

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
                                          cublasOperation_t transb, int m, int n, int k,
                                          const void *alpha, const void *A, cudaDataType Atype,
                                          int lda, long long int strideA, const void *B,
                                          cudaDataType Btype, int ldb, long long int strideB,
                                          const void *beta, void *C, cudaDataType Ctype, int ldc,
                                          long long int strideC, int batchCount,
                                          cublasComputeType_t computeType, cublasGemmAlgo_t) {
    bool known = Atype == CUDA_R_32F || Atype == CUDA_R_16BF || Atype == CUDA_R_16F;
    if (!known || Atype != Btype || Ctype != CUDA_R_32F || computeType != CUBLAS_COMPUTE_32F) {
        report("cublasGemmStridedBatchedEx with A type %d, B type %d, C type %d, compute type %d: "
               "not emulated (A and B of one type, C fp32, CUBLAS_COMPUTE_32F are)",
               (int)Atype, (int)Btype, (int)Ctype, (int)computeType);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (batchCount < 0) return CUBLAS_STATUS_INVALID_VALUE;
    // Product i writes C elements i * strideC + [0, (n - 1) ldc + m): a shorter stride lets two
    // products write the same elements, in an order a GPU does not fix.
    long long c_span = m > 0 && n > 0 ? (long long)(n - 1) * ldc + m : 0;
    if (batchCount > 1 && c_span > 0 && strideC < c_span)
        fatal("cublasGemmStridedBatchedEx: strideC %lld is below the %lld elements of one C (m "
              "%d, n %d, ldc %d): the products' outputs overlap",
              strideC, c_span, m, n, ldc);
    size_t a_bytes = type_bytes(Atype), b_bytes = type_bytes(Btype);
    if (capturing()) { // a graph replays the products one after another, as below
        for (int i = 0; i < batchCount; i++)
            record_gemm(handle, transa, transb, m, n, k, alpha,
                        (const char *)A + i * strideA * a_bytes, Atype, lda,
                        (const char *)B + i * strideB * b_bytes, Btype, ldb, beta,
                        (float *)C + i * strideC, ldc);
        return CUBLAS_STATUS_SUCCESS;
    }
    float a = scalar(handle, "alpha", alpha), b = scalar(handle, "beta", beta);
    for (int i = 0; i < batchCount; i++) {
        cublasStatus_t status = gemm(
            handle, transa, transb, m, n, k, a, (const char *)A + i * strideA * a_bytes, Atype, lda,
            (const char *)B + i * strideB * b_bytes, Btype, ldb, b, (float *)C + i * strideC, ldc);
        if (status != CUBLAS_STATUS_SUCCESS) return status;
    }
    return CUBLAS_STATUS_SUCCESS;
}

// --- stream capture and graphs (CUDA graphs) ----------------------------------------------------

struct CUgraph_st {
    std::vector<std::pair<const char *, std::function<cudaError_t()>>> ops;
};
struct CUgraphExec_st {
    std::vector<std::pair<const char *, std::function<cudaError_t()>>> ops;
};

namespace {

CUgraph_st *capture_graph;   // the open capture's recording, NULL when none is open
cudaStream_t capture_stream; // the stream it records
bool capture_invalidated;    // an op it cannot hold was called: its end fails

cudaError_t refuse_in_capture(const char *what) {
    report("%s while a stream capture is open: not allowed in a graph", what);
    capture_invalidated = true;
    return fail(cudaErrorStreamCaptureUnsupported);
}

cudaError_t record_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    record("cudaMemcpyAsync", [=] { return cudaMemcpy(dst, src, bytes, kind); });
    return cudaSuccess;
}

cudaError_t record_memset(void *dst, int value, size_t bytes) {
    record("cudaMemsetAsync", [=] { return cudaMemset(dst, value, bytes); });
    return cudaSuccess;
}

// cuBLAS reads a host scalar when the product is captured and a device one when it runs.
cublasStatus_t record_gemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const void *alpha,
                           const void *A, cudaDataType a_type, int lda, const void *B,
                           cudaDataType b_type, int ldb, const void *beta, float *C, int ldc) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    bool device = handle->pointer_mode == CUBLAS_POINTER_MODE_DEVICE;
    float alpha_now = scalar(handle, "alpha", alpha), beta_now = scalar(handle, "beta", beta);
    record("cuBLAS gemm", [=]() -> cudaError_t {
        float a = device ? *(const float *)alpha : alpha_now;
        float b = device ? *(const float *)beta : beta_now;
        if (gemm(handle, transa, transb, m, n, k, a, A, a_type, lda, B, b_type, ldb, b, C, ldc) !=
            CUBLAS_STATUS_SUCCESS)
            fatal("a cuBLAS product recorded in a graph failed when the graph ran");
        return cudaSuccess;
    });
    return CUBLAS_STATUS_SUCCESS;
}

} // namespace

bool cuda_emulator::capturing() {
    return capture_graph != NULL;
}

void cuda_emulator::record(const char *what, std::function<cudaError_t()> op) {
    capture_graph->ops.emplace_back(what, std::move(op));
}

// A kernel's launch reports its failure (a trap) as the sticky error.
void cuda_emulator::record_launch(const char *what, std::function<void()> launch) {
    record(what, std::function<cudaError_t()>([launch] {
               launch();
               return sticky_error;
           }));
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
    check_host_thread();
    if (sticky_error) return sticky_error;
    if (!stream || capture_graph) {
        report("cudaStreamBeginCapture on %s",
               stream ? "a second stream while one captures" : "the legacy default stream");
        return fail(stream ? cudaErrorIllegalState : cudaErrorStreamCaptureUnsupported);
    }
    if (mode != cudaStreamCaptureModeGlobal) {
        report("cudaStreamBeginCapture mode %d: only the global mode is emulated", (int)mode);
        return fail(cudaErrorInvalidValue);
    }
    capture_graph = new CUgraph_st;
    capture_stream = stream;
    capture_invalidated = false;
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph) {
    check_host_thread();
    *graph = NULL;
    if (!capture_graph || stream != capture_stream) {
        report("cudaStreamEndCapture on a stream that is not capturing");
        return fail(cudaErrorIllegalState);
    }
    CUgraph_st *recorded = capture_graph;
    capture_graph = NULL;
    if (capture_invalidated) {
        delete recorded;
        return fail(cudaErrorStreamCaptureInvalidated);
    }
    *graph = recorded;
    return sticky_error;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long) {
    check_host_thread();
    *exec = NULL;
    if (!graph) return fail(cudaErrorInvalidValue);
    *exec = new CUgraphExec_st{graph->ops};
    return sticky_error;
}

// Runs the recorded ops in order (streams are synchronous here); stops at the first that fails.
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t) {
    check_host_thread();
    if (sticky_error) return sticky_error;
    if (!exec) return fail(cudaErrorInvalidValue);
    if (capture_graph) return refuse_in_capture("cudaGraphLaunch (a graph inside a capture)");
    for (auto &op : exec->ops) {
        cudaError_t error = op.second();
        if (error != cudaSuccess) {
            report("%s recorded in a graph failed when the graph ran", op.first);
            return error;
        }
    }
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t *exec, cudaGraph_t graph,
                                          unsigned long long flags) {
    return cudaGraphInstantiate(exec, graph, flags);
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    delete exec;
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    delete graph;
    return cudaSuccess;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void *workspace, size_t bytes) {
    check_host_thread();
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (bytes && (!on_device(workspace, bytes) || (uintptr_t)workspace % 256 != 0)) {
        report("cublasSetWorkspace(%p, %zu bytes): not a 256-byte aligned range inside one device "
               "allocation",
               workspace, bytes);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    return CUBLAS_STATUS_SUCCESS;
}
