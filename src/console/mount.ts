/**
 * (Any party's service) What the HTTPS API server needs to serve the console beside the
 * API: the plugin to register before the API's routes, and the session cookie as a second
 * credential for the /v1 routes, so a signed-in browser can call the API as well.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PartyService } from '../service/party-service.ts';
import { consoleRoutes } from './routes.ts';
import { parseCookies, SESSION_COOKIE, verifyConsoleSession } from './session.ts';
import { consoleViewOf, type ConsoleViewOptions } from './view.ts';

export interface MountedConsole {
  /** For startApi's `beforeRoutes`. */
  readonly beforeRoutes: (app: FastifyInstance) => Promise<void>;
  /** For startApi's `authenticate`: a live console session cookie. */
  readonly authenticate: (request: FastifyRequest) => boolean;
  /** Stops the view's progress sampling. */
  close(): void;
}

export function consoleForApi(service: PartyService, token: string, options: ConsoleViewOptions = {}): MountedConsole {
  const view = consoleViewOf(service, options);
  return {
    beforeRoutes: (app) => consoleRoutes(app, { view, token }),
    authenticate: (request) => verifyConsoleSession(parseCookies(request.headers.cookie).get(SESSION_COOKIE) ?? '', token),
    close: () => view.close(),
  };
}
