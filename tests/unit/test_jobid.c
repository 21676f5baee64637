/*
 * test_jobid.c: job ids of paths and shards (supervisor/jobid.c).
 *
 * A path's id must not depend on its spelling or on the current directory
 * (each case is run from two directories); the shard rules are CLI
 * contract (design/RUNNER.md section 8): the position rule, XXH64 of the
 * id with seed 0 (checked against the published value for the empty
 * string and "a"), and the Slurm and Kubernetes environments, whose
 * inconsistent forms are refused.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "supervisor/sup_internal.h"

static void eq_free(char *got, const char *want)
{
  assert_non_null(got);
  if (strcmp(got, want)) fprintf(stderr, "got \"%s\", want \"%s\"\n", got, want);
  assert_string_equal(got, want);
  free(got);
}

/* A scratch tree: /tmp/jobid.XXXXXX/w/jobs; the test runs in .../w. */
static char root[64];

static int setup(void **state)
{
  (void)state;
  snprintf(root, sizeof root, "/tmp/jobid.XXXXXX");
  if (!mkdtemp(root)) return -1;
  char p[128];
  snprintf(p, sizeof p, "%s/w", root);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/w/jobs", root);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/w", root);
  return chdir(p);
}

static int teardown(void **state)
{
  (void)state;
  char p[128];
  snprintf(p, sizeof p, "%s/w/jobs", root);
  rmdir(p);
  snprintf(p, sizeof p, "%s/w", root);
  rmdir(p);
  rmdir(root);
  return 0;
}

static void test_dir_ids(void **state)
{
  (void)state;
  char abs[128], absfile[160];
  snprintf(abs, sizeof abs, "%s/w/jobs/", root);
  snprintf(absfile, sizeof absfile, "%s/w/jobs/sub/a.harn", root);
  /* in w/ */
  eq_free(sup_path_id("jobs", "jobs/sub/a.harn"), "jobs/sub/a.harn");
  eq_free(sup_path_id("./jobs/", "./jobs//sub/a.harn"), "jobs/sub/a.harn");
  eq_free(sup_path_id(abs, absfile), "jobs/sub/a.harn");
  eq_free(sup_path_id("x/../jobs", "x/../jobs/sub/./a.harn"), "jobs/sub/a.harn");
  /* in w/jobs: `harn batch .` */
  assert_int_equal(chdir("jobs"), 0);
  eq_free(sup_path_id(".", "./sub/a.harn"), "jobs/sub/a.harn");
  eq_free(sup_path_id("../jobs", "../jobs/sub/a.harn"), "jobs/sub/a.harn");
  eq_free(sup_path_id(abs, absfile), "jobs/sub/a.harn");
  assert_int_equal(chdir(".."), 0);
  eq_free(sup_path_id("/", "/etc/x.harn"), "etc/x.harn");
}

static void test_file_and_stream_ids(void **state)
{
  (void)state;
  eq_free(sup_file_id("jobs/a.harn"), "a.harn");
  eq_free(sup_file_id("./jobs//a.harn"), "a.harn");
  eq_free(sup_file_id("/abs/jobs/a.harn"), "a.harn");
  eq_free(sup_file_id("a.harn"), "a.harn");
  eq_free(sup_source_name("./x/../jobs.jsonl"), "jobs.jsonl");
  eq_free(sup_stream_path_id("./jobs//a.harn"), "jobs/a.harn");
  eq_free(sup_stream_path_id("jobs/sub/../a.harn"), "jobs/a.harn");
  eq_free(sup_stream_path_id("../../a.harn"), "../../a.harn");
  eq_free(sup_stream_path_id("x/../../a.harn"), "../a.harn");
  eq_free(sup_stream_path_id("/../a.harn"), "/a.harn");
  eq_free(sup_stream_path_id("/x/y/../../.."), "/");
  eq_free(sup_stream_path_id("x/.."), ".");
}

static void test_shard_rules(void **state)
{
  (void)state;
  char err[200];
  SupShard sh;
  assert_int_equal(sup_shard_parse("1/3", NULL, &sh, err, sizeof err), 0);
  assert_int_equal(sh.index, 1);
  assert_int_equal(sh.count, 3);
  long mine = 0;
  for (long pos = 0; pos < 30; pos++) mine += sup_shard_mine(&sh, pos, "x");
  assert_int_equal(mine, 10);
  assert_true(sup_shard_mine(&sh, 4, NULL));
  assert_false(sup_shard_mine(&sh, 5, NULL));
  assert_true(sup_shard_mine(NULL, 5, "x"));

  /* XXH64, seed 0: "" = 0xef46db3751d8e999, "a" = 0xd24ec4f1a98c6e5b */
  assert_int_equal(sup_shard_parse("0/7", "id", &sh, err, sizeof err), 0);
  assert_true(sh.by_id);
  assert_int_equal(sup_shard_mine(&sh, 0, ""), 0xef46db3751d8e999ull % 7 == 0);
  for (int i = 0; i < 7; i++) {
    sh.index = i;
    assert_int_equal(sup_shard_mine(&sh, 0, "a"), 0xd24ec4f1a98c6e5bull % 7 == (unsigned)i);
  }
  /* a bad line (no id) goes by its position under the id rule too */
  sh.index = 3;
  assert_true(sup_shard_mine(&sh, 10, NULL));

  const char *bad[] = {"3/3", "1/0", "-1/2", "1", "a/b", "1/2/3", "k8s/0", "k8s/x", "", "1/", "/2"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err[0] = '\0';
    if (sup_shard_parse(bad[i], NULL, &sh, err, sizeof err) == 0) fail_msg("accepted \"%s\"", bad[i]);
    assert_true(err[0] != '\0');
  }
  assert_int_equal(sup_shard_parse("0/2", "seq", &sh, err, sizeof err), -1);
}

static void test_shard_env(void **state)
{
  (void)state;
  char err[200];
  SupShard sh;
  setenv("SLURM_ARRAY_TASK_ID", "7", 1);
  setenv("SLURM_ARRAY_TASK_MIN", "1", 1);
  setenv("SLURM_ARRAY_TASK_STEP", "2", 1);
  setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
  assert_int_equal(sup_shard_parse("slurm", NULL, &sh, err, sizeof err), 0);
  assert_int_equal(sh.index, 3);
  assert_int_equal(sh.count, 4);
  setenv("SLURM_ARRAY_TASK_ID", "8", 1); /* not on the step */
  assert_int_equal(sup_shard_parse("slurm", NULL, &sh, err, sizeof err), -1);
  assert_non_null(strstr(err, "give --shard I/N"));
  setenv("SLURM_ARRAY_TASK_ID", "9", 1); /* past COUNT */
  assert_int_equal(sup_shard_parse("slurm", NULL, &sh, err, sizeof err), -1);
  unsetenv("SLURM_ARRAY_TASK_STEP"); /* older Slurm: step 1 */
  setenv("SLURM_ARRAY_TASK_ID", "4", 1);
  assert_int_equal(sup_shard_parse("slurm", NULL, &sh, err, sizeof err), 0);
  assert_int_equal(sh.index, 3);
  unsetenv("SLURM_ARRAY_TASK_COUNT");
  assert_int_equal(sup_shard_parse("slurm", NULL, &sh, err, sizeof err), -1);
  assert_non_null(strstr(err, "SLURM_ARRAY_TASK_COUNT is not set"));

  setenv("JOB_COMPLETION_INDEX", "11", 1);
  assert_int_equal(sup_shard_parse("k8s/12", NULL, &sh, err, sizeof err), 0);
  assert_int_equal(sh.index, 11);
  assert_int_equal(sup_shard_parse("k8s/11", NULL, &sh, err, sizeof err), -1);
  setenv("JOB_COMPLETION_INDEX", "x", 1);
  assert_int_equal(sup_shard_parse("k8s/12", NULL, &sh, err, sizeof err), -1);
  assert_non_null(strstr(err, "JOB_COMPLETION_INDEX is not a count"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dir_ids),
    cmocka_unit_test(test_file_and_stream_ids),
    cmocka_unit_test(test_shard_rules),
    cmocka_unit_test(test_shard_env),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
