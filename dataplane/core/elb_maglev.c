/* SPDX-License-Identifier: BSD-3-Clause */
/* Maglev table construction: control path only (allocates). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "elb_maglev.h"

bool elb_is_prime(uint32_t n)
{
	if (n < 2)
		return false;
	if (n % 2 == 0)
		return n == 2;
	for (uint32_t d = 3; (uint64_t)d * d <= n; d += 2)
		if (n % d == 0)
			return false;
	return true;
}
