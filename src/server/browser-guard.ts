/**
 * What a web page may make a browser do to this service. The service trusts whoever can reach
 * it (in open mode, every caller is tenant `default` with every scope), and a developer's
 * browser can reach a loopback service from any page it visits. So, on every transport:
 *
 * - Host: a page that rebinds its own DNS name to 127.0.0.1 talks to this service as "its own
 *   origin", and only the Host header tells. A Host that is an IP address or `localhost` cannot
 *   be rebound and is always served; another name must be listed in ALLOWED_HOSTS. When the
 *   service listens on a non-loopback address and ALLOWED_HOSTS is unset, Host is not checked:
 *   such a deployment sits behind a proxy whose public name we do not know, and it needs keys
 *   (open mode there takes ALLOW_OPEN=1, and main.ts warns).
 * - Origin: a request from another page's origin is refused, unless that origin is listed in
 *   CORS_ORIGINS (which also opens CORS to it, without credentials: keys travel in the
 *   Authorization header, never in cookies). A request without Origin is not from a browser page
 *   (or is a same-origin GET): it is served. So is the service's own origin (GraphiQL, the
 *   dashboard). The same rule holds for WebSocket upgrades, which browsers never preflight.
 * - Content type: POST /graphql takes `application/json` only, so that a page cannot send a
 *   "simple" cross-site request (a form post, text/plain) that skips the CORS preflight.
 *
 * The checks are pure functions; `guardHttp` and `guardUpgrade` apply them to Node's requests.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { ErrorCode } from '../errors.ts';

export interface BrowserPolicyConfig {
  /** Origins (`scheme://host[:port]`) whose pages may call the API, with CORS. Empty: none. */
  corsOrigins: readonly string[];
  /** Host names served besides IP addresses and `localhost`; `*`: any. null: the default for the listen address. */
  allowedHosts: readonly string[] | null;
}

export interface Refusal {
  status: number;
  code: Extract<ErrorCode, 'HOST_NOT_ALLOWED' | 'ORIGIN_NOT_ALLOWED' | 'UNSUPPORTED_MEDIA_TYPE'>;
  message: string;
}

export interface BrowserPolicy {
  /** The refusal of a request with these headers, or null when it may go on. */
  check(request: {
    method: string;
    path: string;
    host: string | undefined;
    origin: string | undefined;
    contentType: string | undefined;
  }): Refusal | null;
  /** Whether CORS answers may name this origin. */
  corsAllows(origin: string | null): boolean;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** `host[:port]` → the lower-case host name (IPv6 in brackets), or null when it does not parse. */
export function hostNameOf(hostHeader: string): string | null {
  try {
    const url = new URL(`http://${hostHeader}`);
    // A Host header is an authority and nothing else.
    if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return null;
    return url.hostname.toLowerCase();
  } catch {
    return null;
  }
}

/** An IP literal (a page's own origin when it uses one) or localhost: no DNS name to rebind. */
function cannotBeRebound(hostName: string): boolean {
  const bare = hostName.startsWith('[') ? hostName.slice(1, -1) : hostName;
  return isIP(bare) !== 0 || hostName === 'localhost';
}

const GRAPHQL_CONTENT_TYPE = 'application/json';

export function createBrowserPolicy(config: BrowserPolicyConfig, listenHost: string, graphqlPath: string): BrowserPolicy {
  const corsOrigins = new Set(config.corsOrigins);
  // Behind a proxy the public name is unknown: only a loopback service checks Host by default.
  const allowedHosts = config.allowedHosts ?? (isLoopbackHost(listenHost) ? [listenHost] : ['*']);
  const anyHost = allowedHosts.includes('*');
  const namedHosts = new Set(allowedHosts.map((host) => host.toLowerCase()));

  function hostAllowed(hostHeader: string | undefined): boolean {
    if (anyHost) return true;
    const name = hostHeader ? hostNameOf(hostHeader) : null;
    return name !== null && (cannotBeRebound(name) || namedHosts.has(name));
  }

  /** The page's origin is this service's own: its authority is the Host the request was sent to. */
  function sameOrigin(origin: string, hostHeader: string | undefined): boolean {
    try {
      return hostHeader !== undefined && new URL(origin).host === new URL(`http://${hostHeader}`).host;
    } catch {
      return false;
    }
  }

  return {
    check({ method, path, host, origin, contentType }) {
      if (!hostAllowed(host)) {
        return {
          status: 403,
          code: 'HOST_NOT_ALLOWED',
          message: `this service does not answer to the Host ${JSON.stringify(host ?? '')}; list the name in ALLOWED_HOSTS to serve it`,
        };
      }
      if (origin !== undefined && !corsOrigins.has(origin) && !sameOrigin(origin, host)) {
        return {
          status: 403,
          code: 'ORIGIN_NOT_ALLOWED',
          message: `pages of the origin ${JSON.stringify(origin)} may not call this service; list it in CORS_ORIGINS to allow it`,
        };
      }
      if (method === 'POST' && path === graphqlPath) {
        const mediaType = contentType?.split(';')[0]!.trim().toLowerCase();
        if (mediaType !== GRAPHQL_CONTENT_TYPE) {
          return {
            status: 415,
            code: 'UNSUPPORTED_MEDIA_TYPE',
            message: `POST ${graphqlPath} takes Content-Type: application/json only, not ${JSON.stringify(contentType ?? '')}`,
          };
        }
      }
      return null;
    },
    corsAllows: (origin) => origin !== null && corsOrigins.has(origin),
  };
}

export function refusalBody(refusal: Refusal): string {
  return JSON.stringify({ errors: [{ message: refusal.message, extensions: { code: refusal.code } }] });
}

function headerOf(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function checkIncoming(policy: BrowserPolicy, request: IncomingMessage): Refusal | null {
  return policy.check({
    method: request.method ?? 'GET',
    path: (request.url ?? '/').split('?')[0]!,
    host: request.headers.host,
    origin: headerOf(request, 'origin'),
    contentType: headerOf(request, 'content-type'),
  });
}

/** The HTTP handler behind the policy: a refused request never reaches `handler`. */
export function guardHttp(policy: BrowserPolicy, handler: RequestListener): RequestListener {
  return (request: IncomingMessage, response: ServerResponse) => {
    const refusal = checkIncoming(policy, request);
    if (!refusal) return handler(request, response);
    // The body is not read: close the connection rather than leave it half-read.
    response.writeHead(refusal.status, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
    response.end(refusalBody(refusal));
  };
}

/** A WebSocket upgrade's refusal (Host and Origin; an upgrade is a GET), or null. */
export function checkUpgrade(policy: BrowserPolicy, request: IncomingMessage): Refusal | null {
  return checkIncoming(policy, request);
}
