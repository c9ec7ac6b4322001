/* The release, shown by `hearth version`, the admin API and the metrics. */
#ifndef HEARTH_CORE_VERSION_H
#define HEARTH_CORE_VERSION_H

#define HEARTH_VERSION "0.1.0"

#endif
