// JSON schemas of the protocol's bodies, compiled by Fastify at boot: Ajv validates requests,
// fast-json-stringify serializes responses. Tensor `data` is left to codec.ts (nested or flat
// arrays of any length are cheaper to check in one pass than through a schema).

const parameterValue = { type: ['string', 'number', 'boolean'] };
export const kParametersSchema = { type: 'object', additionalProperties: parameterValue } as const;

export const kErrorSchema = {
  type: 'object',
  properties: { error: { type: 'string' } },
  required: ['error'],
} as const;

const tensorMetadata = {
  type: 'object',
  properties: { name: { type: 'string' }, datatype: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } } },
} as const;

export const kModelParamsSchema = {
  type: 'object',
  properties: { name: { type: 'string' }, version: { type: 'string' } },
  required: ['name'],
} as const;

export const kServerMetadataSchema = {
  type: 'object',
  properties: { name: { type: 'string' }, version: { type: 'string' }, extensions: { type: 'array', items: { type: 'string' } } },
} as const;

export const kModelMetadataSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    versions: { type: 'array', items: { type: 'string' } },
    platform: { type: 'string' },
    inputs: { type: 'array', items: tensorMetadata },
    outputs: { type: 'array', items: tensorMetadata },
  },
} as const;

/** Most inputs, and most outputs, one request may list. */
export const kMaxTensorsPerRequest = 16;

export const kInferRequestSchema = {
  type: 'object',
  required: ['inputs'],
  properties: {
    id: { type: 'string' },
    parameters: kParametersSchema,
    inputs: {
      type: 'array',
      minItems: 1,
      // A model takes a few inputs: a bound keeps validation of hostile bodies cheap.
      maxItems: kMaxTensorsPerRequest,
      items: {
        type: 'object',
        required: ['name', 'shape', 'datatype'],
        properties: {
          name: { type: 'string' },
          shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
          datatype: { type: 'string' },
          parameters: kParametersSchema,
          data: {},
        },
      },
    },
    outputs: {
      type: 'array',
      maxItems: kMaxTensorsPerRequest,
      items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, parameters: kParametersSchema } },
    },
  },
} as const;

export const kInferResponseSchema = {
  type: 'object',
  properties: {
    model_name: { type: 'string' },
    model_version: { type: 'string' },
    id: { type: 'string' },
    outputs: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          datatype: { type: 'string' },
          shape: { type: 'array', items: { type: 'integer' } },
          parameters: kParametersSchema,
          // Numbers; strings for the BYTES output `model`.
          data: { type: 'array', items: { type: ['number', 'string'] } },
        },
      },
    },
  },
} as const;

/** Statistics are open-ended JSON (Triton's layout plus the cascade section). */
export const kStatsSchema = {
  type: 'object',
  properties: { model_stats: { type: 'array', items: { type: 'object', additionalProperties: true } } },
} as const;

export const kErrorResponses = { '4xx': kErrorSchema, '5xx': kErrorSchema } as const;
