/*
 * std_time.h: dates, durations and time zones (STDLIB.md 4.2; the
 * reference's datetime.rs on chrono + chrono-tz). Implemented in
 * std_time.c over the TZif reader (tzif.h); registered in builtins.c's
 * table. Semantics and error texts: the comment at the top of std_time.c
 * and docs/stdlib.md "Dates, durations and time zones".
 */
#ifndef HARN_STD_TIME_H
#define HARN_STD_TIME_H

#include "builtins.h"

bool std_date_now(Vm *vm, int argc, Value *argv, Value *out);
bool std_date_now_iso(Vm *vm, int argc, Value *argv, Value *out);
bool std_date_parse(Vm *vm, int argc, Value *argv, Value *out);
bool std_date_format(Vm *vm, int argc, Value *argv, Value *out);
bool std_date_in_zone(Vm *vm, int argc, Value *argv, Value *out);
bool std_date_to_zone(Vm *vm, int argc, Value *argv, Value *out);
bool std_date_from_components(Vm *vm, int argc, Value *argv, Value *out);
bool std_date_add(Vm *vm, int argc, Value *argv, Value *out);
bool std_date_diff(Vm *vm, int argc, Value *argv, Value *out);
bool std_duration_ms(Vm *vm, int argc, Value *argv, Value *out);
bool std_duration_seconds(Vm *vm, int argc, Value *argv, Value *out);
bool std_duration_minutes(Vm *vm, int argc, Value *argv, Value *out);
bool std_duration_hours(Vm *vm, int argc, Value *argv, Value *out);
bool std_duration_days(Vm *vm, int argc, Value *argv, Value *out);
bool std_duration_to_seconds(Vm *vm, int argc, Value *argv, Value *out);
bool std_duration_to_human(Vm *vm, int argc, Value *argv, Value *out);
bool std_weekday_name(Vm *vm, int argc, Value *argv, Value *out);
bool std_month_name(Vm *vm, int argc, Value *argv, Value *out);

/* The date parser of date_parse (exposed for the fuzz harness): the [n]
 * bytes at [s] to microseconds since the epoch in *us. Returns
 * STD_TIME_OK; STD_TIME_INVALID with the message ("Invalid month: 13
 * (must be 1-12)", "Invalid date: 2024-02-31") in [err] (64 bytes are
 * enough); or STD_TIME_UNPARSED when nothing in the text reads as a date. */
enum { STD_TIME_OK, STD_TIME_INVALID, STD_TIME_UNPARSED };
int std_time_parse(const char *s, size_t n, int64_t *us, char *err, size_t errcap);

#endif
