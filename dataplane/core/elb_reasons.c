/* SPDX-License-Identifier: BSD-3-Clause */
#include "elb_reasons.h"

static const char *const reason_names[ELB_REASON_COUNT] = {
#define ELB_REASON_NAME(name, counter, text) [ELB_REASON_##name] = counter,
	ELB_REASON_LIST(ELB_REASON_NAME)
#undef ELB_REASON_NAME
};

static const char *const reason_texts[ELB_REASON_COUNT] = {
#define ELB_REASON_TEXT(name, counter, text) [ELB_REASON_##name] = text,
	ELB_REASON_LIST(ELB_REASON_TEXT)
#undef ELB_REASON_TEXT
};

const char *elb_reason_name(enum elb_reason reason)
{
	if ((unsigned int)reason >= ELB_REASON_COUNT)
		return "unknown";
	return reason_names[reason];
}

const char *elb_reason_text(enum elb_reason reason)
{
	if ((unsigned int)reason >= ELB_REASON_COUNT)
		return "unknown";
	return reason_texts[reason];
}
