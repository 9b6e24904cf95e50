// Tave / VSCO Workspace adapter: the New Lead API (studio id + secret key) creates leads; the public API
// v2 (X-API-KEY) finds contacts by email, reads and updates contacts and jobs, and adds notes.
import type { IntegrationCall } from "../../runs/types.ts";
import { answerFailure, callProvider, type ProviderFailure } from "../http.ts";

/** Where and as whom to call Tave. */
export type TaveAccount = {
  studioId: string;
  secretKey: string;
  apiKey: string;
  /** New Lead API host, e.g. `https://tave.app`. */
  leadBaseUrl: string;
  /** API v2 base, e.g. `https://workspace.vsco.co/api/v2`. */
  apiBaseUrl: string;
  timeoutMs: number;
  fetch?: typeof fetch;
};

/** A Tave call's value, or the classified failure that ended the sync. */
export type TaveResult<T> = { ok: true; value: T } | ProviderFailure;

// Read-only properties of the v2 schemas (OpenAPI `readOnly`): never written back on a PUT.
const READ_ONLY = new Set([
  "links",
  "id",
  "created",
  "modified",
  "hidden",
  "name",
  "accountBalance",
  "creditBalance",
  "anonymized",
  "totalCost",
  "totalRevenue",
  "totalProfit",
  "customNumber",
  "notes",
  "closedReasonName",
  "jobTypeName",
  "lastClientActivity",
  "leadSourceName",
  "leadStatusName",
  "leadStatusChangedAt",
  "nextInteractionDate",
  "nextInteractionItem",
  "primarySessionId",
  "previousInteractionDate",
  "previousInteractionItem",
  "sample",
  "staleDate",
  "title",
  "workflowName",
]);

/** Tave's error envelope (`{type, title, detail, status}`): the title and the names of invalid fields. */
function describe(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const b = body as { title?: unknown; detail?: unknown; Status?: unknown; Message?: unknown };
  if (typeof b.Message === "string") return b.Message;
  const fields = typeof b.detail === "object" && b.detail !== null ? Object.keys(b.detail).join(", ") : "";
  const title = typeof b.title === "string" ? b.title : "";
  return [title, fields && `fields ${fields}`].filter(Boolean).join(": ") || undefined;
}

type Collection = { items?: Record<string, unknown>[] };

/**
 * A Tave client for one sync: every call is recorded in `calls` for the integration_calls audit.
 * Tave has no idempotency keys: creations (leads, notes) are preceded by a look-up, and a lost answer to
 * one is an unknown outcome.
 */
export class TaveClient {
  /** Every call made, in order. */
  readonly calls: IntegrationCall[] = [];

  constructor(private readonly account: TaveAccount) {}

  async #call(
    operation: string,
    method: "GET" | "POST" | "PUT",
    url: string,
    body?: unknown,
    auth: "api_key" | "none" = "api_key",
  ): Promise<{ ok: true; status: number; value: unknown } | ProviderFailure> {
    const result = await callProvider({
      provider: "tave",
      operation,
      method,
      url,
      headers: auth === "api_key" ? { "x-api-key": this.account.apiKey } : {},
      body,
      timeoutMs: this.account.timeoutMs,
      idempotent: method !== "POST",
      fetch: this.account.fetch,
      describeError: (status, body) => {
        const reason = describe(body);
        return {
          code: `http_${status}`,
          message: `${operation}: tave answered ${status}${reason ? `: ${reason.slice(0, 300)}` : ""}`,
        };
      },
    });
    this.calls.push(result.call);
    return result.ok ? { ok: true, status: result.status, value: result.body } : result;
  }

  #api(path: string, query: Record<string, string> = {}): string {
    const url = new URL(`${this.account.apiBaseUrl.replace(/\/$/, "")}${path}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url.toString();
  }

  /**
   * Creates a lead (a contact and a job) through the New Lead API. `fields` are New Lead field names
   * (`FirstName`, `JobType`, `EventDate`, `CF-<id>` ...). Returns Tave's job id.
   */
  async createLead(fields: Record<string, string>): Promise<TaveResult<string>> {
    const url = `${this.account.leadBaseUrl.replace(/\/$/, "")}/webservice/create-lead/${
      encodeURIComponent(this.account.studioId)
    }`;
    const result = await this.#call(
      "lead.create",
      "POST",
      url,
      { SecretKey: this.account.secretKey, ...fields },
      "none",
    );
    if (!result.ok) return result;
    const body = result.value as { Status?: unknown; JobID?: unknown; Message?: unknown };
    if (String(body?.Status ?? "").toLowerCase() !== "success" || body.JobID === undefined) {
      return answerFailure(
        { status: result.status, call: this.calls[this.calls.length - 1] },
        "permanent",
        "lead_refused",
        `lead.create: Tave did not accept the lead: ${describe(body) ?? "no Success status"}`,
      );
    }
    return { ok: true, value: String(body.JobID) };
  }

  /** The person in the address book with exactly this email (case-insensitive), or null. */
  async findContactByEmail(email: string): Promise<TaveResult<string | null>> {
    const result = await this.#call(
      "contact.find",
      "GET",
      this.#api("/address-book", { email, pageSize: "10" }),
    );
    if (!result.ok) return result;
    const wanted = email.toLowerCase();
    const match = ((result.value as Collection).items ?? []).find((c) =>
      c.kind === "person" && typeof c.email === "string" && c.email.toLowerCase() === wanted
    );
    return { ok: true, value: typeof match?.id === "string" ? match.id : null };
  }

  /** The contact's newest job (ids are ULIDs, so the highest is the newest), or null. */
  async newestJobOf(contactId: string): Promise<TaveResult<string | null>> {
    const result = await this.#call(
      "job_contact.list",
      "GET",
      this.#api("/job-contact", { contactId, sortBy: "id desc", pageSize: "10" }),
    );
    if (!result.ok) return result;
    const jobId = (result.value as Collection).items?.[0]?.jobId;
    return { ok: true, value: typeof jobId === "string" ? jobId : null };
  }

  /** Changes some fields of a record: PUT replaces it, so the current one is read and merged. */
  async #merge(
    kind: "job" | "contact",
    path: string,
    patch: Record<string, unknown>,
  ): Promise<TaveResult<void>> {
    const current = await this.#call(`${kind}.get`, "GET", this.#api(path));
    if (!current.ok) return current;
    const writable: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(current.value as Record<string, unknown>)) {
      if (!READ_ONLY.has(k)) writable[k] = v;
    }
    const updated = await this.#call(`${kind}.update`, "PUT", this.#api(path), { ...writable, ...patch });
    return updated.ok ? { ok: true, value: undefined } : updated;
  }

  /** Updates fields of a job (v2 names: `stage`, `eventDate`, `bookingDate`). */
  updateJob(jobId: string, patch: Record<string, unknown>): Promise<TaveResult<void>> {
    return this.#merge("job", `/job/${encodeURIComponent(jobId)}`, patch);
  }

  /** Updates fields of a contact (v2 names: `firstName`, `email`, `cellPhone` ...). */
  updateContact(contactId: string, patch: Record<string, unknown>): Promise<TaveResult<void>> {
    return this.#merge("contact", `/address-book/${encodeURIComponent(contactId)}`, patch);
  }

  /**
   * Adds a note to a job unless one carrying `marker` is already there (a retry after a lost answer
   * must not add it twice). Returns false when it was already there.
   */
  async addNote(jobId: string, html: string, marker: string): Promise<TaveResult<boolean>> {
    const existing = await this.#call(
      "note.list",
      "GET",
      this.#api("/note", { jobId, sortBy: "id desc", pageSize: "100" }),
    );
    if (!existing.ok) return existing;
    const items = (existing.value as Collection).items ?? [];
    if (items.some((n) => typeof n.contentHtml === "string" && n.contentHtml.includes(marker))) {
      return { ok: true, value: false };
    }
    const created = await this.#call("note.create", "POST", this.#api("/note"), {
      jobId,
      contentHtml: `${html}<!-- ${marker} -->`,
    });
    return created.ok ? { ok: true, value: true } : created;
  }
}
