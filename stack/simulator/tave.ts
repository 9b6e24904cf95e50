/**
 * The simulated Tave / VSCO Workspace: the New Lead API (`POST /webservice/create-lead/{studioId}` with
 * SecretKey, FirstName and JobType required) and the subset of the public API v2 the CRM sync uses
 * (`/api/v2`: address-book, job, job-contact, note; X-API-KEY; page/pageSize 10–100; 429 quota-limit
 * with Retry-After; validation-error envelopes). Studios are registered through `POST /_sim/config`.
 */
import {
  ControlError,
  type FaultRule,
  optionalNumber,
  optionalString,
  type Provider,
  type ProviderRequest,
  type ProviderResponse,
  type SimState,
} from "./state.ts";

const NAME = "tave";
const RATE_WINDOW_MS = 1000;
const STAGES = new Set(["lead", "booked", "fulfillment", "completed"]);
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

type Rec = Record<string, unknown> & { id: string };
type Studio = {
  studioId: string;
  secretKey: string;
  apiKey: string;
  rateLimit: number | null;
  window: { start: number; count: number };
  contacts: Map<string, Rec>;
  jobs: Map<string, Rec>;
  jobContacts: Rec[];
  notes: Rec[];
  leads: Record<string, unknown>[];
};

const ULID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
let lastUlidMs = 0;
let ulidSeq = 0;

/** A lowercase ULID (time-ordered, as VSCO Workspace ids are); strictly increasing within this process. */
function ulid(now = Date.now()): string {
  ulidSeq = now === lastUlidMs ? ulidSeq + 1 : 0;
  lastUlidMs = now;
  let time = "";
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = ULID_ALPHABET[t % 32] + time;
  let seq = "";
  for (let s = ulidSeq, i = 0; i < 4; i++, s = Math.floor(s / 32)) seq = ULID_ALPHABET[s % 32] + seq;
  const random = crypto.getRandomValues(new Uint8Array(12));
  return time + seq + Array.from(random, (b) => ULID_ALPHABET[b % 32]).join("");
}

function problem(
  status: number,
  type: string,
  title: string,
  detail?: unknown,
  headers?: Record<string, string>,
) {
  return { status, headers, body: { type, title, detail, status } };
}

const validation = (detail: Record<string, string>) =>
  problem(400, "validation-error", "Validation Error", detail);
const notFound = () => problem(404, "unknown", "Not Found", "The requested resource does not exist.");

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function collection(type: string, items: Rec[], query: URLSearchParams): ProviderResponse {
  const page = Number(query.get("page") ?? 1);
  const pageSize = Number(query.get("pageSize") ?? 100);
  if (!Number.isInteger(page) || page < 1) return validation({ page: "must be an integer of at least 1" });
  if (!Number.isInteger(pageSize) || pageSize < 10 || pageSize > 100) {
    return validation({ pageSize: "must be an integer from 10 to 100" });
  }
  const sort = query.get("sortBy") ?? "id";
  const sorted = [...items].sort((a, b) => a.id.localeCompare(b.id));
  if (/ desc$/.test(sort)) sorted.reverse();
  return {
    status: 200,
    body: {
      type,
      meta: {
        currentPage: page,
        totalPages: Math.max(1, Math.ceil(sorted.length / pageSize)),
        totalItems: sorted.length,
        rows: pageSize,
      },
      items: sorted.slice((page - 1) * pageSize, page * pageSize),
    },
  };
}

/** The simulated Tave; see the module comment. */
class TaveSimulator implements Provider {
  readonly name = NAME;
  #state: SimState;
  #studios = new Map<string, Studio>();
  #byKey = new Map<string, Studio>();
  #leadsCreated = 0;
  #rateLimited = 0;

  constructor(state: SimState) {
    this.#state = state;
  }

  handle(req: ProviderRequest): Promise<ProviderResponse> {
    const lead = /^\/webservice\/create-lead\/([^/]+)$/.exec(req.path);
    if (lead) {
      return Promise.resolve(
        req.method === "POST" ? this.#createLead(req, decodeURIComponent(lead[1])) : notFound(),
      );
    }
    if (!req.path.startsWith("/api/v2/")) return Promise.resolve(notFound());
    const key = req.headers["x-api-key"] ?? /^Bearer\s+(\S+)$/i.exec(req.headers["authorization"] ?? "")?.[1];
    const studio = key ? this.#byKey.get(key) : undefined;
    if (!studio) {
      return Promise.resolve(problem(401, "unknown", "Unauthorized", "A valid X-API-KEY is required."));
    }
    if (studio.rateLimit !== null) {
      const now = performance.now();
      if (now - studio.window.start >= RATE_WINDOW_MS) studio.window = { start: now, count: 0 };
      if (studio.window.count >= studio.rateLimit) {
        this.#rateLimited++;
        const retry = String(Math.max(1, Math.ceil((studio.window.start + RATE_WINDOW_MS - now) / 1000)));
        return Promise.resolve(
          problem(429, "quota-limit", "Too Many Requests", "Request quota exceeded.", {
            "retry-after": retry,
          }),
        );
      }
      studio.window.count++;
    }
    return Promise.resolve(this.#api(studio, req, req.path.slice("/api/v2".length)));
  }

  #createLead(req: ProviderRequest, studioId: string): ProviderResponse {
    const studio = this.#studios.get(studioId);
    const body = isRecord(req.body) ? req.body : {};
    if (!studio || body.SecretKey !== studio.secretKey) {
      return { status: 403, body: { Status: "Error", Message: "Invalid studio or secret key." } };
    }
    for (const field of ["FirstName", "JobType"]) {
      if (typeof body[field] !== "string" || body[field] === "") {
        return { status: 400, body: { Status: "Error", Message: `${field} is required.` } };
      }
    }
    const { SecretKey: _secret, ...fields } = body;
    studio.leads.push(fields);
    this.#leadsCreated++;
    const now = new Date(this.#state.now()).toISOString();
    const contact: Rec = {
      id: ulid(),
      kind: "person",
      created: now,
      modified: now,
      firstName: fields.FirstName,
      lastName: fields.LastName ?? null,
      email: fields.Email ?? null,
      cellPhone: fields.MobilePhone ? { e164: fields.MobilePhone } : null,
    };
    const legacyJobId = String(100000 + this.#leadsCreated);
    const job: Rec = {
      id: ulid(),
      created: now,
      modified: now,
      name: null,
      jobTypeName: fields.JobType,
      stage: "lead",
      eventDate: fields.EventDate ?? null,
      bookingDate: null,
      webLead: true,
      externalMappings: [{ id: legacyJobId, url: `https://tave.app/app/job/${legacyJobId}` }],
    };
    studio.contacts.set(contact.id, contact);
    studio.jobs.set(job.id, job);
    studio.jobContacts.push({ id: ulid(), jobId: job.id, contactId: contact.id, client: true });
    return { status: 200, body: { Status: "Success", JobID: legacyJobId } };
  }

  #api(studio: Studio, req: ProviderRequest, path: string): ProviderResponse {
    const { method, query } = req;
    const one = /^\/(address-book|job|note)\/([^/]+)$/.exec(path);
    if (path === "/studio/me" && method === "GET") {
      // The studio the API key belongs to (what connecting checks the key with).
      return {
        status: 200,
        body: { id: studio.studioId, name: `Studio ${studio.studioId}`, timezone: "America/New_York" },
      };
    }
    if (path === "/address-book" && method === "GET") {
      const email = query.get("email")?.toLowerCase();
      const items = [...studio.contacts.values()].filter((c) =>
        email === undefined || (typeof c.email === "string" && c.email.toLowerCase() === email)
      );
      return collection("addressbook-collection", items, query);
    }
    if (path === "/address-book" && method === "POST") return this.#createContact(studio, req.body);
    if (path === "/job" && method === "GET") {
      const mapping = query.get("externalMappingId");
      const items = [...studio.jobs.values()].filter((j) =>
        mapping === null || (j.externalMappings as { id: string }[] | null)?.some((m) => m.id === mapping)
      );
      return collection("job-collection", items, query);
    }
    if (path === "/job-contact" && method === "GET") {
      const contactId = query.get("contactId");
      const jobId = query.get("jobId");
      return collection(
        "jobcontact-collection",
        studio.jobContacts.filter((jc) =>
          (contactId === null || jc.contactId === contactId) && (jobId === null || jc.jobId === jobId)
        ),
        query,
      );
    }
    if (path === "/note" && method === "GET") {
      const jobId = query.get("jobId");
      return collection(
        "note-collection",
        studio.notes.filter((n) => jobId === null || n.jobId === jobId),
        query,
      );
    }
    if (path === "/note" && method === "POST") return this.#createNote(studio, req.body);
    if (one) {
      const store = one[1] === "address-book" ? studio.contacts : one[1] === "job" ? studio.jobs : null;
      const record = store?.get(decodeURIComponent(one[2]));
      if (!store || !record) return notFound();
      if (method === "GET") return { status: 200, body: record };
      if (method === "PUT") return this.#update(store, record, req.body, one[1] === "job");
    }
    return notFound();
  }

  #createContact(studio: Studio, body: unknown): ProviderResponse {
    if (!isRecord(body) || !["person", "company", "location"].includes(String(body.kind))) {
      return validation({ kind: "must be one of person, company, location" });
    }
    if (body.email !== undefined && body.email !== null && !EMAIL.test(String(body.email))) {
      return validation({ email: "must be an email address" });
    }
    const now = new Date(this.#state.now()).toISOString();
    const contact: Rec = { ...body, id: ulid(), created: now, modified: now };
    studio.contacts.set(contact.id, contact);
    return { status: 201, body: contact };
  }

  #update(store: Map<string, Rec>, record: Rec, body: unknown, isJob: boolean): ProviderResponse {
    if (!isRecord(body)) return validation({ body: "must be an object" });
    if (isJob && body.stage !== undefined && !STAGES.has(String(body.stage))) {
      return validation({ stage: "must be one of lead, booked, fulfillment, completed" });
    }
    if (!isJob && body.email !== undefined && body.email !== null && !EMAIL.test(String(body.email))) {
      return validation({ email: "must be an email address" });
    }
    for (const date of ["eventDate", "bookingDate"]) {
      const v = body[date];
      if (v !== undefined && v !== null && !/^\d{4}-\d{2}-\d{2}$/.test(String(v))) {
        return validation({ [date]: "must be a date YYYY-MM-DD" });
      }
    }
    // PUT replaces the writable fields; the server keeps the read-only ones.
    const updated: Rec = {
      ...body,
      id: record.id,
      created: record.created,
      modified: new Date(this.#state.now()).toISOString(),
    };
    if (isJob) updated.jobTypeName = record.jobTypeName;
    store.set(record.id, updated);
    return { status: 200, body: updated };
  }

  #createNote(studio: Studio, body: unknown): ProviderResponse {
    if (!isRecord(body) || typeof body.contentHtml !== "string" || body.contentHtml === "") {
      return validation({ contentHtml: "is required" });
    }
    if (typeof body.jobId === "string" && !studio.jobs.has(body.jobId)) {
      return validation({ jobId: "no such job" });
    }
    const note: Rec = { ...body, id: ulid(), created: new Date(this.#state.now()).toISOString() };
    studio.notes.push(note);
    return { status: 201, body: note };
  }

  faultResponse(rule: FaultRule): ProviderResponse {
    const headers: Record<string, string> = {};
    if (rule.status === 429 || rule.retry_after_s !== null) {
      headers["retry-after"] = String(rule.retry_after_s ?? 1);
    }
    const type = rule.status === 429 ? "quota-limit" : rule.status === 400 ? "validation-error" : "unknown";
    return problem(rule.status, rule.name ?? type, rule.message ?? "Simulated failure", undefined, headers);
  }

  /** `{provider: "tave", studio_id, secret_key, api_key, rate_limit_per_s?}` registers (or updates) a studio. */
  configure(input: Record<string, unknown>): void {
    const studioId = optionalString(input, "studio_id");
    const secretKey = optionalString(input, "secret_key");
    const apiKey = optionalString(input, "api_key");
    if (!studioId || !secretKey || !apiKey) {
      throw new ControlError("`studio_id`, `secret_key` and `api_key` are required");
    }
    const rate = optionalNumber(input, "rate_limit_per_s", 10_000);
    const existing = this.#studios.get(studioId);
    const studio: Studio = existing ?? {
      studioId,
      secretKey,
      apiKey,
      rateLimit: null,
      window: { start: 0, count: 0 },
      contacts: new Map(),
      jobs: new Map(),
      jobContacts: [],
      notes: [],
      leads: [],
    };
    studio.secretKey = secretKey;
    if (existing) this.#byKey.delete(existing.apiKey);
    studio.apiKey = apiKey;
    if (rate !== undefined) studio.rateLimit = rate > 0 ? rate : null;
    this.#studios.set(studioId, studio);
    this.#byKey.set(apiKey, studio);
  }

  describeConfig(): Record<string, unknown> {
    return {
      studios: [...this.#studios.values()].map((s) => ({
        studio_id: s.studioId,
        rate_limit_per_s: s.rateLimit,
      })),
    };
  }

  /**
   * `GET /_sim/tave/studios/{id}`: the studio's contacts, jobs, job contacts, notes and the lead requests
   * received (fields as sent, without the secret key). `POST /_sim/tave/studios/{id}/contacts` adds a
   * person with a job, as if entered in Tave (`{"email", "firstName", "stage"?}`).
   */
  control(
    method: string,
    path: string,
    _query: URLSearchParams,
    body: unknown,
  ): Promise<ProviderResponse | undefined> {
    const m = /^\/studios\/([^/]+)(\/contacts)?$/.exec(path);
    const studio = m ? this.#studios.get(decodeURIComponent(m[1])) : undefined;
    if (!m) return Promise.resolve(undefined);
    if (!studio) return Promise.resolve({ status: 404, body: { error: "no such studio" } });
    if (!m[2] && method === "GET") {
      return Promise.resolve({
        status: 200,
        body: {
          contacts: [...studio.contacts.values()],
          jobs: [...studio.jobs.values()],
          job_contacts: studio.jobContacts,
          notes: studio.notes,
          leads: studio.leads,
        },
      });
    }
    if (m[2] && method === "POST") {
      const input = isRecord(body) ? body : {};
      const created = this.#createContact(studio, {
        kind: "person",
        email: input.email,
        firstName: input.firstName,
      });
      if (created.status !== 201) throw new ControlError("`email` must be an email address");
      const contact = created.body as Rec;
      const now = new Date(this.#state.now()).toISOString();
      const job: Rec = {
        id: ulid(),
        created: now,
        modified: now,
        stage: input.stage ?? "lead",
        eventDate: null,
      };
      studio.jobs.set(job.id, job);
      studio.jobContacts.push({ id: ulid(), jobId: job.id, contactId: contact.id, client: true });
      return Promise.resolve({ status: 201, body: { contact_id: contact.id, job_id: job.id } });
    }
    return Promise.resolve(undefined);
  }

  stats(): Record<string, number> {
    return { leads_created: this.#leadsCreated, rate_limited: this.#rateLimited };
  }

  reset(): void {
    this.#studios.clear();
    this.#byKey.clear();
    this.#leadsCreated = 0;
    this.#rateLimited = 0;
  }
}

/** Creates the simulated Tave, served under `/tave` (New Lead host `<sim>/tave`, API v2 `<sim>/tave/api/v2`). */
export function createTaveProvider(state: SimState): Provider {
  return new TaveSimulator(state);
}
