// Status and Expected are part of the public API; modules include them through this header.
#pragma once

#include "autoglm/status.h"
