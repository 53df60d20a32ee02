// Server-Sent Events over fetch rather than EventSource, because catching up after a
// reconnection needs the Last-Event-ID header on a request whose URL (a fresh single-use
// ticket) differs from the last one's, which EventSource cannot send.
import { signal } from "@preact/signals";
import { api, authHeader, unwrap } from "./api";

export interface StreamEvent {
  id: string | null;
  event: string;
  data: unknown;
}

export type StreamState = "connecting" | "live" | "offline";

/** Whether the player's own stream is up, for the banner that says when it is not. */
export const connection = signal<StreamState>("offline");

interface Options {
  /** Where to connect: a function, since a player's stream needs a new ticket each time. */
  url: () => Promise<string>;
  onEvent: (event: StreamEvent) => void;
  onState?: (state: StreamState) => void;
}

/** Parse SSE frames out of a text stream (https://html.spec.whatwg.org/#event-stream-interpretation). */
async function* frames(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamEvent | { retry: number }> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let id: string | null = null;
  let event = "message";
  let data: string[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let newline: number;
    while ((newline = buffer.search(/\r?\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer[newline] === "\r" ? 2 : 1));
      if (line === "") {
        if (data.length > 0) {
          const text = data.join("\n");
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          yield { id, event, data: parsed };
        }
        event = "message";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const content = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = content;
      else if (field === "event") event = content;
      else if (field === "data") data.push(content);
      else if (field === "retry" && /^\d+$/.test(content)) yield { retry: Number(content) };
    }
  }
}

/** Keep a stream open until the returned function is called, reconnecting with
 * Last-Event-ID so that nothing sent meanwhile is missed. A connection is given up when the
 * browser goes offline or when the server's heartbeats stop (a dead network can leave a
 * socket open for minutes); it comes back at once when the browser is online again. */
export function openStream({ url, onEvent, onState }: Options): () => void {
  const stopped = new AbortController();
  let lastEventId: string | null = null;
  let retryMs = 1000;
  let connection: AbortController | null = null;
  let wake: (() => void) | null = null;
  const setState = (state: StreamState) => onState?.(state);
  const dropConnection = () => connection?.abort();
  const reconnectNow = () => wake?.();
  addEventListener("offline", dropConnection);
  addEventListener("online", reconnectNow);

  (async () => {
    while (!stopped.signal.aborted) {
      setState("connecting");
      connection = new AbortController();
      const current = connection;
      const onStop = () => current.abort();
      stopped.signal.addEventListener("abort", onStop);
      let silence: ReturnType<typeof setTimeout> | undefined;
      let silenceMs = 60_000;
      const expectFrame = () => {
        clearTimeout(silence);
        silence = setTimeout(() => current.abort(), silenceMs);
      };
      try {
        if (!navigator.onLine) throw new Error("offline");
        const headers: Record<string, string> = { Accept: "text/event-stream" };
        if (lastEventId) headers["Last-Event-ID"] = lastEventId;
        const response = await fetch(await url(), { headers, signal: current.signal });
        if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
        setState("live");
        expectFrame();
        for await (const frame of frames(response.body)) {
          if ("retry" in frame) {
            retryMs = frame.retry;
            continue;
          }
          if (frame.event === "connected") {
            const beat = (frame.data as { heartbeat_seconds?: number }).heartbeat_seconds;
            if (typeof beat === "number") silenceMs = beat * 2500;
          }
          expectFrame();
          if (frame.id) lastEventId = frame.id;
          onEvent(frame);
        }
      } catch {
        // a dropped connection, an offline browser or a refused ticket: try again below
      } finally {
        clearTimeout(silence);
        stopped.signal.removeEventListener("abort", onStop);
      }
      if (stopped.signal.aborted) break;
      setState("offline");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, navigator.onLine ? retryMs : 3_600_000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  })();
  return () => {
    removeEventListener("offline", dropConnection);
    removeEventListener("online", reconnectNow);
    stopped.abort();
  };
}

/** The player's own stream, opened with a fresh single-use ticket on every connection. */
export function openPlayerStream(onEvent: (event: StreamEvent) => void): () => void {
  return openStream({
    url: async () => {
      const { ticket } = await unwrap(api.POST("/events/ticket", { headers: authHeader() }));
      return `/events?ticket=${encodeURIComponent(ticket)}`;
    },
    onEvent,
    onState: (state) => {
      connection.value = state;
    },
  });
}

/** Anyone's view of one roulette room. */
export function openRoomStream(roomId: number, onEvent: (event: StreamEvent) => void, onState?: (s: StreamState) => void): () => void {
  return openStream({ url: async () => `/games/roulette/${roomId}/events`, onEvent, onState });
}
