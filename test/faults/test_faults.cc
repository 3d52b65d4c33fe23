// The --test_fault flag of the test-only client scalefs-test-faults (see
// fsd/test_faults.h); compiled into no installed program.
#include "fsd/test_faults.h"

#include <gflags/gflags.h>

#include <string>

DEFINE_string(test_fault, "", "TEST BUILD ONLY: a deliberate bug to switch on (skip_commit)");

namespace scalefs {

bool TestFault(const char* fault) { return FLAGS_test_fault == fault; }

}  // namespace scalefs
