#include <criterion/criterion.h>
#include "testutil.h"
