/** The operators' console: a Fastify plugin, the view it renders, and its sign-in session. This file only exports. */
export { consoleRoutes, CONSOLE_CSP, type ConsoleOptions } from './routes.ts';
export { consoleForApi, type MountedConsole } from './mount.ts';
export { consoleViewOf, ProgressClock, type ConsoleView, type ConsoleViewOptions, type ConsoleActions, type ActionName, type ActionRequest, type JobView, type JobDetailView, type ProgressView, type AuditView, type GovernanceView } from './view.ts';
export { verifyConsoleSession, issueConsoleSession, readConsoleSession, SESSION_COOKIE } from './session.ts';
export { localeOf, LOCALES, type Locale } from './i18n.ts';
