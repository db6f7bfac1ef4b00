// Crash points for the tests of resuming: when the environment variable ARE_FAULT is
// "NAME:N", the N-th time the process reaches fault_point("NAME") it kills itself with
// SIGKILL, as a power cut or the batch system would, at exactly that instant. Under mpirun
// the death of one rank takes the whole job down. Without ARE_FAULT (always, outside tests)
// a call costs one getenv.
#ifndef ARE_FAULT_POINT_H
#define ARE_FAULT_POINT_H

void fault_point(const char *name);

#endif
