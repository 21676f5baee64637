/*
 * test_lookup.c: the lookup and formatting fast paths (issue 7 items 2, 5):
 * interned strings and their weak table (object.c str_intern, gc.c), the
 * dict hash index kept in step with the sorted entries (object.c), the
 * stdio-free integer formatting (buf.c) and the one-allocation string
 * interpolation (display.c val_concat_display).
 *
 * Each test gets a fresh Vm. Collections are run explicitly with
 * gc_collect(); whatever must survive one is rooted with gc_push_root().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/gc.h"
#include "vm/object.h"
#include "vm/state.h"

static int setup(void **state)
{
  *state = vm_new(NULL);
  return *state ? 0 : -1;
}

static int teardown(void **state)
{
  vm_free(*state);
  return 0;
}

/* ---- integer formatting ------------------------------------------------------ */

static void check_i64(int64_t v)
{
  char a[BUF_INT_MAX + 1], b[32];
  size_t n = buf_fmt_i64(a, v);
  a[n] = 0;
  snprintf(b, sizeof b, "%" PRId64, v);
  assert_string_equal(a, b);
}

static void test_int_format(void **state)
{
  (void)state;
  int64_t edge[] = {0, 1, -1, 9, 10, 99, 100, 101, 999, 1000, -1000, 12345, INT64_MAX, INT64_MIN,
                    INT64_MIN + 1, 1000000000000000000LL, 999999999999999999LL};
  for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) check_i64(edge[i]);
  /* every power of ten and its neighbours, both signs */
  int64_t p = 1;
  for (int i = 0; i < 18; i++, p *= 10) {
    check_i64(p);
    check_i64(p - 1);
    check_i64(p + 1);
    check_i64(-p);
    check_i64(-p + 1);
  }
  char a[BUF_INT_MAX + 1];
  size_t n = buf_fmt_u64(a, UINT64_MAX);
  a[n] = 0;
  assert_string_equal(a, "18446744073709551615");
  Buf b = {0};
  buf_puts(&b, "x=");
  buf_put_i64(&b, -42);
  buf_putc(&b, ',');
  buf_put_u64(&b, 7);
  assert_string_equal(b.data, "x=-42,7");
  assert_int_equal(b.len, 7);
  buf_free(&b);
}

static const char *F(double x, bool json)
{
  static Buf b;
  buf_clear(&b);
  fmt_float(x, json, &b);
  return b.data;
}

static void test_float_int_path(void **state)
{
  (void)state;
  /* integral floats below 1e15 skip printf; same bytes as "%.1f" */
  assert_string_equal(F(5.0, false), "5.0");
  assert_string_equal(F(-5.0, false), "-5.0");
  assert_string_equal(F(0.0, false), "0.0");
  assert_string_equal(F(-0.0, false), "-0.0");
  assert_string_equal(F(-0.0, true), "0");
  assert_string_equal(F(3.0, true), "3");
  assert_string_equal(F(999999999999999.0, false), "999999999999999.0");
  assert_string_equal(F(-123456789012345.0, false), "-123456789012345.0");
  assert_string_equal(F(1e15, false), "1000000000000000"); /* not integral path */
  assert_string_equal(F(0.5, false), "0.5");
}

/* ---- interning ------------------------------------------------------------------ */

static void test_intern(void **state)
{
  Vm *vm = *state;
  ObjString *a = str_intern_cstr(vm, "lookup_name");
  ObjString *b = str_intern(vm, "lookup_name_x", 11);
  assert_ptr_equal(a, b);
  assert_true(a->interned);
  assert_int_not_equal(a->hash, 0);
  ObjString *c = str_cstr(vm, "lookup_name");
  assert_false(c->interned);
  assert_true(str_eq(a, c));
  assert_ptr_equal(str_intern_obj(vm, c), a);
  /* a string that is not in the table yet becomes the canonical one */
  ObjString *d = str_cstr(vm, "lookup_other");
  assert_ptr_equal(str_intern_obj(vm, d), d);
  assert_true(d->interned);
  assert_ptr_equal(str_intern_cstr(vm, "lookup_other"), d);
  assert_false(str_eq(a, d));
  /* empty string and non-ASCII bytes */
  ObjString *e = str_intern(vm, "", 0);
  assert_ptr_equal(str_intern_cstr(vm, ""), e);
  ObjString *u = str_intern_cstr(vm, "h\xc3\xa9");
  assert_int_equal(u->nchars, 2);
  assert_ptr_equal(str_intern_cstr(vm, "h\xc3\xa9"), u);
}

static void test_intern_weak(void **state)
{
  Vm *vm = *state;
  gc_collect(vm);
  uint32_t base = vm->heap.icount;
  ObjString *kept = str_intern_cstr(vm, "kept_name");
  gc_push_root(vm, OBJ_VAL(kept));
  char name[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(name, sizeof name, "tmp_%d", i);
    str_intern_cstr(vm, name);
  }
  assert_int_equal(vm->heap.icount, base + 1001);
  gc_collect(vm); /* the 1000 unrooted ones are freed and forgotten */
  assert_int_equal(vm->heap.icount, base + 1);
  assert_ptr_equal(str_intern_cstr(vm, "kept_name"), kept);
  /* tombstones are reused / rehashed away: the table keeps working */
  for (int i = 0; i < 3000; i++) {
    snprintf(name, sizeof name, "again_%d", i);
    ObjString *s = str_intern_cstr(vm, name);
    assert_ptr_equal(str_intern_cstr(vm, name), s);
  }
  assert_ptr_equal(str_intern_cstr(vm, "kept_name"), kept);
  gc_pop_root(vm);
  gc_collect(vm);
  assert_int_equal(vm->heap.icount, base);
}

/* ---- dicts ---------------------------------------------------------------------- */

static void key_of(int i, char *buf, size_t n) { snprintf(buf, n, "k%d", i); }

/* Check every key 0..n-1 whose [present] flag is set is found with its
 * value (through a different but equal string), the others are not, and
 * the entries are sorted. */
static void check_dict(Vm *vm, ObjDict *d, const bool *present, int n)
{
  char k[32];
  uint32_t count = 0;
  for (int i = 0; i < n; i++) {
    key_of(i, k, sizeof k);
    ObjString *s = str_cstr(vm, k);
    Value v;
    uint32_t pos;
    if (present[i]) {
      count++;
      assert_true(dict_get(d, s, &v));
      assert_int_equal(AS_INT(v), i);
      assert_true(dict_lookup(d, s, &pos));
      assert_true(str_eq(d->entries[pos].key, s));
      assert_true(dict_get_cstr(d, k, NULL));
    } else {
      assert_false(dict_get(d, s, NULL));
      assert_false(dict_lookup(d, s, &pos));
      /* the insertion position keeps the order */
      if (pos > 0) assert_true(str_cmp(d->entries[pos - 1].key, s) < 0);
      if (pos < d->count) assert_true(str_cmp(d->entries[pos].key, s) > 0);
    }
  }
  assert_int_equal(d->count, count);
  for (uint32_t i = 1; i < d->count; i++)
    assert_true(str_cmp(d->entries[i - 1].key, d->entries[i].key) < 0);
}

static void test_dict_index(void **state)
{
  Vm *vm = *state;
  enum { N = 300 };
  bool present[N] = {0};
  ObjDict *d = dict_new(vm, 0);
  char k[32];
  /* insert in a scrambled order: grows past the index threshold */
  for (int j = 0; j < N; j++) {
    int i = (j * 7) % N;
    key_of(i, k, sizeof k);
    dict_set(vm, d, str_cstr(vm, k), INT_VAL(i));
    present[i] = true;
    if (j % 37 == 0) check_dict(vm, d, present, N);
  }
  check_dict(vm, d, present, N);
  assert_non_null(d->index);
  /* replace values through equal keys: no new entries */
  for (int i = 0; i < N; i += 3) {
    key_of(i, k, sizeof k);
    dict_set(vm, d, str_cstr(vm, k), INT_VAL(i));
  }
  assert_int_equal(d->count, N);
  /* copies carry a working index */
  ObjDict *c = dict_copy(vm, d);
  check_dict(vm, c, present, N);
  /* removals, then more inserts (index dropped, then rebuilt) */
  for (int i = 0; i < N; i += 2) {
    key_of(i, k, sizeof k);
    assert_true(dict_remove(d, str_cstr(vm, k)));
    present[i] = false;
  }
  check_dict(vm, d, present, N);
  for (int i = 0; i < N; i += 4) {
    key_of(i, k, sizeof k);
    dict_set_cstr(vm, d, k, INT_VAL(i));
    present[i] = true;
  }
  check_dict(vm, d, present, N);
  /* the copy was not affected */
  bool all[N];
  for (int i = 0; i < N; i++) all[i] = true;
  check_dict(vm, c, all, N);
  /* interned keys: found by pointer through the index too */
  ObjDict *e = dict_new(vm, 0);
  for (int i = 0; i < N; i++) {
    key_of(i, k, sizeof k);
    dict_set(vm, e, str_intern_cstr(vm, k), INT_VAL(i));
  }
  check_dict(vm, e, all, N);
  Value v;
  assert_true(dict_get(e, str_intern_cstr(vm, "k17"), &v));
  assert_int_equal(AS_INT(v), 17);
  assert_false(dict_get(e, str_intern_cstr(vm, "k9999"), &v));
}

/* ---- interpolation --------------------------------------------------------------- */

static void test_concat_display(void **state)
{
  Vm *vm = *state;
  Value parts[20];
  parts[0] = OBJ_VAL(str_cstr(vm, "item "));
  parts[1] = INT_VAL(-42);
  parts[2] = OBJ_VAL(str_cstr(vm, ": "));
  parts[3] = INT_VAL(INT64_MIN);
  ObjString *s = val_concat_display(vm, parts, 4);
  assert_string_equal(s->chars, "item -42: -9223372036854775808");
  assert_int_equal(s->len, strlen(s->chars));
  assert_true(s->ascii);
  assert_int_equal(s->nchars, s->len);
  /* non-ASCII parts: characters recounted */
  parts[0] = OBJ_VAL(str_cstr(vm, "h\xc3\xa9"));
  parts[1] = INT_VAL(7);
  s = val_concat_display(vm, parts, 2);
  assert_string_equal(s->chars, "h\xc3\xa9" "7");
  assert_int_equal(s->nchars, 3);
  assert_false(s->ascii);
  /* an invalid tail and head that form one character together */
  parts[0] = OBJ_VAL(str_cstr(vm, "a\xc3"));
  parts[1] = OBJ_VAL(str_cstr(vm, "\xa9z"));
  s = val_concat_display(vm, parts, 2);
  assert_int_equal(s->nchars, 3);
  assert_int_equal(str_concat(vm, AS_STRING(parts[0]), AS_STRING(parts[1]))->nchars, 3);
  /* other kinds take the general path with the same result as display */
  parts[0] = OBJ_VAL(str_cstr(vm, "f="));
  parts[1] = FLOAT_VAL(1.5);
  parts[2] = NIL_VAL;
  parts[3] = BOOL_VAL(true);
  s = val_concat_display(vm, parts, 4);
  assert_string_equal(s->chars, "f=1.5niltrue");
  /* more parts than the fast path holds */
  for (int i = 0; i < 20; i++) parts[i] = INT_VAL(i);
  s = val_concat_display(vm, parts, 20);
  assert_string_equal(s->chars, "012345678910111213141516171819");
  s = val_concat_display(vm, parts, 0);
  assert_int_equal(s->len, 0);
  assert_string_equal(s->chars, "");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_int_format, setup, teardown),
      cmocka_unit_test_setup_teardown(test_float_int_path, setup, teardown),
      cmocka_unit_test_setup_teardown(test_intern, setup, teardown),
      cmocka_unit_test_setup_teardown(test_intern_weak, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dict_index, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concat_display, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
