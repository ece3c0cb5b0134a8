/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

/* The vtable entry for each kind of property in the interfaces' property
 * tables (source-props.h, manager-props.h):
 *   CONST     never changes (EmitsChangedSignal=const)
 *   SIGNAL    each change goes out in PropertiesChanged
 *   SILENT    read on demand (EmitsChangedSignal=false)
 *   WRITABLE  SIGNAL, and settable by anyone the policy lets call (the
 *             setter itself checks polkit) */
#define BUS_PROP_VTABLE_CONST(name, sig, getter, setter)                                                               \
  SD_BUS_PROPERTY (name, sig, getter, 0, SD_BUS_VTABLE_PROPERTY_CONST)
#define BUS_PROP_VTABLE_SIGNAL(name, sig, getter, setter)                                                              \
  SD_BUS_PROPERTY (name, sig, getter, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE)
#define BUS_PROP_VTABLE_SILENT(name, sig, getter, setter) SD_BUS_PROPERTY (name, sig, getter, 0, 0)
#define BUS_PROP_VTABLE_WRITABLE(name, sig, getter, setter)                                                            \
  SD_BUS_WRITABLE_PROPERTY (name, sig, getter, setter, 0,                                                              \
                            SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE | SD_BUS_VTABLE_UNPRIVILEGED)
