/**
 * Resumable SSE: every `next` event whose payload is an edge with a cursor carries that cursor
 * as its SSE event id, so a browser's EventSource (or any client) that reconnects sends it back
 * as Last-Event-ID, and the events subscription resumes right after it (see live-events.ts).
 *
 * graphql-yoga writes the SSE frames itself; this plugin rewrites its stream frame by frame.
 */
import type { Plugin } from 'graphql-yoga';

/** The single root field's `cursor`, e.g. `{ data: { events: { cursor } } }`, or null. */
export function edgeCursorOf(payload: unknown): string | null {
  const data = (payload as { data?: unknown } | null)?.data;
  if (typeof data !== 'object' || data === null) return null;
  const roots = Object.values(data);
  if (roots.length !== 1) return null;
  const cursor = (roots[0] as { cursor?: unknown } | null)?.cursor;
  return typeof cursor === 'string' ? cursor : null;
}

/**
 * Adds `id:` lines to complete `event: next` frames; everything else passes through as is.
 * The source is cancelled when the client goes away (`disconnected`): that is what ends the
 * subscription on the server, and the HTTP adapter only does it for the response it built.
 */
export function withEventIds(body: ReadableStream<Uint8Array>, disconnected: AbortSignal): ReadableStream<Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const reader = body.getReader();
  disconnected.addEventListener('abort', () => void reader.cancel(disconnected.reason).catch(() => {}), { once: true });
  let pending = '';
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) {
        if (pending) controller.enqueue(encoder.encode(pending));
        controller.close();
        return;
      }
      pending += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = pending.indexOf('\n\n')) >= 0) {
        const frame = pending.slice(0, end + 2);
        pending = pending.slice(end + 2);
        controller.enqueue(encoder.encode(addEventId(frame)));
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

function addEventId(frame: string): string {
  const prefix = 'event: next\ndata: ';
  if (!frame.startsWith(prefix)) return frame;
  try {
    const cursor = edgeCursorOf(JSON.parse(frame.slice(prefix.length, -2)));
    // A cursor is base64url, so it cannot break the frame; anything else is left without an id.
    return cursor && /^[A-Za-z0-9_-]+$/.test(cursor) ? `id: ${cursor}\n${frame}` : frame;
  } catch {
    return frame;
  }
}

export function useSseEventIds(): Plugin {
  return {
    onResponse({ request, response, setResponse }) {
      if (!response.body || !response.headers.get('content-type')?.startsWith('text/event-stream')) return;
      setResponse(new Response(withEventIds(response.body, request.signal), { status: response.status, headers: response.headers }));
    },
  };
}
