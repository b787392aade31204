/**
 * Serves the live dashboard page at /dashboard (a yoga plugin, so it shares the server's
 * request pipeline). Placeholder until the dashboard exists: it answers nothing.
 */
import type { Plugin } from 'graphql-yoga';

export function useDashboard(): Plugin {
  return {};
}
