// The names and families of the ops in WEFT_BACKEND_OPS (kernels/backend.h), and the stub that
// PartialBackend's generated methods call.
#include <string>

#include "kernels/backend.h"
#include "kernels/error.h"

namespace weft {

const char* op_name(Op op) {
  switch (op) {
#define WEFT_OP_NAME_CASE(family, name, params, args) \
  case Op::name:                                      \
    return #name;
    WEFT_BACKEND_OPS(WEFT_OP_NAME_CASE)
#undef WEFT_OP_NAME_CASE
  }
  return "?";
}

KernelFamily op_family(Op op) {
  switch (op) {
#define WEFT_OP_FAMILY_CASE(family, name, params, args) \
  case Op::name:                                        \
    return KernelFamily::family;
    WEFT_BACKEND_OPS(WEFT_OP_FAMILY_CASE)
#undef WEFT_OP_FAMILY_CASE
  }
  return KernelFamily::elementwise;
}

void PartialBackend::not_implemented(const char* op) const {
  throw NotImplemented(std::string(op) + " is not implemented by the " + name() + " backend");
}

}  // namespace weft
