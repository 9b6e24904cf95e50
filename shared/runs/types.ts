// The module run and the outcomes a module reports for it (mirrors public.module_runs and record_outcomes).

/** The seven module types (public.module_type). */
export const MODULE_TYPES = ["email", "sms", "form", "meeting", "info", "review", "referral"] as const;
/** One module type. */
export type ModuleType = typeof MODULE_TYPES[number];
/** What the pipeline runs: the module types' steps, and the CRM sync (`crm`, not a journey step). */
export type RunType = ModuleType | "crm";

/** A claimed row of public.module_runs. */
export type ModuleRun = {
  id: number;
  supplier_id: string;
  /** Null for crm runs, which sync an event rather than run a step. */
  journey_instance_id: string | null;
  /** Null for crm runs and a module's own jobs (timeline syncs, booking follow-ups): they never advance a journey. */
  step_id: string | null;
  module_type: RunType;
  status: string;
  run_at: Date;
  attempts: number;
  max_attempts: number;
  idempotency_key: string;
  /** Its place in the fair order between suppliers (claim_runs): run_at plus its fair offset. */
  fair_at?: Date;
};

/** A stored run error: a stable code and a reason for a person; never secrets or message bodies. */
export type RunError = {
  code: string;
  message: string;
  provider?: string;
  http_status?: number;
  /** A held run: the disconnected integration(s) it waits for (release_held_runs). */
  integration_id?: string;
  integration_ids?: string[];
};

/** One provider call, for the integration_calls audit. */
export type IntegrationCall = {
  provider: string;
  operation: string;
  http_status: number | null;
  duration_ms: number;
  error_code: string | null;
};

/** What happened to a run in one attempt. */
export type Outcome =
  | {
    /**
     * `waiting`: the run did its part (e.g. sent a booking link or a form) and waits for an outside event
     * (a booking, a submission) until `wake_at` (a reminder, a follow-up, a deadline; none: only the event).
     */
    kind: "succeeded" | "waiting";
    wake_at?: Date;
    provider: string;
    provider_message_id?: string;
    channel?: "email" | "sms" | "whatsapp";
    recipient?: string;
    result?: Record<string, unknown>;
  }
  | { kind: "skipped"; error: RunError }
  | { kind: "deferred"; defer_until: Date; error?: RunError; result?: Record<string, unknown> }
  /** The integration it needs is disconnected and there is no other route: keeps its place, no attempt used. */
  | { kind: "held"; error: RunError }
  | { kind: "transient"; error: RunError; retry_after_s?: number }
  | { kind: "permanent"; error: RunError }
  /** `provider` pins the run to the provider that may have acted on it (the next attempt goes there only). */
  | { kind: "unknown"; error: RunError; replay_safe: boolean; provider?: string };

/** An outcome with the provider calls made on the way. */
export type Attempt = { outcome: Outcome; calls: IntegrationCall[] };

/** The attempt of an outcome, with the provider calls made on the way. */
export const done = (outcome: Outcome, calls: IntegrationCall[] = []): Attempt => ({ outcome, calls });

/** Executes the runs of one module type. */
export interface ModuleExecutor {
  /**
   * Loads what a claimed batch needs (one query for the whole batch) and returns the function that
   * executes one run of it. It must not throw for a single bad run: that run's attempt says why.
   */
  prepare(runs: ModuleRun[]): Promise<(run: ModuleRun) => Promise<Attempt>>;
}
