/**
 * The base URL of an HTTP server at `host:port`, IPv6 bracketed: the one place this is written. Plain, with
 * no Effect in it, so that a program that must start fast (the pod's `miroir leave`) can use it without
 * loading Effect.
 */

/** `http://10.0.0.2:7700`, `http://[fd00::1]:7700`, `http://127.0.0.1:7701`. */
export const baseUrl = (host: string, port: number): string =>
  `http://${host.includes(":") ? `[${host}]` : host}:${port}`
