/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * UTF-8 validation of text from outside (request lines, config files):
 * JSON text must be UTF-8 (RFC 8259), and cJSON copies string bytes as they
 * come, so invalid bytes would otherwise be echoed into answers and files.
 */
#ifndef ELB_UTF8_H
#define ELB_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Is s[0..len) well-formed UTF-8 (no overlong forms, no surrogates, nothing
 * above U+10FFFF)? On false, *bad is the offset of the first bad byte.
 */
static inline bool elb_utf8_valid(const char *s, size_t len, size_t *bad)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;

	while (i < len) {
		uint8_t c = p[i];
		size_t n;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			goto fail;
		}
		if (len - i <= n)
			goto fail;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				goto fail;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto fail;
		i += n + 1;
	}
	return true;
fail:
	if (bad != NULL)
		*bad = i;
	return false;
}

#endif /* ELB_UTF8_H */
