/** The dashboard: its request handler, the snapshot it shows, and the token check it shares with the proxy. */
export { createDashboard, koaDashboard, type DashboardHandler, type DashboardOptions, type DashboardSource, type KoaDashboardContext, type KoaDashboardMiddleware } from './handler.js'
export { mergeSnapshots, snapshotOf, type DashboardSnapshot } from './snapshot.js'
export { bearerMatches, purgeDenied, purgeRequest, PURGE_SHAPE } from './auth.js'
