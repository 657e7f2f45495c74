// The model repository extension over REST (Triton's paths): POST /v2/repository/index lists
// the models and their states; POST /v2/repository/models/{name}/load (re)loads a model set
// from its plan and answers once the new set serves, or with the reason it could not (the old
// set keeps serving); POST .../unload stops serving it once it has answered what it took.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { badRequest } from '../errors.js';
import type { RepositoryControl } from '../repository.js';
import { kErrorResponses } from '../schemas.js';

type Params = { name: string };
const kNameParams = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } as const;

export const repositoryRoutes: FastifyPluginAsync<{ repository: RepositoryControl }> = async (app, { repository }) => {
  // Triton's clients send an empty body or a JSON object: both are accepted, any content type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req: FastifyRequest, body: string, done: (err: Error | null, body?: unknown) => void) => {
    if (body.trim() === '') return done(null, {});
    try {
      const value: unknown = JSON.parse(body);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return done(badRequest('request body: expected a JSON object'));
      done(null, value);
    } catch (e) {
      done(badRequest(`request body is not valid JSON: ${(e as Error).message.slice(0, 120)}`));
    }
  });

  app.post<{ Body: { ready?: unknown } | undefined }>('/v2/repository/index', { schema: { response: kErrorResponses } }, async (req) => {
    const ready = req.body?.ready;
    if (ready !== undefined && typeof ready !== 'boolean') throw badRequest('ready: expected a boolean');
    return repository.index(ready === true);
  });
  app.post<{ Params: Params }>('/v2/repository/models/:name/load', { schema: { params: kNameParams, response: kErrorResponses } }, async (req) => {
    await repository.load(req.params.name);
    return {};
  });
  app.post<{ Params: Params }>('/v2/repository/models/:name/unload', { schema: { params: kNameParams, response: kErrorResponses } }, async (req) => {
    await repository.unload(req.params.name);
    return {};
  });
};
