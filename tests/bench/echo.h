/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Starting the reference service (echo-service.c) on a benchmark's bus. */

#include "../harness.h"

#define ECHO_NAME "org.sourced.Bench.Echo"

/* Starts echo-service (ECHO_SERVICE_BINARY, or build/tests/echo-service)
 * with @args on @h's bus and waits until it owns ECHO_NAME. */
GPid echo_start (Harness *h, const char *const *args);
void echo_stop (GPid pid);
