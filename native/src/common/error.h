/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Error reporting shared by the engines: a function that fails returns a
 * negative errno (or NULL with *err_no) and writes the reason for a person
 * into the caller's err buffer, which may be NULL.
 */
#ifndef FAULTC_COMMON_ERROR_H
#define FAULTC_COMMON_ERROR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

#endif
