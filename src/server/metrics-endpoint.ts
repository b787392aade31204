/**
 * GET /metrics: the Prometheus text exposition of the app's registry, as a yoga plugin so it
 * shares the server (and its request ids) with /graphql, /health and /ready.
 *
 * Open like /health and /ready: the metrics carry no tenant and no event data (see
 * observability/metrics.ts); restrict the path at the proxy if even counts are sensitive.
 */
import type { Plugin } from 'graphql-yoga';
import type { Registry } from 'prom-client';

export const METRICS_PATH = '/metrics';

export function useMetricsEndpoint(registry: Registry): Plugin {
  return {
    async onRequest({ url, request, fetchAPI, endResponse }) {
      if (url.pathname !== METRICS_PATH) return;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return endResponse(new fetchAPI.Response('Method Not Allowed', { status: 405, headers: { allow: 'GET, HEAD' } }));
      }
      const body = await registry.metrics();
      endResponse(
        new fetchAPI.Response(request.method === 'HEAD' ? null : body, {
          status: 200,
          headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' },
        }),
      );
    },
  };
}
