/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The benchmark's generator: N records of about 100 bytes as JSON lines on
 * stdout, as fast as it can (big buffered writes), then exit. N = 0: for
 * ever. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main (int argc, char **argv)
{
  unsigned long long n = argc > 1 ? strtoull (argv[1], NULL, 10) : 0;
  static char buf[1 << 16];

  setvbuf (stdout, buf, _IOFBF, sizeof buf);
  for (unsigned long long i = 1; n == 0 || i <= n; i++)
    if (printf ("{\"n\":%llu,\"payload\":\"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvw\"}\n",
                i) < 0)
      return 1;
  return fflush (stdout) == 0 ? 0 : 1;
}
