// Public API of the cascadeserve package.
export { Session } from './runtime/session.js';
export type { SessionOptions, Tensor, TensorInput, TensorMetadata, GraphOptimizationLevel } from './runtime/session.js';
export { ElementType } from './runtime/element-type.js';
export type { ElementTypeName, TensorData } from './runtime/element-type.js';
export { defaultOrtLibraryPath, runtimeInfo } from './runtime/runtime.js';
export type { RuntimeInfo } from './runtime/runtime.js';
export { CascadeServeError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { CascadeEngine } from './engine/engine.js';
export type { ItemResult, ItemStatus, SubmitOptions, EngineStats, TensorArray, TensorItems, EngineInputInfo } from './engine/engine.js';
export type { EngineOptions, EngineModel, EngineInput, EngineLane, EngineStage, EngineGear, CertaintyMeasure, OutputKind, Datatype } from './engine/config.js';
export { kMaxBudgetUs } from './engine/config.js';
