/**
 * The daemon's HTTP face (`cit-node start --http ADDR`, `http.listen`): server-rendered pages,
 * the API under `/api/v1/` (its OpenAPI document at `/api/openapi.json`), websockets for live
 * output and `/metrics`. It calls into the daemon only through `ControlHandlers`.
 *
 * Adding routes (webhooks, say): write an `HttpModule` (`context.ts`) and pass it in
 * `HttpFaceInit.modules`. It gets the shared error replies (`{code, message}` with the status of
 * `HTTP_STATUS_BY_CODE`), the body limit (`MAX_BODY_BYTES`; set a route's own `bodyLimit`, or a
 * raw content-type parser in the module's scope, to check a signature before parsing), bearer
 * tokens (`ctx.auth.require(role)`), metrics and links (`ctx.links.job(id, {absolute: true})`
 * for a `target_url` under `http.publicUrl`). The same modules could serve the control socket
 * too: give `buildHttpApp` another listener (a Unix socket path) and an Auth that trusts it.
 */
export { HttpFace, DEFAULT_MODULES } from './face.js'
export type { HttpFaceComponents, HttpFaceInit } from './face.js'
export { buildHttpApp, MAX_BODY_BYTES } from './app.js'
export { Auth, allows, isLoopbackAddress } from './auth.js'
export { Links } from './context.js'
export type { HttpContext, HttpModule } from './context.js'
export { HttpError, HTTP_STATUS_BY_CODE, classify } from './errors.js'
export type { HttpErrorBody } from './errors.js'
export { DEFAULT_HTTP_LISTEN, parseHostPort, validateHttpConfig } from './config.js'
export type { HttpConfig } from './config.js'
export { TokenStore, TOKEN_ROLES } from './tokens.js'
export type { TokenRole, TokenView } from './tokens.js'
export { HttpMetrics } from './metrics.js'
