/* SPDX-License-Identifier: ISC */
/* fdmsg_version: the version the library was built as. */
#include "fdmsg.h"

const char *
fdmsg_version(void)
{
	return FDMSG_VERSION_STRING;
}
