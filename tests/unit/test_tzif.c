/*
 * test_tzif.c: the TZif reader, POSIX TZ rules and the calendar of
 * vm/tzif.c, on the embedded database (vm/tzdata.cmake) and on malformed
 * data. Expected offsets were read from Python's zoneinfo over the same
 * tzdata (2025b) and agree with the published history of each zone:
 *  - America/New_York: LMT until 1883-11-18 17:00 UTC, the 2024 changes,
 *    DST in 1960, 2100 (past the file's last transition: the footer);
 *  - Europe/London: LMT before 1847, double summer time in 1944, British
 *    Standard Time (+1, not DST) in 1968-71, the 2024 change, 2200;
 *  - Australia/Lord_Howe: a 30-minute DST, southern hemisphere, abbreviations
 *    "+11"/"+1030";
 *  - Asia/Kolkata: LMT +5:53:28, +6:30 in the war years, IST since.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/tzif.h"

typedef struct {
  const char *zone;
  int64_t t;
  int32_t off;
  const char *abbr;
  bool dst;
} Case;

static const Case cases[] = {
    {"America/New_York", 1710053999, -18000, "EST", false},  /* 2024-03-10 06:59:59 UTC */
    {"America/New_York", 1710054000, -14400, "EDT", true},   /* 07:00 UTC: spring forward */
    {"America/New_York", 1730613599, -14400, "EDT", true},   /* 2024-11-03 05:59:59 UTC */
    {"America/New_York", 1730613600, -18000, "EST", false},  /* fall back */
    {"America/New_York", -299894400, -14400, "EDT", true},   /* 1960-07-01 */
    {"America/New_York", -2717650801, -17762, "LMT", false}, /* 1883-11-18 16:59:59 UTC */
    {"America/New_York", -2717650800, -18000, "EST", false}, /* railway time */
    {"America/New_York", 4118083200, -14400, "EDT", true},   /* 2100-07-01: footer */
    {"America/New_York", 4102444800, -18000, "EST", false},  /* 2100-01-01: footer */
    {"Europe/London", 13046400, 3600, "BST", false},         /* 1970-06-01: British Standard Time */
    {"Europe/London", 0, 3600, "BST", false},
    {"Europe/London", 1711846799, 0, "GMT", false}, /* 2024-03-31 00:59:59 UTC */
    {"Europe/London", 1711846800, 3600, "BST", true},
    {"Europe/London", -5364662400, -75, "LMT", false}, /* 1800-01-01 */
    {"Europe/London", -807408000, 7200, "BDST", true}, /* 1944-06-01 */
    {"Europe/London", 7273756800, 3600, "BST", true},  /* 2200-07-01: footer */
    {"Australia/Lord_Howe", 1705276800, 39600, "+11", true},
    {"Australia/Lord_Howe", 1719792000, 37800, "+1030", false},
    {"Australia/Lord_Howe", 1712415599, 39600, "+11", true},    /* 2024-04-06 14:59:59 UTC */
    {"Australia/Lord_Howe", 1712415600, 37800, "+1030", false}, /* DST ends */
    {"Australia/Lord_Howe", 1728142199, 37800, "+1030", false}, /* 2024-10-05 15:29:59 UTC */
    {"Australia/Lord_Howe", 1728142200, 39600, "+11", true},    /* DST starts */
    {"Australia/Lord_Howe", 3817843200, 39600, "+11", true},    /* 2090-12-25: footer */
    {"Australia/Lord_Howe", 0, 36000, "AEST", false},
    {"Asia/Kolkata", 1704067200, 19800, "IST", false},
    {"Asia/Kolkata", -852076800, 23400, "+0630", true},  /* 1943-01-01 */
    {"Asia/Kolkata", -3786825600, 21208, "LMT", false},  /* 1850-01-01 */
    {"Asia/Kolkata", -315619200, 19800, "IST", false},   /* 1960-01-01 */
    {"Asia/Kolkata", 7258118400, 19800, "IST", false},   /* 2200-01-01 */
    {"UTC", -1000000000000LL, 0, "UTC", false},
    {"US/Eastern", 1710054000, -14400, "EDT", true}, /* a link */
};

static void check_case(const TzZone *z, const Case *c)
{
  TzInfo ti;
  tzif_at(z, c->t, &ti);
  if (ti.utoff != c->off || strcmp(ti.abbr, c->abbr) != 0 || ti.isdst != c->dst)
    fail_msg("%s at %lld: got %d %s %d, want %d %s %d", c->zone, (long long)c->t, ti.utoff, ti.abbr, ti.isdst,
             c->off, c->abbr, c->dst);
}

static void test_embedded_offsets(void **state)
{
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    TzZone z;
    if (!tz_find(cases[i].zone, &z)) fail_msg("zone %s not embedded", cases[i].zone);
    check_case(&z, &cases[i]);
  }
}

/* The same answers from the whole files (version 1 block skipped) when
 * the system has them: the embedded copy is the file's second half. */
static void test_system_files(void **state)
{
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char path[256];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", cases[i].zone);
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    static unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    TzZone z;
    assert_true(tzif_parse(buf, n, &z));
    check_case(&z, &cases[i]);
  }
}

static void test_table(void **state)
{
  assert_true(tz_entry_count > 500);
  assert_true(tz_blob_size > 100000 && tz_blob_size < 600000);
  for (int i = 1; i < tz_entry_count; i++) assert_true(strcmp(tz_entries[i - 1].name, tz_entries[i].name) < 0);
  for (int i = 0; i < tz_entry_count; i++) {
    TzZone z;
    assert_true(tz_entries[i].off + tz_entries[i].len <= tz_blob_size);
    if (!tzif_parse_block(tz_blob + tz_entries[i].off, tz_entries[i].len, &z))
      fail_msg("embedded zone %s does not parse", tz_entries[i].name);
  }
  TzZone z;
  assert_false(tz_find("america/new_york", &z)); /* case-sensitive, as chrono-tz */
  assert_false(tz_find("Mars/Olympus_Mons", &z));
  assert_false(tz_find("", &z));
  assert_true(tz_find("Etc/GMT+5", &z));
  TzInfo ti;
  tzif_at(&z, 0, &ti);
  assert_int_equal(ti.utoff, -18000);
  assert_string_equal(ti.abbr, "-05");
  assert_true(strlen(tz_data_version) >= 5);
}

static void test_from_local(void **state)
{
  TzZone z;
  int64_t t[2];
  assert_true(tz_find("America/New_York", &z));
  /* 2024-03-10 02:30 does not exist; 01:30 on 2024-11-03 happens twice */
  int64_t gap = (tz_days_from_civil(2024, 3, 10) * 86400) + 2 * 3600 + 1800;
  assert_int_equal(tzif_from_local(&z, gap, t), 0);
  int64_t twice = (tz_days_from_civil(2024, 11, 3) * 86400) + 3600 + 1800;
  assert_int_equal(tzif_from_local(&z, twice, t), 2);
  assert_int_equal(t[0], twice + 14400);
  assert_int_equal(t[1], twice + 18000);
  int64_t plain = tz_days_from_civil(2024, 7, 4) * 86400 + 12 * 3600;
  assert_int_equal(tzif_from_local(&z, plain, t), 1);
  assert_int_equal(t[0], plain + 14400);
  /* before 1883 the offset has seconds */
  int64_t lmt = tz_days_from_civil(1850, 1, 1) * 86400;
  assert_int_equal(tzif_from_local(&z, lmt, t), 1);
  assert_int_equal(t[0], lmt + 17762);
  /* Lord Howe: a 30-minute gap on 2024-10-06 at 02:00 local */
  assert_true(tz_find("Australia/Lord_Howe", &z));
  int64_t lh = tz_days_from_civil(2024, 10, 6) * 86400 + 2 * 3600 + 15 * 60;
  assert_int_equal(tzif_from_local(&z, lh, t), 0);
  lh += 20 * 60; /* 02:35 */
  assert_int_equal(tzif_from_local(&z, lh, t), 1);
  assert_int_equal(t[0], lh - 39600);
}

static void posix_at_checked(const char *tz, int64_t t, int32_t off, bool dst, const char *abbr)
{
  TzPosix p;
  if (!tz_posix_parse(tz, strlen(tz), &p)) fail_msg("%s does not parse", tz);
  /* a zone with no transitions is all footer */
  TzZone z;
  memset(&z, 0, sizeof z);
  z.has_footer = true;
  z.footer = p;
  TzInfo ti;
  tzif_at(&z, t, &ti);
  if (ti.utoff != off || ti.isdst != dst || strcmp(ti.abbr, abbr) != 0)
    fail_msg("%s at %lld: got %d %d %s", tz, (long long)t, ti.utoff, ti.isdst, ti.abbr);
}

static void test_posix(void **state)
{
  int64_t jan = tz_days_from_civil(2030, 1, 15) * 86400, jul = tz_days_from_civil(2030, 7, 15) * 86400;
  posix_at_checked("EST5EDT,M3.2.0,M11.1.0", jan, -18000, false, "EST");
  posix_at_checked("EST5EDT,M3.2.0,M11.1.0", jul, -14400, true, "EDT");
  posix_at_checked("EST5EDT", jul, -14400, true, "EDT"); /* default rules */
  posix_at_checked("<+0530>-5:30", jul, 19800, false, "+0530");
  posix_at_checked("<-03>3", jan, -10800, false, "-03");
  posix_at_checked("AEST-10AEDT,M10.1.0,M4.1.0/3", jan, 39600, true, "AEDT");
  posix_at_checked("AEST-10AEDT,M10.1.0,M4.1.0/3", jul, 36000, false, "AEST");
  /* Israel: rule time 26:00 (version 3) */
  posix_at_checked("IST-2IDT,M3.4.4/26,M10.5.0", jul, 10800, true, "IDT");
  int64_t il = tz_days_from_civil(2030, 3, 29) * 86400; /* Fri 00:00 UTC, the change is Fri 02:00 local */
  posix_at_checked("IST-2IDT,M3.4.4/26,M10.5.0", il - 1, 7200, false, "IST");
  posix_at_checked("IST-2IDT,M3.4.4/26,M10.5.0", il, 10800, true, "IDT");
  /* Greenland: negative rule times (version 3) */
  posix_at_checked("<-02>2<-01>,M3.5.0/-1,M10.5.0/0", jul, -3600, true, "-01");
  posix_at_checked("<-02>2<-01>,M3.5.0/-1,M10.5.0/0", jan, -7200, false, "-02");
  /* DST all year, across the new year */
  int64_t ny = tz_days_from_civil(2031, 1, 1) * 86400;
  posix_at_checked("EST5EDT,0/0,J365/25", ny, -14400, true, "EDT");
  posix_at_checked("EST5EDT,0/0,J365/25", ny + 5 * 3600, -14400, true, "EDT");
  posix_at_checked("EST5EDT,0/0,J365/25", jul, -14400, true, "EDT");
  /* Julian days never count Feb 29; zero-based days do */
  posix_at_checked("AAA0BBB,J60/0,J61/0", tz_days_from_civil(2032, 3, 1) * 86400, 3600, true, "BBB");
  posix_at_checked("AAA0BBB,59/0,60/0", tz_days_from_civil(2032, 2, 29) * 86400, 3600, true, "BBB");

  TzPosix p;
  const char *bad[] = {"", "E5", "EST", "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.6.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0",
                       "EST5EDT,M3.2.0", "EST5EDT,J0,J10", "EST5EDT,366,1", "<EST5", "<E$T>5", "EST5EDT,M3.2.0/168,M11.1.0",
                       "EST5EDT,M3.2.0,M11.1.0x", "EST5:60"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (tz_posix_parse(bad[i], strlen(bad[i]), &p)) fail_msg("'%s' parsed", bad[i]);
}

static void test_calendar(void **state)
{
  assert_int_equal(tz_days_from_civil(1970, 1, 1), 0);
  assert_int_equal(tz_days_from_civil(2000, 3, 1), 11017);
  assert_int_equal(tz_days_from_civil(1969, 12, 31), -1);
  assert_int_equal(tz_days_from_civil(1, 1, 1), -719162);
  assert_int_equal(tz_weekday(0), 4);                              /* Thursday */
  assert_int_equal(tz_weekday(tz_days_from_civil(1900, 1, 1)), 1); /* Monday */
  assert_int_equal(tz_weekday(tz_days_from_civil(-1, 12, 31)), 5);
  for (int64_t d = -800000; d < 800000; d += 997) {
    int64_t y;
    int m, dd;
    tz_civil_from_days(d, &y, &m, &dd);
    assert_int_equal(tz_days_from_civil(y, m, dd), d);
    assert_true(dd >= 1 && dd <= tz_days_in_month(y, m));
  }
  assert_true(tz_is_leap(2000) && !tz_is_leap(1900) && tz_is_leap(2024) && !tz_is_leap(2023) && tz_is_leap(-4));
}

static void test_malformed(void **state)
{
  TzZone z, good;
  assert_true(tz_find("America/New_York", &good));
  const unsigned char *blk = (const unsigned char *)good.times - 44;
  size_t len = 0;
  for (int i = 0; i < tz_entry_count; i++)
    if (strcmp(tz_entries[i].name, "America/New_York") == 0) len = tz_entries[i].len;
  assert_true(len > 44);
  /* every truncation that cuts into the data fails; none crashes */
  for (size_t n = 0; n < len; n++) {
    bool ok = tzif_parse_block(blk, n, &z);
    if (n < 44 + good.timecnt * 9 + good.typecnt * 6 + good.charcnt) assert_false(ok);
  }
  unsigned char *copy = malloc(len);
  memcpy(copy, blk, len);
  copy[4] = 0; /* version 1 */
  assert_false(tzif_parse_block(copy, len, &z));
  memcpy(copy, blk, len);
  copy[0] = 'X';
  assert_false(tzif_parse_block(copy, len, &z));
  memcpy(copy, blk, len);
  copy[31] = 1; /* a leap-second record */
  assert_false(tzif_parse_block(copy, len, &z));
  memcpy(copy, blk, len);
  copy[44 + good.timecnt * 8] = 200; /* a type index out of range */
  assert_false(tzif_parse_block(copy, len, &z));
  memcpy(copy, blk, len);
  memcpy(copy + 44 + 8, copy + 44, 8); /* times not ascending */
  assert_false(tzif_parse_block(copy, len, &z));
  memcpy(copy, blk, len);
  copy[len - 3] = '$'; /* a malformed footer */
  assert_false(tzif_parse_block(copy, len, &z));
  free(copy);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_embedded_offsets), cmocka_unit_test(test_system_files), cmocka_unit_test(test_table),
      cmocka_unit_test(test_from_local),       cmocka_unit_test(test_posix),        cmocka_unit_test(test_calendar),
      cmocka_unit_test(test_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
