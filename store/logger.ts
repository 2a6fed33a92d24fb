/**
 * The logging seam shared by every layer. Only node/ builds concrete loggers;
 * store/ and protocols/ receive one through their components.
 */
export interface Logger {
  debug: (msg: string, fields?: Record<string, unknown>) => void
  info: (msg: string, fields?: Record<string, unknown>) => void
  warn: (msg: string, fields?: Record<string, unknown>) => void
  error: (msg: string, fields?: Record<string, unknown>) => void
}

/** A logger that drops everything (tests and library use without a daemon). */
export const silentLogger: Logger = {
  debug () {},
  info () {},
  warn () {},
  error () {}
}
