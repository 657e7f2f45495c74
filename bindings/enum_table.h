// The enum tables the addon exports at load (`enums`), for bindings/binding.ts to compare with
// ts/contracts/enums.ts.
#pragma once

#include <napi.h>

namespace cascadeserve::bindings {

// {statusCodes, certaintyMeasures, outputKinds}: each an object from name to native value.
Napi::Object EnumTables(Napi::Env env);

}  // namespace cascadeserve::bindings
