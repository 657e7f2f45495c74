# Sources of the native cascade engine core (plain C++17, no N-API, no ONNX Runtime).
# Included by the addon's CMakeLists.txt and by native/tests/CMakeLists.txt.
# Consumers add ${CASCADESERVE_NATIVE_INCLUDE_DIR} (native/) to the include path: the
# engine includes "common/status.h" and "engine/...".
set(CASCADESERVE_NATIVE_INCLUDE_DIR ${CMAKE_CURRENT_LIST_DIR}/..)
set(CASCADESERVE_ENGINE_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/batch_assembly.cc
  ${CMAKE_CURRENT_LIST_DIR}/batch_policy.cc
  ${CMAKE_CURRENT_LIST_DIR}/certainty.cc
  ${CMAKE_CURRENT_LIST_DIR}/deadline.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine.cc
  ${CMAKE_CURRENT_LIST_DIR}/gear.cc
  ${CMAKE_CURRENT_LIST_DIR}/input_layout.cc
  ${CMAKE_CURRENT_LIST_DIR}/item_buffer_pool.cc
  ${CMAKE_CURRENT_LIST_DIR}/lane.cc
  ${CMAKE_CURRENT_LIST_DIR}/stage_queue.cc
)
