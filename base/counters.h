/*
 * counters.h: the per-job counters, written once.
 *
 * HARN_COUNTERS(X) lists every counter of a run in wire and record order:
 * the `counters` map of the final frame (docs/protocol.md), the `counters`
 * object of a result record (docs/cli.md) and the fields of IpcCounters and
 * VmStats are all generated from it. Each entry is X(name, type, source):
 *
 *   type    NUM       a double (milliseconds)
 *           UINT      a uint64_t
 *           UINT_OPT  a uint64_t that may be unknown: IpcCounters carries a
 *                     `has_<name>` flag, the wire and the record carry nil/null
 *           INT       an int64_t
 *   source  VM        counted by the VM: a field of VmStats (vm.h), copied
 *                     into the final frame by the worker
 *           HOST      measured by the worker around the VM
 *
 * Invariants: names are unique; an entry's order is its position on the
 * wire and in the record, so adding, moving or retyping an entry changes
 * both (and is a protocol version bump, docs/protocol.md). The decoder takes
 * counters by name, so a missing one reads as 0 (unknown for UINT_OPT).
 *
 * Where it lives: base/, below vm/ and ipc/, which both include it; it
 * depends on nothing.
 */
#ifndef HARN_COUNTERS_H
#define HARN_COUNTERS_H

#include <stdint.h>

#define HARN_COUNTERS(X)           \
  X(wall_ms, NUM, HOST)            \
  X(cpu_ms, NUM, HOST)             \
  X(instructions, UINT_OPT, VM)    \
  X(tasks_spawned, UINT, VM)       \
  X(steps_recorded, UINT, VM)      \
  X(output_bytes, UINT, HOST)      \
  X(peak_frames, INT, VM)          \
  X(slow_polls, UINT, VM)

/* The C type of a counter of each type. */
#define HARN_COUNTER_CTYPE_NUM double
#define HARN_COUNTER_CTYPE_UINT uint64_t
#define HARN_COUNTER_CTYPE_UINT_OPT uint64_t
#define HARN_COUNTER_CTYPE_INT int64_t

/* Number of counters. */
enum {
#define HARN_COUNTER_ONE(name, type, source) +1
  HARN_COUNTER_COUNT = 0 HARN_COUNTERS(HARN_COUNTER_ONE)
#undef HARN_COUNTER_ONE
};

#endif
