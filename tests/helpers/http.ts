// A throwaway HTTP server for adapter tests: answers with `respond` and records what it was sent.
/** One request the server received. */
export type Seen = { path: string; headers: Headers; body: string };

/** Serves `respond` on an ephemeral port for the duration of `fn`, recording requests. */
export async function withServer(
  respond: (req: Request) => Response | Promise<Response>,
  fn: (baseUrl: string, seen: Seen[]) => Promise<void>,
): Promise<void> {
  const seen: Seen[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", signal: ac.signal, onListen: () => {} },
    async (req) => {
      seen.push({
        path: new URL(req.url).pathname,
        headers: new Headers(req.headers),
        body: await req.text(),
      });
      return respond(req);
    },
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, seen);
  } finally {
    ac.abort();
    await server.finished;
  }
}
