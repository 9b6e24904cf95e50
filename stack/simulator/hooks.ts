/**
 * Simulated automation catch hooks (a Zapier or Make webhook trigger, where vendors of CRMs without an API
 * receive the CRM sync's webhooks): any `POST /hooks/<path>` is accepted with Zapier's answer and kept with
 * its headers and exact body, so tests verify signatures as a receiver would. Faults come from the shared
 * layer (`POST /_sim/faults` with `provider: "hooks"`).
 */
import type { FaultRule, Provider, ProviderRequest, ProviderResponse } from "./state.ts";

/** One received webhook. */
export type ReceivedHook = { seq: number; path: string; headers: Record<string, string>; raw_body: string };

class HooksSimulator implements Provider {
  readonly name = "hooks";
  #received: ReceivedHook[] = [];

  handle(req: ProviderRequest): Promise<ProviderResponse> {
    if (req.method !== "POST") return Promise.resolve({ status: 405, body: { status: "error" } });
    this.#received.push({ seq: req.record.seq, path: req.path, headers: req.headers, raw_body: req.rawBody });
    return Promise.resolve({
      status: 200,
      body: { status: "success", attempt: crypto.randomUUID(), request_id: crypto.randomUUID() },
    });
  }

  faultResponse(rule: FaultRule): ProviderResponse {
    const headers: Record<string, string> = {};
    if (rule.retry_after_s !== null) headers["retry-after"] = String(rule.retry_after_s);
    return {
      status: rule.status,
      headers,
      body: { status: "error", message: rule.message ?? "simulated failure" },
    };
  }

  configure(): void {}

  describeConfig(): Record<string, unknown> {
    return {};
  }

  /** `GET /_sim/hooks/received?path=/<path>`: what a hook received, oldest first. */
  control(method: string, path: string, query: URLSearchParams): Promise<ProviderResponse | undefined> {
    if (path !== "/received" || method !== "GET") return Promise.resolve(undefined);
    const only = query.get("path");
    return Promise.resolve({
      status: 200,
      body: this.#received.filter((h) => only === null || h.path === only),
    });
  }

  stats(): Record<string, number> {
    return { received: this.#received.length };
  }

  reset(): void {
    this.#received = [];
  }
}

/** Creates the catch hooks, served under `/hooks`. */
export function createHooksProvider(): Provider {
  return new HooksSimulator();
}
